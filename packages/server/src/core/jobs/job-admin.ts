import type { JobInfo, JobPage, JobQueueStats, JobState } from '@bastide/protocol'
import { type RawBuilder, sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import { isUuid } from '../rules/values.ts'
import { type Envelope, unwrap } from './envelope.ts'
import type { ListJobsQuery } from './types.ts'

/** pg-boss's schema (its tables are read here directly: the version is pinned). */
export const JOBS_SCHEMA = 'pgboss'

interface JobRow {
  readonly id: string
  readonly name: string
  readonly state: JobState
  readonly data: unknown
  readonly retry_count: number
  readonly retry_limit: number
  // timestamptz: ISO strings on the server's connections (db/create-db.ts).
  readonly created_on: string | Date
  readonly started_on: string | Date | null
  readonly completed_on: string | Date | null
  readonly output: unknown
  readonly singleton_key: string | null
  /** created_on in UTC to the microsecond: the list's cursor. */
  readonly at: string
  readonly archived: boolean
}

const COLUMNS = sql`id, name, state::text AS state, data, retry_count, retry_limit, created_on, started_on,
  completed_on, output, singleton_key,
  to_char(created_on AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`
const jobTable = sql.raw(`${JOBS_SCHEMA}.job`)
const archiveTable = sql.raw(`${JOBS_SCHEMA}.archive`)
const queueTable = sql.raw(`${JOBS_SCHEMA}.queue`)

function toInfo(r: JobRow): JobInfo {
  const out = r.output as { message?: unknown } | null
  return {
    id: r.id,
    queue: r.name,
    state: r.state,
    data: unwrap(r.data).data,
    attempts: r.started_on ? r.retry_count + 1 : r.retry_count,
    retryLimit: r.retry_limit,
    createdAt: iso(r.created_on),
    startedAt: r.started_on ? iso(r.started_on) : null,
    completedAt: r.completed_on ? iso(r.completed_on) : null,
    error: r.state !== 'completed' && typeof out?.message === 'string' ? out.message : null,
    singletonKey: r.singleton_key,
  }
}

const iso = (t: string | Date) => new Date(t).toISOString()

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)\|([0-9a-f-]{36})$/

export function decodeJobCursor(cursor: string): { at: string; id: string } | undefined {
  const m = CURSOR.exec(Buffer.from(cursor, 'base64url').toString())
  return m && isUuid(m[2]!) ? { at: m[1]!, id: m[2]! } : undefined
}

const encodeCursor = (r: JobRow) => Buffer.from(`${r.at}|${r.id}`).toString('base64url')

/** Queues with their job counts by state (kept jobs; archived ones are not counted). */
export async function jobStats(db: Db): Promise<JobQueueStats[]> {
  const { rows } = await sql<JobQueueStats>`
    SELECT q.name, q.dead_letter AS "deadLetter",
      count(j.id) FILTER (WHERE j.state IN ('created', 'retry'))::int AS queued,
      count(j.id) FILTER (WHERE j.state = 'active')::int AS active,
      count(j.id) FILTER (WHERE j.state = 'failed')::int AS failed,
      count(j.id) FILTER (WHERE j.state = 'completed')::int AS completed
    FROM ${queueTable} q LEFT JOIN ${jobTable} j ON j.name = q.name
    GROUP BY q.name, q.dead_letter ORDER BY q.name`.execute(db)
  return rows
}

export async function queueExists(db: Db | Transaction<any>, queue: string): Promise<boolean> {
  const { rows } = await sql`SELECT 1 FROM ${queueTable} WHERE name = ${queue}`.execute(db)
  return rows.length > 0
}

/** A queue's jobs, newest first, archived ones included. */
export async function listJobs(db: Db, queue: string, q: ListJobsQuery = {}): Promise<JobPage> {
  const limit = Math.min(Math.max(q.limit ?? 50, 1), 200)
  const after = q.cursor ? decodeJobCursor(q.cursor) : undefined
  if (q.cursor && !after) throw errors.invalidCursor()
  const conds: RawBuilder<unknown>[] = [sql`name = ${queue}`]
  if (q.state) conds.push(sql`state = ${q.state}::${sql.raw(JOBS_SCHEMA)}.job_state`)
  if (after) conds.push(sql`(created_on, id) < (${after.at}::timestamptz, ${after.id}::uuid)`)
  const where = sql.join(conds, sql` AND `)
  const { rows } = await sql<JobRow>`
    SELECT * FROM (
      SELECT ${COLUMNS}, false AS archived FROM ${jobTable} WHERE ${where}
      UNION ALL
      SELECT ${COLUMNS}, true AS archived FROM ${archiveTable} WHERE ${where}
    ) j ORDER BY created_on DESC, id DESC LIMIT ${limit + 1}`.execute(db)
  const page = rows.slice(0, limit)
  return {
    items: page.map(toInfo),
    nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null,
  }
}

