import { randomUUID } from 'node:crypto'
import { parseCron } from '@bastide/protocol'
import { CompiledQuery, sql, type Transaction } from 'kysely'
import pg from 'pg'
import PgBoss from 'pg-boss'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import type { Tx } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import { type Envelope, unwrap, wrap } from './envelope.ts'
import {
  findJob,
  type InsertJob,
  JOBS_SCHEMA,
  jobStats,
  listJobs,
  queueExists,
  removeJob,
  replayJob,
} from './job-admin.ts'
import { jobIdFrom } from './job-id.ts'
import type { JobContext, Jobs, QueueOptions } from './types.ts'
import { listenForWakes, WAKE_CHANNEL, type WakeListener } from './wake-listener.ts'

export interface JobsRuntime extends Jobs {
  /** Stops the workers (jobs in progress finish, up to `shutdownMs`); `send` keeps working. */
  stopWorkers(): Promise<void>
  close(): Promise<void>
}

export interface CreateJobsOptions {
  readonly databaseUrl: string
  /** The server's database: sends (and the admin reads) go through it, in the caller's transaction if any. */
  readonly db: Db
  readonly log: Logger
  /** false: no worker, no maintenance, no LISTEN (a one-off CLI process); `send` still works. */
  readonly runsJobs: boolean
  /** Default concurrency per queue per node. */
  readonly concurrency: number
  /** Failed jobs and the archive are kept this long. */
  readonly retentionDays: number
  /** How long stopping waits for jobs in progress. */
  readonly shutdownMs: number
  /**
   * The fallback poll, when no wake-up came (a job delayed by `startAfter`, a retry after its node died, a lost
   * LISTEN connection). Default 5: every worker polls, so this is the idle load (4 workers x queues / 5 s).
   */
  readonly pollingIntervalSeconds?: number
  /** pg-boss's own connections (workers and maintenance). Default 3. */
  readonly poolMax?: number
}

const DEFAULTS = { retryLimit: 3, retryDelaySeconds: 2, retryBackoff: true, expireInSeconds: 900 } as const
const schedules = sql.raw('bastide.job_schedules')

/**
 * The durable job queue: pg-boss in PostgreSQL (schema `pgboss`), jobs sent in the caller's transaction, workers
 * woken by NOTIFY at commit on every node (polling as the fallback), retries with exponential backoff, dead
 * letters, replay, and cron schedules that run once per slot across nodes. See docs/jobs.md.
 */
