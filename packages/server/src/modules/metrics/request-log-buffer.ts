import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'

/** One answered request, as the buffer keeps it until the next flush. */
export interface RequestLogRow {
  readonly at: Date
  readonly method: string
  readonly route: string
  readonly path: string
  readonly status: number
  readonly durationMs: number
  /** The Content-Length sent; set once Node has written it (see observe-request.ts), null when none was. */
  bytesOut: number | null
  readonly principalKind: string
  readonly principalId: string | null
  readonly clientIp: string | null
  readonly requestId: string
  readonly userAgent: string | null
}

export interface RequestLogBufferOptions {
  readonly db: Db
  readonly log: Logger
  /** Written with every row: which node answered. */
  readonly node: string
  /** A flush starts as soon as this many rows wait (else at the module's `flush-request-log` job, every second). */
  readonly flushRows?: number
  /** Rows kept in memory at most (a database that stalls must not grow the heap): past it, rows are dropped. */
  readonly maxRows?: number
  readonly onDropped: (n: number) => void
}

/**
 * Request log rows written in batches: `push` only appends to an array (never awaits, never blocks a
 * request); one flush at a time inserts everything waiting in a single statement. Bounded: a full buffer
 * drops new rows and counts them, and a failed flush drops its batch rather than retrying forever.
 */
export function createRequestLogBuffer(o: RequestLogBufferOptions) {
  const flushRows = o.flushRows ?? 500
  const maxRows = o.maxRows ?? 20_000
  let rows: RequestLogRow[] = []
  let flushing: Promise<void> | undefined
  let closed = false

  async function write(batch: RequestLogRow[]): Promise<void> {
    const col = <T>(f: (r: RequestLogRow) => T) => batch.map(f)
    // One INSERT of parallel arrays: a batch is one round trip and one statement shape (prepared once).
    await sql`INSERT INTO bastide.request_log
        (at, node, method, route, path, status, duration_ms, bytes_out,
         principal_kind, principal_id, client_ip, request_id, user_agent)
      SELECT a, ${o.node}, m, r, p, s, d, b, pk, pi, ip, rid, ua FROM unnest(
        ${col((r) => r.at.toISOString())}::timestamptz[], ${col((r) => r.method)}::text[],
        ${col((r) => r.route)}::text[], ${col((r) => r.path)}::text[], ${col((r) => r.status)}::smallint[],
        ${col((r) => r.durationMs)}::real[], ${col((r) => r.bytesOut)}::bigint[],
        ${col((r) => r.principalKind)}::text[], ${col((r) => r.principalId)}::text[],
        ${col((r) => r.clientIp)}::text[], ${col((r) => r.requestId)}::text[], ${col((r) => r.userAgent)}::text[]
      ) AS t(a, m, r, p, s, d, b, pk, pi, ip, rid, ua)`.execute(o.db)
  }

  function flush(): Promise<void> {
    if (flushing) return flushing
    if (rows.length === 0) return Promise.resolve()
    const batch = rows
    rows = []
    flushing = write(batch)
      .catch((err) => {
        o.onDropped(batch.length)
        o.log.warn({ err: (err as Error).message, rows: batch.length }, 'request log: a batch was dropped')
      })
      .finally(() => {
        flushing = undefined
      })
    return flushing
  }

  return {
    push(row: RequestLogRow): void {
      if (closed || rows.length >= maxRows) {
        o.onDropped(1)
        return
      }
      rows.push(row)
      if (rows.length >= flushRows) void flush()
    },
    /** Rows waiting for the next flush. */
    size: () => rows.length,
    /** Writes what waits now (and waits for a flush under way first). */
    async flush(): Promise<void> {
      await flushing
      await flush()
    },
    /** Writes what is left and takes no more rows. */
    async close(): Promise<void> {
      closed = true
      await flushing
      await flush()
    },
  }
}

export type RequestLogBuffer = ReturnType<typeof createRequestLogBuffer>
