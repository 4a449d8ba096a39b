/** Who made a logged request. */
export type PrincipalKind = 'anonymous' | 'user' | 'key' | 'admin'

/** One API request, as GET /api/admin/logs returns it. The query string is never logged. */
export interface RequestLogEntry {
  /** Opaque, unique; rows of one node are numbered in the order they were written. */
  readonly id: string
  /** When the request arrived (ISO 8601). */
  readonly at: string
  /** The node (host name) that answered. */
  readonly node: string
  readonly method: string
  /** The matched route pattern (`/api/collections/:collection/records/:id`). */
  readonly route: string
  /** The path without its query string; path segments that carry a secret read `:redacted`. */
  readonly path: string
  readonly status: number
  readonly durationMs: number
  /** Response size when known (absent for streamed and compressed bodies). */
  readonly bytesOut: number | null
  readonly principalKind: PrincipalKind
  /** `user:<id>`, `key:<id>`, `admin:<id>` or `admin`; null for anonymous callers. */
  readonly principalId: string | null
  readonly clientIp: string | null
  /** The X-Request-Id of the response. */
  readonly requestId: string
  readonly userAgent: string | null
}

export interface RequestLogPage {
  readonly items: readonly RequestLogEntry[]
  /** Pass as `cursor` for the next (older) page; null when this page is the last. */
  readonly nextCursor: string | null
}

/** GET /api/admin/logs's filters; every one optional. */
export interface RequestLogFilters {
  /** At or after this time (ISO 8601). */
  readonly since?: string
  /** Before this time (ISO 8601). */
  readonly until?: string
  /** A class (`2xx`, `4xx`, `5xx`) or an exact status (`404`). */
  readonly status?: string
  readonly method?: string
  /** Paths starting with this (`/api/collections/posts`). */
  readonly path?: string
  /** A principal id as logged (`user:<id>`, `key:<id>`). */
  readonly principal?: string
  /** Requests that took at least this long. */
  readonly minDurationMs?: number
  readonly requestId?: string
  readonly cursor?: string
  /** 1 to 200 (default 50). */
  readonly perPage?: number
}

/** One minute of every node's requests (from the request log). */
export interface MinuteStats {
  /** The minute's start (ISO 8601). */
  readonly minute: string
  readonly requests: number
  readonly clientErrors: number
  readonly serverErrors: number
  /** serverErrors / requests. */
  readonly errorRate: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
}

/** A route's share of the last hour, by total time spent answering it. */
export interface RouteStats {
  readonly method: string
  readonly route: string
  readonly requests: number
  readonly totalMs: number
  readonly p95Ms: number
  readonly serverErrors: number
}

/** GET /api/admin/metrics: this node's current values and the last hour of every node's requests. */
export interface MetricsSummary {
  readonly node: {
    readonly name: string
    readonly uptimeSeconds: number
    readonly residentMemoryBytes: number
    readonly realtimeConnections: number
    readonly dbPool: {
      readonly total: number
      readonly idle: number
      readonly waiting: number
      readonly max: number
    }
    readonly storage: { readonly bytes: number; readonly objects: number }
    /** Since this node started. */
    readonly authFailures: number
    readonly rateLimited: number
    readonly requestLogDropped: number
  }
  /** Hours the request log keeps; 0: request logging is off (series and top routes are empty). */
  readonly retentionHours: number
  /** Per minute, oldest first, minutes without requests included (zeros). */
  readonly series: readonly MinuteStats[]
  /** At most 10. */
  readonly topRoutes: readonly RouteStats[]
}
