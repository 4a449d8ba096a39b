import type { RequestLogFilters, RequestLogPage } from '@bastide/protocol'
import type { Http } from '../../http.ts'

/** Every node's recent API requests (GET /api/admin/logs): console admins and keys with the `metrics` scope. */
export class AdminLogs {
  constructor(private readonly http: Http) {}

  /**
   * One page of recent requests, newest first; pass `nextCursor` back as `cursor` for the next (older) page.
   * Filters combine: time range, status class (`5xx`) or exact status, method, path prefix, principal,
   * minimum duration, request id. A bad filter rejects with a `BAD_REQUEST` BastideError.
   *
   * @example
   * const { items, nextCursor } = await client.admin.logs.list({ status: '5xx', since: '2026-01-01T00:00:00Z' })
   * const slow = await client.admin.logs.list({ path: '/api/collections/posts', minDurationMs: 500 })
   */
  async list(filters: RequestLogFilters & { readonly signal?: AbortSignal } = {}): Promise<RequestLogPage> {
    const { signal, ...query } = filters
    return this.http.request('/api/admin/logs', { query: { ...query }, signal })
  }
}
