import type { RequestLogEntry, RequestLogPage } from '@bastide/protocol'
import { type RawBuilder, sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'

export interface RequestLogQuery {
  /** Inclusive lower bound on `at`. */
  readonly since?: Date
  /** Exclusive upper bound on `at`. */
  readonly until?: Date
  /** A class (`4`: 400–499) or an exact status. */
  readonly statusClass?: number
  readonly status?: number
  readonly method?: string
  /** Paths starting with this. */
  readonly pathPrefix?: string
  /** `principalId` as logged: `user:<id>`, `key:<id>`, `admin:<id>`, `admin`. */
  readonly principal?: string
  readonly minDurationMs?: number
  readonly requestId?: string
  /** The `nextCursor` of the previous page (decoded: rows before this one, newest first). */
  readonly cursor?: { readonly at: string; readonly id: string }
  readonly limit: number
}

/** `nextCursor`: the last row's time and id, opaque to clients. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url')
}

/** The cursor's parts, or undefined when it is not one this server made. */
export function decodeCursor(s: string): { at: string; id: string } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|(\d{1,18})$/.exec(
    Buffer.from(s, 'base64url').toString(),
  )
  return m ? { at: m[1]!, id: m[2]! } : undefined
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`)

/** Newest first (every node's rows, by time), filtered; `limit + 1` rows read to know whether more follow. */
export async function listRequestLogs(db: Db, q: RequestLogQuery): Promise<RequestLogPage> {
  const conds: RawBuilder<unknown>[] = []
  if (q.since) conds.push(sql`at >= ${q.since.toISOString()}::timestamptz`)
  if (q.until) conds.push(sql`at < ${q.until.toISOString()}::timestamptz`)
  if (q.status !== undefined) conds.push(sql`status = ${q.status}`)
  if (q.statusClass !== undefined)
    conds.push(sql`status >= ${q.statusClass * 100} AND status < ${q.statusClass * 100 + 100}`)
  if (q.method !== undefined) conds.push(sql`method = ${q.method}`)
  if (q.pathPrefix !== undefined) conds.push(sql`path LIKE ${`${escapeLike(q.pathPrefix)}%`}`)
  if (q.principal !== undefined) conds.push(sql`principal_id = ${q.principal}`)
  if (q.minDurationMs !== undefined) conds.push(sql`duration_ms >= ${q.minDurationMs}`)
  if (q.requestId !== undefined) conds.push(sql`request_id = ${q.requestId}`)
  if (q.cursor) conds.push(sql`(at, id) < (${q.cursor.at}::timestamptz, ${q.cursor.id}::bigint)`)
  const where = conds.length ? sql`WHERE ${sql.join(conds, sql` AND `)}` : sql``
  const { rows } = await sql<RequestLogEntry>`
    SELECT id::text AS id, at, node, method, route, path, status, duration_ms AS "durationMs",
      bytes_out AS "bytesOut", principal_kind AS "principalKind", principal_id AS "principalId",
      client_ip AS "clientIp", request_id AS "requestId", user_agent AS "userAgent"
    FROM bastide.request_log l ${where}
    -- l.id, not id: the text column of the select list would sort '9' after '10'.
    ORDER BY l.at DESC, l.id DESC LIMIT ${q.limit + 1}`.execute(db)
  const more = rows.length > q.limit
  const items = more ? rows.slice(0, q.limit) : rows
  const last = items[items.length - 1]
  return { items, nextCursor: more && last ? encodeCursor(last.at, last.id) : null }
}

/** Deletes rows older than `hours`, in batches (each inside the statement timeout); returns how many. */
export async function pruneRequestLogs(db: Db, hours: number): Promise<number> {
  let total = 0
  for (;;) {
    const r = await sql`
      DELETE FROM bastide.request_log WHERE id = ANY(ARRAY(
        SELECT id FROM bastide.request_log WHERE at < now() - make_interval(hours => ${hours}) LIMIT 10000))`.execute(
      db,
    )
    const n = Number(r.numAffectedRows ?? 0)
    total += n
    if (n < 10_000) return total
  }
}