export async function createJobs(o: CreateJobsOptions): Promise<JobsRuntime> {
  const { db, log } = o
  let closed = false
  /** Workers stopped (shutdown under way): no new ones start. */
  let stopping = false
  // pg-boss's pool, guarded: a completion that lands after close is dropped (the job expires and is retried)
  // instead of failing on an ended pool as an unhandled rejection.
  const pool = new pg.Pool({
    connectionString: o.databaseUrl,
    max: o.poolMax ?? 3,
    application_name: 'bastide-jobs',
  })
  pool.on('error', (err) => log.warn({ err: err.message }, 'job queue connection lost'))
  let started = false
  const dropped = { rows: [{ count: '0' }] }
  const bossDb: PgBoss.Db = {
    async executeSql(text, values) {
      if (closed) return dropped
      try {
        return await pool.query(text, values)
      } catch (err) {
        // pg-boss completes and fails jobs without awaiting it: an error there would be an unhandled rejection,
        // which stops the server (main.ts). Logged instead: the job stays active until it expires, then is
        // retried. At start (migrations) and for the fetch (which pg-boss catches) the error goes up.
        if (!started || /SKIP LOCKED/.test(text)) throw err
        log.warn({ err: (err as Error).message }, 'job queue statement failed')
        return dropped
      }
    },
  }
  const retentionSeconds = o.retentionDays * 86_400
  const boss = new PgBoss({
    db: bossDb,
    schema: JOBS_SCHEMA,
    migrate: true,
    supervise: o.runsJobs,
    schedule: false,
    archiveCompletedAfterSeconds: Math.min(3_600, retentionSeconds),
    archiveFailedAfterSeconds: retentionSeconds,
    deleteAfterSeconds: retentionSeconds,
  })
  boss.on('error', (err: Error) => log.warn({ err: err.message }, 'job queue error'))
  try {
    await boss.start()
    started = true
  } catch (err) {
    closed = true
    await pool.end()
    throw err
  }

  const polling = o.pollingIntervalSeconds ?? 5
  const workers = new Map<string, string[]>()
  const handlers = new Map<string, (job: JobContext<unknown>) => Promise<void>>()
  const known = new Set<string>()
  const wake = (queue: string) => {
    for (const id of workers.get(queue) ?? []) boss.notifyWorker(id)
  }
  const retryTimers = new Set<NodeJS.Timeout>()
  /**
   * pg-boss fails the job right after the handler throws; its retry is due after the delay (at most twice it
   * with backoff's jitter): the workers are woken then rather than at their next poll.
   */
  const wakeForRetry = (
    queue: string,
    job: { retryCount: number; retryDelay: number; retryBackoff: boolean },
  ) => {
    const seconds = job.retryBackoff ? job.retryDelay * 2 ** Math.min(16, job.retryCount + 1) : job.retryDelay
    const t = setTimeout(
      () => {
        retryTimers.delete(t)
        wake(queue)
      },
      seconds * 1000 + 50,
    )
    t.unref()
    retryTimers.add(t)
  }
  const listener: WakeListener | undefined = o.runsJobs
    ? listenForWakes({ databaseUrl: o.databaseUrl, log, onWake: wake })
    : undefined

  /** pg-boss's statements on our connection (or transaction), the insert waking workers at commit. */
  const executor = (on: Db | Transaction<any>): PgBoss.Db => ({
    async executeSql(text, values) {
      const notifying = /^\s*INSERT INTO/i.test(text)
        ? `WITH j AS (${text}) SELECT j.id, pg_notify('${WAKE_CHANNEL}', $2::text) FROM j`
        : text
      const r = await on.executeQuery(CompiledQuery.raw(notifying, values ?? []))
      return { rows: r.rows as any[] }
    },
  })

  const createQueue = async (name: string, options: Record<string, unknown>) => {
    await sql`SELECT ${sql.raw(JOBS_SCHEMA)}.create_queue(${name}, ${JSON.stringify(options)}::json)`.execute(
      db,
    )
  }

  /** Creates the queue (and its dead-letter queue) or brings its options up to date. */
  const declare = async (queue: string, q: QueueOptions) => {
    checkName(queue)
    const dead = q.deadLetter ?? `${queue}.dead`
    checkName(dead)
    const opts = {
      retryLimit: q.retryLimit ?? DEFAULTS.retryLimit,
      retryDelay: q.retryDelaySeconds ?? DEFAULTS.retryDelaySeconds,
      retryBackoff: q.retryBackoff ?? DEFAULTS.retryBackoff,
      expireInSeconds: q.expireInSeconds ?? DEFAULTS.expireInSeconds,
    }
    await createQueue(dead, { policy: 'standard', retryLimit: 0 })
    await createQueue(queue, { policy: 'standard', ...opts, deadLetter: dead })
    await sql`UPDATE ${sql.raw(JOBS_SCHEMA)}.queue SET retry_limit = ${opts.retryLimit},
        retry_delay = ${opts.retryDelay}, retry_backoff = ${opts.retryBackoff},
        expire_seconds = ${opts.expireInSeconds}, dead_letter = ${dead}, updated_on = now()
      WHERE name = ${queue} AND (retry_limit, retry_delay, retry_backoff, expire_seconds, dead_letter)
        IS DISTINCT FROM (${opts.retryLimit}, ${opts.retryDelay}, ${opts.retryBackoff}, ${opts.expireInSeconds}, ${dead})`.execute(
      db,
    )
    known.add(queue)
  }

  /** A queue only sent to so far gets the defaults (its worker's `work` sets its own options later). */
  const ensure = async (queue: string, tx: Tx | undefined) => {
    if (known.has(queue)) return
    // Asked in the caller's transaction: waiting on a second connection while holding one could starve the pool.
    if (await queueExists(tx?.db ?? db, queue)) known.add(queue)
    else await declare(queue, {})
  }

  const insert: InsertJob = async (trx, queue, envelope, id) =>
    (await boss.send(queue, envelope as object, { id, db: executor(trx) })) ?? null

  const runtime: JobsRuntime = {
    async work<T>(
      queue: string,
      w: Parameters<Jobs['work']>[1],
      handler: (job: JobContext<T>) => Promise<void>,
    ) {
      await declare(queue, w)
      const replacing = handlers.has(queue)
      handlers.set(queue, handler as (job: JobContext<unknown>) => Promise<void>)
      if (!o.runsJobs || replacing || stopping) return
      const ids: string[] = []
      for (let i = 0; i < (w.concurrency ?? o.concurrency); i++) {
        let self = ''
        self = await boss.work(
          queue,
          { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: polling },
          async ([job]) => {
            const h = handlers.get(queue)
            if (!job || !h || closed) throw new Error('The worker stopped before this job ran.')
            const { data, origin } = unwrap(job.data)
            try {
              await h({
                id: origin?.id ?? job.id,
                queue,
                data,
                attempt: job.retryCount + 1,
                retryLimit: job.retryLimit,
              })
            } catch (err) {
              if (job.retryCount < job.retryLimit) wakeForRetry(queue, job)
              throw err
            } finally {
              // A worker that ran a job fetches again at once (a burst of jobs is drained back to back) instead
              // of waiting out its poll; an empty fetch then waits as usual.
              if (self && !closed) boss.notifyWorker(self)
            }
          },
        )
        ids.push(self)
      }
      workers.set(queue, ids)
    },

    async stopWork(queue) {
      handlers.delete(queue)
      const ids = workers.get(queue)
      workers.delete(queue)
      for (const id of ids ?? []) await boss.offWork({ id })
    },

    async send(queue, data, s = {}) {
      checkName(queue)
      await ensure(queue, s.tx)
      const id = s.id ?? (s.singletonKey ? jobIdFrom(queue, 'key', s.singletonKey) : randomUUID())
      const envelope: Envelope = wrap(queue, id, data)
      const sent = await boss.send(queue, envelope as object, {
        id,
        db: executor(s.tx?.db ?? db),
        ...(s.singletonKey ? { singletonKey: s.singletonKey } : {}),
        ...(s.startAfter ? { startAfter: s.startAfter } : {}),
        ...(s.retryLimit !== undefined ? { retryLimit: s.retryLimit } : {}),
      })
      return sent ?? null
    },

    async schedule(name, cron, q = {}) {
      try {
        parseCron(cron)
      } catch (err) {
        throw errors.badRequest(`Not a cron expression: ${(err as Error).message}`)
      }
      await declare(name, q)
      await sql`INSERT INTO ${schedules} (name, cron) VALUES (${name}, ${cron})
        ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, updated = now()
        WHERE ${schedules}.cron IS DISTINCT FROM excluded.cron`.execute(db)
    },

    async unschedule(name) {
      await sql`DELETE FROM ${schedules} WHERE name = ${name}`.execute(db)
    },

    async tick(now = new Date()) {
      if (closed) return []
      // On the queue's own connections: a tick every 15 s stays off the request pool (and its query log).
      const { rows } = await pool.query<{ name: string; cron: string; updated: Date }>(
        'SELECT name, cron, updated FROM bastide.job_schedules',
      )
      const minute = Math.floor(now.getTime() / 60_000) * 60_000
      const sent: string[] = []
      for (const r of rows) {
        const cron = parseCron(r.cron)
        // This minute and the one before (a tick that fell just past the boundary), never one before the
        // schedule was set: the slot's id makes a second send, from this node or another, a no-op.
        const since = Math.floor(r.updated.getTime() / 60_000) * 60_000
        for (const slot of [minute - 60_000, minute]) {
          if (slot < since || !cron.matches(new Date(slot))) continue
          const at = new Date(slot).toISOString()
          const id = await runtime.send(
            r.name,
            { schedule: r.cron, at },
            { id: jobIdFrom('cron', r.name, at) },
          )
          if (id) sent.push(id)
        }
      }
      return sent
    },

    stats: () => jobStats(db),
    list: (queue, q) => listJobs(db, queue, q),
    find: (queue, id) => findJob(db, queue, id),
    replay: (queue, id) => replayJob(db, insert, queue, id),
    remove: (queue, id) => removeJob(db, queue, id),

    async stopWorkers() {
      stopping = true
      for (const t of retryTimers) clearTimeout(t)
      await listener?.close()
      await boss.stop({ graceful: true, wait: true, close: false, timeout: Math.max(o.shutdownMs, 1_000) })
    },

    async close() {
      await runtime.stopWorkers()
      closed = true
      await pool.end()
    },
  }
  return runtime
}

/** Queue names as pg-boss and the wake-up channel's payload take them. */
function checkName(name: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$/.test(name))
    throw errors.badRequest(`"${name}" is not a queue name (letters, digits, _ . : -, up to 200).`)
}
