import { hostname } from 'node:os'
import { sql } from 'kysely'
import { z } from 'zod'
import { defineModule } from '../define-module.ts'
import { listenForScrapes, type MetricsListener } from './metrics-listener.ts'
import { migrations } from './migrations/index.ts'
import { observeRequest } from './observe-request.ts'
import { observabilityOpenApi } from './openapi.ts'
import { pruneRequestLogs } from './request-log.ts'
import { createRequestLogBuffer, type RequestLogBuffer } from './request-log-buffer.ts'
import { observabilityRoutes, scrapeRoutes } from './routes.ts'
import { createServerMetrics } from './server-metrics.ts'

/** Storage totals are a GROUP BY over every object: once a minute, never per scrape. */
const STORAGE_REFRESH_MS = 60_000

/**
 * Observability: this node's metrics in Prometheus text (GET /metrics with a `metrics` key, or without
 * credentials on BASTIDE_METRICS_PORT), every API request in a request log shared by all nodes
 * (GET /api/admin/logs), and the console's summary (GET /api/admin/metrics). See docs/observability.md.
 */
export const metricsModule = defineModule({
  id: 'metrics',
  config: z.object({
    /** A port serving GET /metrics without credentials (for Prometheus); unset: only /metrics with a key. */
    BASTIDE_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
    /** Where that port listens: loopback unless the operator opens it (0.0.0.0 in a container). */
    BASTIDE_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    /** Hours of request log kept (pruned every 10 minutes); 0 turns request logging off. */
    BASTIDE_REQUEST_LOG_RETENTION_HOURS: z.coerce.number().int().min(0).max(8760).default(24),
    /** Request log rows each node writes per second at most; past it they are dropped (and counted). */
    BASTIDE_REQUEST_LOG_MAX_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(500),
  }),
  migrations,
  async start({ db, database, config, settings, log, authenticate, use, httpServer }) {
    const realtime = use('realtime')
    const retentionHours = settings.BASTIDE_REQUEST_LOG_RETENTION_HOURS
    let buffer: RequestLogBuffer | undefined
    const metrics = createServerMetrics({
      pool: database.pool,
      poolMax: config.dbPoolMax,
      ...(realtime ? { realtime: () => realtime.stats() } : {}),
      bufferedLogRows: () => buffer?.size() ?? 0,
    })
    if (retentionHours > 0)
      buffer = createRequestLogBuffer({ db, log, node: hostname(), onDropped: metrics.logDropped })
    // `at` is stamped in the writing transaction: the lag includes the commit and, from other nodes, Redis.
    const offFeed = realtime?.feed.onChange((e) => metrics.fanoutLag((Date.now() - Date.parse(e.at)) / 1000))
    const refreshStorage = async () => {
      const { rows } = await sql<{ bucket: string; bytes: number; objects: number }>`
        SELECT b.name AS bucket, coalesce(sum(o.size), 0)::float8 AS bytes, count(o.id)::int AS objects
        FROM bastide.buckets b LEFT JOIN bastide.objects o ON o.bucket_id = b.id GROUP BY b.name`.execute(db)
      metrics.storage(rows)
    }
    await refreshStorage().catch((err) => log.warn({ err: (err as Error).message }, 'storage totals'))
    let listener: MetricsListener | undefined
    const port = settings.BASTIDE_METRICS_PORT
    // Only beside a listening server: an in-process start (`bastide admin create`, tests driving app.request)
    // is not a node to scrape, and the running server next to it already holds the port (EADDRINUSE).
    if (port !== undefined && httpServer) {
      listener = await listenForScrapes({
        registry: metrics.registry,
        port,
        host: settings.BASTIDE_METRICS_HOST,
      })
      log.info({ port: listener.port, host: settings.BASTIDE_METRICS_HOST }, 'metrics served at /metrics')
    }
    return {
      observe: observeRequest(metrics, {
        logBuffer: buffer,
        maxPerSecond: settings.BASTIDE_REQUEST_LOG_MAX_PER_SECOND,
      }),
      routes: [
        { path: '/metrics', app: scrapeRoutes({ metrics, authenticate }) },
        { path: '/api/admin', app: observabilityRoutes({ db, metrics, retentionHours }) },
      ],
      openapi: observabilityOpenApi,
      jobs: [
        { name: 'refresh-storage-totals', everyMs: STORAGE_REFRESH_MS, run: refreshStorage },
        ...(buffer
          ? [
              { name: 'flush-request-log', everyMs: 1000, run: buffer.flush },
              {
                name: 'prune-request-log',
                firstAfterMs: 60_000,
                everyMs: 600_000,
                run: async () => {
                  const n = await pruneRequestLogs(db, retentionHours)
                  if (n) log.debug({ deleted: n, retentionHours }, 'old request log rows deleted')
                },
              },
            ]
          : []),
      ],
      close: async () => {
        offFeed?.()
        await listener?.close()
        await buffer?.close()
      },
    }
  },
})