async function findRow(
  db: Db | Transaction<any>,
  queue: string,
  id: string,
  lock = false,
): Promise<JobRow | undefined> {
  if (!isUuid(id)) return undefined
  const forUpdate = lock ? sql`FOR UPDATE` : sql``
  const live = await sql<JobRow>`SELECT ${COLUMNS}, false AS archived FROM ${jobTable}
    WHERE name = ${queue} AND id = ${id}::uuid ${forUpdate}`.execute(db)
  if (live.rows[0]) return live.rows[0]
  const old = await sql<JobRow>`SELECT ${COLUMNS}, true AS archived FROM ${archiveTable}
    WHERE name = ${queue} AND id = ${id}::uuid ${forUpdate}`.execute(db)
  return old.rows[0]
}

export async function findJob(db: Db, queue: string, id: string): Promise<JobInfo | undefined> {
  const r = await findRow(db, queue, id)
  return r && toInfo(r)
}

export async function removeJob(db: Db, queue: string, id: string): Promise<boolean> {
  if (!isUuid(id)) return false
  const a = await sql`DELETE FROM ${jobTable} WHERE name = ${queue} AND id = ${id}::uuid`.execute(db)
  const b = await sql`DELETE FROM ${archiveTable} WHERE name = ${queue} AND id = ${id}::uuid`.execute(db)
  return Number(a.numAffectedRows ?? 0) + Number(b.numAffectedRows ?? 0) > 0
}

/** Inserts a job (and wakes the workers at commit); resolves with its id, or null when that id exists. */
export type InsertJob = (
  trx: Transaction<any>,
  queue: string,
  envelope: Envelope,
  id: string,
) => Promise<string | null>

/**
 * Sends a failed, cancelled or dead-lettered job back to the queue it was first sent to, as a fresh delivery
 * (attempts start again) under its original id, in one transaction: the job replayed, the original's failed
 * row and its dead-letter copies are removed, so one replay leaves one live job.
 */
export async function replayJob(db: Db, insert: InsertJob, queue: string, id: string): Promise<JobInfo> {
  return db.transaction().execute(async (trx) => {
    const row = await findRow(trx, queue, id, true)
    if (!row) throw errors.notFound('Job')
    const { data, origin } = unwrap(row.data)
    const deadCopy = origin !== undefined && origin.queue !== queue
    if (!deadCopy && row.state !== 'failed' && row.state !== 'cancelled')
      throw errors.conflict(
        `Only failed, cancelled or dead-lettered jobs can be replayed; this one is ${row.state}.`,
        { state: row.state },
      )
    const target = origin?.queue ?? queue
    const originId = origin?.id ?? row.id
    if (!(await queueExists(trx, target)))
      throw errors.conflict(`The queue ${target} this job came from no longer exists.`)
    await sql`DELETE FROM ${row.archived ? archiveTable : jobTable}
      WHERE name = ${queue} AND id = ${row.id}::uuid`.execute(trx)
    // The original, still failed in its queue, and its copies in the dead-letter queue: superseded.
    await sql`DELETE FROM ${jobTable} WHERE name = ${target} AND id = ${originId}::uuid
      AND state IN ('failed', 'cancelled')`.execute(trx)
    await sql`DELETE FROM ${jobTable} WHERE name = (SELECT dead_letter FROM ${queueTable} WHERE name = ${target})
      AND data->'origin'->>'id' = ${originId}`.execute(trx)
    const envelope: Envelope = { data, origin: { queue: target, id: originId } }
    // The original id unless a job holds it still (replayed earlier and not finished): then a new one.
    const newId =
      (await insert(trx, target, envelope, originId)) ??
      (await insert(trx, target, envelope, crypto.randomUUID()))
    const created = await findRow(trx, target, newId!)
    return toInfo(created!)
  })
}
