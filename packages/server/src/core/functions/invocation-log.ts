import type {
  FunctionLogLine,
  Invocation,
  InvocationPage,
  InvocationStatus,
  TriggerKind,
} from '@bastide/protocol'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'

/** One invocation as recorded (`Invocation` with a Date). */
export interface InvocationRow {
  readonly id: string
  readonly function: string
  readonly version: number
  readonly trigger: TriggerKind
  readonly status: InvocationStatus
  readonly httpStatus: number | null
  readonly startedAt: Date
  readonly durationMs: number
  readonly jobId: string | null
  readonly attempt: number | null
  readonly error: string | null
  readonly logs: readonly FunctionLogLine[]
}

/**
 * Invocation rows written in batches off the hot path (as the request log is): `push` appends to an array,
 * one flush at a time writes everything waiting in one statement. Bounded: past `maxRows` rows, or `maxBytes`
 * (32 MiB: a row's logs may be 200 lines of 2 KiB), rows are dropped and counted, and a failed flush drops its
 * batch rather than retrying forever.
 */
export function createInvocationLog(o: {
  db: Db
  log: Logger
  flushRows?: number
  maxRows?: number
  maxBytes?: number
}) {
  const flushRows = o.flushRows ?? 200
  const maxRows = o.maxRows ?? 5_000
  const maxBytes = o.maxBytes ?? 32 * 1024 * 1024
  let rows: InvocationRow[] = []
  /** Bytes of the rows waiting (their logs and error, roughly as written), and of the batch being written. */
  let bytes = 0
  let flushingBytes = 0
  let flushing: Promise<void> | undefined
  let closed = false
  let dropped = 0

  async function write(batch: InvocationRow[]): Promise<void> {
    const col = <T>(f: (r: InvocationRow) => T) => batch.map(f)
    await sql`INSERT INTO bastide.function_invocations
        (id, function, version, trigger, status, http_status, started_at, duration_ms, job_id, attempt, error, logs)
      SELECT * FROM unnest(
        ${col((r) => r.id)}::uuid[], ${col((r) => r.function)}::text[], ${col((r) => r.version)}::int[],
        ${col((r) => r.trigger)}::text[], ${col((r) => r.status)}::text[], ${col((r) => r.httpStatus)}::smallint[],
        ${col((r) => r.startedAt.toISOString())}::timestamptz[], ${col((r) => r.durationMs)}::real[],
        ${col((r) => r.jobId)}::text[], ${col((r) => r.attempt)}::int[], ${col((r) => r.error)}::text[],
        ${col((r) => JSON.stringify(r.logs))}::jsonb[])
      ON CONFLICT (id) DO NOTHING`.execute(o.db)
  }

  function flush(): Promise<void> {
    if (flushing) return flushing
    if (rows.length === 0) return Promise.resolve()
    const batch = rows
    rows = []
    flushingBytes = bytes
    bytes = 0
    flushing = write(batch)
      .catch((err) => {
        dropped += batch.length
        o.log.warn({ err: (err as Error).message, rows: batch.length }, 'invocation log: a batch was dropped')
      })
      .finally(() => {
        flushing = undefined
        flushingBytes = 0
      })
    return flushing
  }

  return {
    push(row: InvocationRow): void {
      const size = sizeOf(row)
      if (closed || rows.length >= maxRows || bytes + flushingBytes + size > maxBytes) {
        dropped++
        return
      }
      rows.push(row)
      bytes += size
      if (rows.length >= flushRows) void flush()
    },
    /** Rows dropped so far (full buffer, failed flush). */
    dropped: () => dropped,
    /** Writes what waits now (after a flush under way). */
    async flush(): Promise<void> {
      await flushing
      await flush()
    },
    async close(): Promise<void> {
      closed = true
      await flushing
      await flush()
    },
  }
}

export type InvocationLog = ReturnType<typeof createInvocationLog>

/** A row's weight in memory, roughly: its text (logs, error) counted as UTF-16, plus its fixed fields. */
function sizeOf(row: InvocationRow): number {
  let n = 256 + 2 * (row.error?.length ?? 0)
  for (const l of row.logs) n += 64 + 2 * l.message.length
  return n
}

export function encodeInvocationCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url')
}

export function decodeInvocationCursor(s: string): { at: string; id: string } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([0-9a-f-]{36})$/.exec(
    Buffer.from(s, 'base64url').toString(),
  )
  return m ? { at: m[1]!, id: m[2]! } : undefined
}

/** One function's invocations, newest first. */
export async function listInvocations(
  db: Db,
  q: {
    readonly function: string
    readonly status?: InvocationStatus
    readonly trigger?: TriggerKind
    readonly cursor?: { at: string; id: string }
    readonly limit: number
  },
): Promise<InvocationPage> {
  const { rows } = await sql<{
    id: string
    function: string
    version: number
    trigger: TriggerKind
    status: InvocationStatus
    http_status: number | null
    started_at: string
    duration_ms: number
    job_id: string | null
    attempt: number | null
    error: string | null
    logs: FunctionLogLine[]
  }>`SELECT id, function, version, trigger, status, http_status, started_at, duration_ms, job_id, attempt, error, logs
    FROM bastide.function_invocations
    WHERE function = ${q.function}
      ${q.status ? sql`AND status = ${q.status}` : sql``}
      ${q.trigger ? sql`AND trigger = ${q.trigger}` : sql``}
      ${q.cursor ? sql`AND (started_at, id) < (${q.cursor.at}::timestamptz, ${q.cursor.id}::uuid)` : sql``}
    ORDER BY started_at DESC, id DESC LIMIT ${q.limit + 1}`.execute(db)
  const more = rows.length > q.limit
  const items: Invocation[] = rows.slice(0, q.limit).map((r) => ({
    id: r.id,
    function: r.function,
    version: r.version,
    trigger: r.trigger,
    status: r.status,
    httpStatus: r.http_status,
    startedAt: new Date(r.started_at).toISOString(),
    durationMs: Number(r.duration_ms),
    jobId: r.job_id,
    attempt: r.attempt,
    error: r.error,
    logs: r.logs,
  }))
  const last = items[items.length - 1]
  return { items, nextCursor: more && last ? encodeInvocationCursor(last.startedAt, last.id) : null }
}

/** Deletes invocations older than `hours`, in batches; returns how many. */
export async function pruneInvocations(db: Db, hours: number): Promise<number> {
  let total = 0
  for (;;) {
    const r = await sql`DELETE FROM bastide.function_invocations WHERE id = ANY(ARRAY(
        SELECT id FROM bastide.function_invocations
        WHERE started_at < now() - make_interval(hours => ${hours}) LIMIT 10000))`.execute(db)
    const n = Number(r.numAffectedRows ?? 0)
    total += n
    if (n < 10_000) return total
  }
}
