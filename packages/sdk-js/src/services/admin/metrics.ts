import type { MetricsSummary } from '@bastide/protocol'
import type { Http } from '../../http.ts'

/** The console's view of the server's health (GET /api/admin/metrics); Prometheus reads /metrics instead. */
export class AdminMetrics {
  constructor(private readonly http: Http) {}

  /**
   * The answering node's current values (realtime connections, database pool, storage, refused sign-ins,
   * rate-limited requests) and the last hour of every node's requests per minute (requests, errors,
   * p50/p95/p99 latency), with the routes that took the most time.
   *
   * @example
   * const { node, series, topRoutes } = await client.admin.metrics.summary()
   * const lastMinute = series.at(-1) // { requests, serverErrors, p95Ms, … }
   */
  async summary(opts: { readonly signal?: AbortSignal } = {}): Promise<MetricsSummary> {
    return this.http.request('/api/admin/metrics', { signal: opts.signal })
  }
}
