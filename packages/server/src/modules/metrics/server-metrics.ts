import type pg from 'pg'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { RealtimeStats } from '../../realtime/gateway.ts'
import { LatencyHistogram, type Series } from './latency-histogram.ts'

/** Seconds; prom-client's defaults, which cover a cached read (ms) to a slow upload (s). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Fan-out lag: a change normally reaches its node in milliseconds; seconds mean a backlog. */
const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

type Child = Series

export interface ServerMetricsDeps {
  readonly pool: pg.Pool
  readonly poolMax: number
  /** This node's realtime counts (undefined: realtime not served here). */
  readonly realtime?: () => RealtimeStats
  /** Request log rows waiting in memory. */
  readonly bufferedLogRows: () => number
}

export type ServerMetrics = ReturnType<typeof createServerMetrics>

/**
 * This node's metrics, in a registry of its own (several servers may share a process: tests, the CLI), in
 * Prometheus text at GET /metrics. Gauges that cost nothing to read (pool, sockets) are read at scrape time;
 * the storage totals are set by a periodic job, since counting objects is a query.
 */
export function createServerMetrics(deps: ServerMetricsDeps) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const http = new LatencyHistogram(
    'http_request_duration_seconds',
    'HTTP request duration until the response is ready, by method, route pattern and status class.',
    LATENCY_BUCKETS,
    registry,
  )
  const authFailures = new Counter({
    name: 'bastide_auth_failures_total',
    help: 'Refused sign-ins and second factors (4xx but 429), by surface: user (/api/auth) or admin (/api/admin/auth).',
    labelNames: ['surface'] as const,
    registers: [registry],
  })
  const rateLimited = new Counter({
    name: 'bastide_rate_limited_total',
    help: 'Requests refused with 429 by a rate limit, by route pattern.',
    labelNames: ['route'] as const,
    registers: [registry],
  })
  const pool = deps.pool
  new Gauge({
    name: 'bastide_db_pool_connections',
    help: 'PostgreSQL pool connections of this node, by state: total (open), idle, waiting (queued clients), max.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount)
      this.set({ state: 'idle' }, pool.idleCount)
      this.set({ state: 'waiting' }, pool.waitingCount)
      this.set({ state: 'max' }, deps.poolMax)
    },
  })
  // Read at scrape time (a walk over this node's connections and rooms): nothing to keep up to date per event.
  const realtime = (pick: (s: RealtimeStats) => number) =>
    function (this: Gauge) {
      this.set(deps.realtime ? pick(deps.realtime()) : 0)
    }
  new Gauge({
    name: 'bastide_realtime_connections',
    help: 'Open realtime (socket.io) connections on this node.',
    registers: [registry],
    collect: realtime((s) => s.connections),
  })
  new Gauge({
    name: 'bastide_realtime_subscriptions',
    help: 'Record subscriptions held by the realtime connections of this node.',
    registers: [registry],
    collect: realtime((s) => s.subscriptions),
  })
  new Gauge({
    name: 'bastide_realtime_channels',
    help: 'Realtime channels with at least one member connected to this node.',
    registers: [registry],
    collect: realtime((s) => s.channels),
  })
  new Gauge({
    name: 'bastide_realtime_channel_members',
    help: 'Channel memberships of the realtime connections of this node (one per connection and channel).',
    registers: [registry],
    collect: realtime((s) => s.channelMembers),
  })
  const fanoutLag = new Histogram({
    name: 'bastide_realtime_fanout_lag_seconds',
    help: 'Time from a record write to its change reaching this node’s realtime dispatch (local bus or Redis).',
    buckets: LAG_BUCKETS,
    registers: [registry],
  })
  const storageBytes = new Gauge({
    name: 'bastide_storage_bytes',
    help: 'Bytes stored, by bucket (all nodes: read from the objects table, refreshed every minute).',
    labelNames: ['bucket'] as const,
    registers: [registry],
  })
  const storageObjects = new Gauge({
    name: 'bastide_storage_objects',
    help: 'Objects stored, by bucket (all nodes: read from the objects table, refreshed every minute).',
    labelNames: ['bucket'] as const,
    registers: [registry],
  })
  const logDropped = new Counter({
    name: 'bastide_request_log_dropped_total',
    help: 'Request log rows dropped: over BASTIDE_REQUEST_LOG_MAX_PER_SECOND, buffer full or a flush failed.',
    registers: [registry],
  })
  const logSkipped = new Counter({
    name: 'bastide_request_log_skipped_total',
    help: 'Requests kept out of the request log on purpose (anonymous 404s and 429s), by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  new Gauge({
    name: 'bastide_request_log_buffered',
    help: 'Request log rows waiting in memory for the next flush.',
    registers: [registry],
    collect() {
      this.set(deps.bufferedLogRows())
    },
  })

  // Children cached by route, then method, then status class: after warm-up a request allocates nothing here.
  const children = new Map<string, Map<string, (Child | undefined)[]>>()
  const child = (method: string, route: string, cls: number): Child => {
    let byMethod = children.get(route)
    if (!byMethod) children.set(route, (byMethod = new Map()))
    let byClass = byMethod.get(method)
    if (!byClass) byMethod.set(method, (byClass = []))
    return (byClass[cls] ??= http.series({ method, route, status_class: STATUS_CLASSES[cls] ?? '5xx' }))
  }

  return {
    registry,
    /** One answered request. `route` is the matched pattern (bounded), never the raw path. */
    request(method: string, route: string, status: number, ms: number): void {
      const cls = Math.min(Math.max(Math.floor(status / 100) - 1, 0), 4)
      child(method, route, cls).observe(ms / 1000)
      if (status === 429) rateLimited.inc({ route })
    },
    authFailure(surface: 'user' | 'admin'): void {
      authFailures.inc({ surface })
    },
    fanoutLag(seconds: number): void {
      fanoutLag.observe(Math.max(0, seconds))
    },
    storage(rows: readonly { bucket: string; bytes: number; objects: number }[]): void {
      storageBytes.reset()
      storageObjects.reset()
      for (const r of rows) {
        storageBytes.set({ bucket: r.bucket }, r.bytes)
        storageObjects.set({ bucket: r.bucket }, r.objects)
      }
    },
    logDropped(n: number): void {
      logDropped.inc(n)
    },
    logSkipped(reason: 'anonymous_not_found' | 'anonymous_rate_limited'): void {
      logSkipped.inc({ reason })
    },
    /** Current values for the console's summary (GET /api/admin/metrics). */
    async snapshot() {
      const value = async (name: string) => {
        const m = registry.getSingleMetric(name)
        return m ? (await m.get()).values : []
      }
      const sum = (vs: { value: number }[]) => vs.reduce((a, v) => a + v.value, 0)
      const poolValues = await value('bastide_db_pool_connections')
      const byState = (s: string) => poolValues.find((v) => v.labels.state === s)?.value ?? 0
      return {
        realtimeConnections: sum(await value('bastide_realtime_connections')),
        dbPool: {
          total: byState('total'),
          idle: byState('idle'),
          waiting: byState('waiting'),
          max: byState('max'),
        },
        storage: {
          bytes: sum(await value('bastide_storage_bytes')),
          objects: sum(await value('bastide_storage_objects')),
        },
        authFailures: sum(await value('bastide_auth_failures_total')),
        rateLimited: sum(await value('bastide_rate_limited_total')),
        requestLogDropped: sum(await value('bastide_request_log_dropped_total')),
        residentMemoryBytes: sum(await value('process_resident_memory_bytes')),
        uptimeSeconds: Math.round(process.uptime()),
      }
    },
  }
}
