import { type RawBuilder, sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import type { AdminAction } from '../../events/admin-actions.ts'

export interface AuditEntry {
  readonly seq: number
  readonly at: string
  readonly actor: string
  readonly action: string
  readonly target: string | null
  readonly details: Record<string, unknown> | null
  readonly diff: { before?: unknown; after?: unknown } | null
}

export interface AuditQuery {
  readonly actor?: string
  /** Exact, or a prefix ending in `.*` (`user.*`). */
  readonly action?: string
  readonly target?: string
  /** Inclusive lower bound on `at`. */
  readonly since?: Date
  /** Exclusive upper bound on `at`. */
  readonly until?: Date
  /** Entries older than this one (its `seq`): the next page of a previous answer. */
  readonly cursor?: string
  /** Offset paging (older clients); `cursor` is the way to walk a log that grows meanwhile. */
  readonly offset?: number
  readonly limit: number
}

export interface AuditPage {
  readonly items: readonly AuditEntry[]
  /** Pass as `cursor` for the next (older) page; null when this page is the last. */
  readonly nextCursor: string | null
}

/** Appends one entry with `db` (the transaction of the action it records). */
export async function writeAuditEntry(db: Db | Transaction<any>, a: AdminAction): Promise<void> {
  await sql`INSERT INTO bastide.audit_log (actor, action, target, details, diff)
    VALUES (${a.actor}, ${a.action}, ${a.target}, ${json(a.details)}::jsonb, ${json(a.diff)}::jsonb)`.execute(
    db,
  )
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v))

/** Newest first, filtered; `limit + 1` rows read to know whether another page follows. */
export async function listAuditEntries(db: Db, q: AuditQuery): Promise<AuditPage> {
  const conds: RawBuilder<unknown>[] = []
  if (q.actor !== undefined) conds.push(sql`actor = ${q.actor}`)
  if (q.action !== undefined) {
    if (q.action.endsWith('.*')) conds.push(sql`action LIKE ${`${escapeLike(q.action.slice(0, -1))}%`}`)
    else conds.push(sql`action = ${q.action}`)
  }
  if (q.target !== undefined) conds.push(sql`target = ${q.target}`)
  if (q.since) conds.push(sql`at >= ${q.since.toISOString()}::timestamptz`)
  if (q.until) conds.push(sql`at < ${q.until.toISOString()}::timestamptz`)
  if (q.cursor !== undefined) conds.push(sql`seq < ${q.cursor}::bigint`)
  const where = conds.length ? sql`WHERE ${sql.join(conds, sql` AND `)}` : sql``
  const { rows } = await sql<AuditEntry>`
    SELECT seq, at, actor, action, target, details, diff FROM bastide.audit_log ${where}
    ORDER BY seq DESC LIMIT ${q.limit + 1} OFFSET ${q.offset ?? 0}`.execute(db)
  const more = rows.length > q.limit
  const items = more ? rows.slice(0, q.limit) : rows
  return { items, nextCursor: more ? String(items[items.length - 1]!.seq) : null }
}

/** Deletes entries older than `days`, in batches (each inside the statement timeout); returns how many. */
export async function purgeAuditEntries(db: Db, days: number): Promise<number> {
  let total = 0
  for (;;) {
    const r = await sql`
      DELETE FROM bastide.audit_log WHERE seq = ANY(ARRAY(
        SELECT seq FROM bastide.audit_log WHERE at < now() - make_interval(days => ${days}) LIMIT 5000))`.execute(
      db,
    )
    const n = Number(r.numAffectedRows ?? 0)
    total += n
    if (n < 5000) return total
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`)
}
