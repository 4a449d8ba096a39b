import type {
  PushContent,
  PushCounts,
  PushDelivery,
  PushDeliveryPage,
  PushDeliveryStatus,
  PushMessage,
  PushMessagePage,
  PushMessageStatus,
  PushProviderName,
  PushTarget,
} from '@bastide/protocol'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { CollectionsService } from '../collections/service.ts'
import type { Jobs } from '../jobs/types.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { bindFilter } from '../rules/index.ts'
import type { PushCredentials } from './credentials.ts'
import {
  createFanOut,
  FANOUT_QUEUE,
  type FanOutJob,
  fanOutJobId,
  SEND_QUEUE,
  type SendJob,
} from './fan-out.ts'
import { validateMessage } from './message-input.ts'
import { createSenders, type PushSenders, type SendersOptions } from './providers/index.ts'
import { reclaimLeases, reviveFanOuts } from './reclaim-leases.ts'
import { type AcquireSender, createSendBatch, LEASE_MS } from './send-batch.ts'

/** How often each node sweeps: expired leases, deliveries whose send job is gone, stopped fan-outs. */
const SWEEP_MS = LEASE_MS / 6

export interface PushMessages {
  /**
   * Validates (400), stores the message and enqueues its fan-out job in ONE transaction (`tx` to join the caller's).
   * `restricted` (API keys): `to.filter` is bound as a client's filter is, so hidden fields of users (and what else
   * a restricted filter may not use) are refused with a 400; console admins, the admin key and functions send
   * unrestricted (the default).
   */
  send(
    input: unknown,
    o: { readonly source: string; readonly tx?: Tx; readonly restricted?: boolean },
  ): Promise<PushMessage>
  /** Newest first. */
  list(q: {
    readonly cursor?: string | undefined
    readonly limit?: number | undefined
    readonly status?: PushMessageStatus | undefined
  }): Promise<PushMessagePage>
  /** NOT_FOUND for an unknown id. */
  get(id: string): Promise<PushMessage>
  /** In the order they were created. */
  deliveries(
    id: string,
    q: {
      readonly cursor?: string | undefined
      readonly limit?: number | undefined
      readonly status?: PushDeliveryStatus | undefined
    },
  ): Promise<PushDeliveryPage>
  /** Only while scheduled, else CONFLICT. */
  cancel(id: string): Promise<PushMessage>
  /** Removes finished (done or canceled) messages, and their deliveries, that ended before `before`. */
  prune(before: Date): Promise<number>
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const CURSOR = /^\d{1,18}$/
const DEFAULT_LIMIT = 50
const MAX_LIMIT = 200

interface MessageRow {
  id: string
  n: number
  status: PushMessageStatus
  target: PushTarget
  content: PushContent
  options: { ttlSeconds: number; collapseKey: string | null; priority: 'high' | 'normal'; silent: boolean }
  topic: string | null
  source: string
  send_at: string | null
  targeted: number
  opted_out: number
  created: string
  completed: string | null
}

interface DeliveryRow {
  id: string
  n: number
  message_id: string
  device_id: string
  provider: PushProviderName
  user_id: string | null
  status: PushDeliveryStatus
  attempts: number
  reason: string | null
  provider_id: string | null
  updated: string
}

const MESSAGE_COLUMNS = sql`id, n, status, target, content, options, topic, source, send_at, targeted, opted_out,
  created, completed`

function toMessage(r: MessageRow, by: ReadonlyMap<string, number> | undefined): PushMessage {
  const counts: PushCounts = {
    targeted: r.targeted,
    pending: by?.get('pending') ?? 0,
    sent: by?.get('sent') ?? 0,
    failed: by?.get('failed') ?? 0,
    invalidToken: by?.get('invalid_token') ?? 0,
    optedOut: r.opted_out,
  }
  return {
    id: r.id,
    status: r.status,
    to: r.target,
    topic: r.topic,
    ...r.content,
    ttlSeconds: r.options.ttlSeconds,
    collapseKey: r.options.collapseKey,
    priority: r.options.priority,
    silent: r.options.silent,
    sendAt: r.send_at,
    source: r.source,
    counts,
    createdAt: r.created,
    completedAt: r.completed,
  }
}

function toDelivery(r: DeliveryRow): PushDelivery {
  return {
    id: r.id,
    messageId: r.message_id,
    deviceId: r.device_id,
    provider: r.provider,
    userId: r.user_id,
    status: r.status,
    attempts: r.attempts,
    reason: r.reason,
    providerId: r.provider_id,
    updatedAt: r.updated,
  }
}

function pageArgs(q: { readonly cursor?: string | undefined; readonly limit?: number | undefined }) {
  if (q.cursor !== undefined && !CURSOR.test(q.cursor)) throw errors.invalidCursor()
  const limit = q.limit ?? DEFAULT_LIMIT
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw errors.badRequest(`limit must be between 1 and ${MAX_LIMIT}.`, { param: 'limit' })
  return { cursor: q.cursor === undefined ? undefined : Number(q.cursor), limit }
}

/**
 * Push messages: validated and stored with their fan-out job in one transaction, read back with their counts
 * (one GROUP BY for a whole page), their deliveries paged, canceled while scheduled. The sending is done by the
 * workers (startPushWorkers).
 */
export function createPushMessages(deps: {
  readonly db: Db
  readonly jobs: Jobs
  readonly collections: CollectionsService
}): PushMessages {
  const { db, jobs } = deps

  /** Delivery counts by status of these messages, in one query. */
  async function countsOf(ids: readonly string[]): Promise<Map<string, Map<string, number>>> {
    const out = new Map<string, Map<string, number>>()
    if (ids.length === 0) return out
    const rows = (
      await sql<{
        message_id: string
        status: string
        n: number
      }>`SELECT message_id, status, count(*)::int AS n
        FROM bastide.push_deliveries WHERE message_id = ANY(${ids}::uuid[]) GROUP BY message_id, status`.execute(
        db,
      )
    ).rows
    for (const r of rows) {
      let m = out.get(r.message_id)
      if (!m) out.set(r.message_id, (m = new Map()))
      m.set(r.status, r.n)
    }
    return out
  }

  async function row(id: string): Promise<MessageRow> {
    if (!UUID.test(id)) throw errors.notFound('Message')
    const r = (
      await sql<MessageRow>`SELECT ${MESSAGE_COLUMNS} FROM bastide.push_messages WHERE id = ${id}::uuid`.execute(
        db,
      )
    ).rows[0]
    if (!r) throw errors.notFound('Message')
    return r
  }

  async function get(id: string): Promise<PushMessage> {
    const r = await row(id)
    return toMessage(r, (await countsOf([r.id])).get(r.id))
  }

  return {
    async send(input, o) {
      const m = validateMessage(input)
      const restricted = o.restricted ?? false
      if (m.to.filter !== undefined) {
        // 400 INVALID_FILTER now rather than a fan-out that cannot run. Unrestricted (admins, functions): any field;
        // an API key's filter may not read hidden fields (its counts would tell them, user by user).
        const users = deps.collections.get('users')
        bindFilter(m.to.filter, users, (n) => deps.collections.find(n), { auth: null }, restricted)
      }
      // The fan-out binds the filter again, as restricted as here (kept with the options, never shown).
      const options = restricted && m.to.filter !== undefined ? { ...m.options, restricted: true } : m.options
      const id = uuidv7()
      return inTransaction(
        db,
        async (tx) => {
          if (m.to.topic !== undefined) {
            const t = await sql`SELECT 1 FROM bastide.push_topics WHERE name = ${m.to.topic}`.execute(tx.db)
            if (t.rows.length === 0) throw errors.notFound('Topic')
          }
          const r = (
            await sql<MessageRow>`INSERT INTO bastide.push_messages
                (id, status, target, content, options, topic, source, send_at)
              VALUES (${id}::uuid, ${m.sendAt ? 'scheduled' : 'queued'}, ${JSON.stringify(m.to)}::jsonb,
                ${JSON.stringify(m.content)}::jsonb, ${JSON.stringify(options)}::jsonb, ${m.topic},
                ${o.source}, ${m.sendAt?.toISOString() ?? null}::timestamptz)
              RETURNING ${MESSAGE_COLUMNS}`.execute(tx.db)
          ).rows[0]!
          await jobs.send<FanOutJob>(
            FANOUT_QUEUE,
            { messageId: id },
            { tx, id: fanOutJobId(id), ...(m.sendAt ? { startAfter: m.sendAt } : {}) },
          )
          return toMessage(r, undefined)
        },
        o.tx,
      )
    },

    async list(q) {
      const { cursor, limit } = pageArgs(q)
      const rows = (
        await sql<MessageRow>`SELECT ${MESSAGE_COLUMNS} FROM bastide.push_messages
          WHERE TRUE ${cursor !== undefined ? sql`AND n < ${cursor}` : sql``}
            ${q.status ? sql`AND status = ${q.status}` : sql``}
          ORDER BY n DESC LIMIT ${limit + 1}`.execute(db)
      ).rows
      const more = rows.length > limit
      if (more) rows.pop()
      const counts = await countsOf(rows.map((r) => r.id))
      return {
        items: rows.map((r) => toMessage(r, counts.get(r.id))),
        nextCursor: more ? String(rows.at(-1)!.n) : null,
      }
    },

    get,

    async deliveries(id, q) {
      const { cursor, limit } = pageArgs(q)
      await row(id)
      const rows = (
        await sql<DeliveryRow>`SELECT id, n, message_id, device_id, provider, user_id, status, attempts, reason,
            provider_id, updated
          FROM bastide.push_deliveries WHERE message_id = ${id}::uuid
            ${cursor !== undefined ? sql`AND n > ${cursor}` : sql``}
            ${q.status ? sql`AND status = ${q.status}` : sql``}
          ORDER BY n LIMIT ${limit + 1}`.execute(db)
      ).rows
      const more = rows.length > limit
      if (more) rows.pop()
      return { items: rows.map(toDelivery), nextCursor: more ? String(rows.at(-1)!.n) : null }
    },

    async cancel(id) {
      const r = await row(id)
      const canceled = await inTransaction(db, async (tx) => {
        const u = await sql`UPDATE bastide.push_messages SET status = 'canceled', completed = now()
          WHERE id = ${id}::uuid AND status = 'scheduled' RETURNING id`.execute(tx.db)
        return u.rows.length > 0
      })
      if (!canceled)
        throw errors.conflict(`Only a scheduled message can be canceled; this one is ${r.status}.`, {
          status: r.status,
        })
      // Tidiness only: a fan-out that runs anyway finds the message canceled and does nothing.
      await jobs.remove(FANOUT_QUEUE, fanOutJobId(id)).catch(() => false)
      return get(id)
    },

    async prune(before) {
      const r = await sql`DELETE FROM bastide.push_messages
        WHERE status IN ('done', 'canceled') AND coalesce(completed, created) < ${before.toISOString()}::timestamptz`.execute(
        db,
      )
      return Number(r.numAffectedRows ?? 0)
    },
  }
}

/**
 * The push workers on this node (declared only, when it runs no jobs): `push.fanout` and `push.send`, and the sweeper
 * (reclaim-leases.ts) that hands to a new job the deliveries of a send job whose node died, that failed or is gone
 * (failing them once their attempts are spent), and queues again the fan-out of a message whose fan-out job stopped. Senders are built from the stored credentials
 * and rebuilt (the old ones closed once no batch uses them) when those change.
 */
export async function startPushWorkers(deps: {
  readonly db: Db
  readonly jobs: Jobs
  readonly collections: CollectionsService
  readonly credentials: PushCredentials
  readonly log: Logger
  readonly runsJobs: boolean
  readonly retries: number
  readonly retryDelaySeconds: number
  readonly batchSize: number
  readonly senders: SendersOptions
}): Promise<{ close(): Promise<void> }> {
  const { db, jobs, log } = deps

  interface Generation {
    readonly version: string
    readonly senders: PushSenders
    users: number
    retired: boolean
  }
  let current: Generation | undefined
  const retire = (g: Generation) => {
    g.retired = true
    if (g.users === 0)
      g.senders
        .close()
        .catch((err) => log.warn({ err: (err as Error).message }, 'push: closing senders failed'))
  }
  const acquire: AcquireSender = async (provider) => {
    const creds = await deps.credentials.load()
    if (!current || current.version !== creds.version) {
      const old = current
      current = {
        version: creds.version,
        senders: createSenders(creds, deps.senders),
        users: 0,
        retired: false,
      }
      if (old) retire(old)
    }
    const g = current
    g.users++
    let released = false
    return {
      sender: g.senders.get(provider),
      release() {
        if (released) return
        released = true
        g.users--
        if (g.retired) retire(g)
      },
    }
  }

  const fanOut = createFanOut({ db, jobs, collections: deps.collections, batchSize: deps.batchSize })
  const sendBatch = createSendBatch({
    db,
    jobs,
    acquire,
    retries: deps.retries,
    retryDelaySeconds: deps.retryDelaySeconds,
    log,
  })
  await jobs.work<FanOutJob>(
    FANOUT_QUEUE,
    { retryLimit: 5, retryDelaySeconds: 2, expireInSeconds: 300 },
    async (job) => fanOut.run(job.data.messageId),
  )
  // The queue's own retries are for faults of ours (the database); the provider's answers are retried by
  // re-queueing, which counts the deliveries' attempts. A dead node's job is taken over by the sweeper, so
  // its expiry matters little.
  await jobs.work<SendJob>(
    SEND_QUEUE,
    { retryLimit: 3, retryDelaySeconds: 2, expireInSeconds: 600 },
    async (job) => sendBatch.run(job.id, job.data),
  )

  let stopped = false
  let sweeping: Promise<unknown> = Promise.resolve()
  const sweepOnce = async () => {
    const r = await reclaimLeases({ db, jobs, batchSize: deps.batchSize, retries: deps.retries })
    if (r.handedOver > 0)
      log.warn({ deliveries: r.handedOver }, 'push: deliveries of a stopped send job handed to a new one')
    if (r.failed > 0)
      log.warn({ deliveries: r.failed }, 'push: deliveries failed: no result after every attempt')
    const f = await reviveFanOuts({ db, jobs, retries: deps.retries })
    if (f.revived > 0) log.warn({ messages: f.revived }, 'push: stopped fan-outs queued again')
    for (const id of f.ended) log.error({ messageId: id }, 'push: fan-out given up after every round')
  }
  const sweep = () => {
    if (stopped) return
    sweeping = sweepOnce().catch((err) =>
      log.warn({ err: (err as Error).message }, 'push: reclaiming leases failed'),
    )
  }
  // Only where jobs run: a node that runs none (a CLI process) must not take deliveries over.
  const timer = deps.runsJobs ? setInterval(sweep, SWEEP_MS) : undefined
  timer?.unref()

  return {
    async close() {
      stopped = true
      clearInterval(timer)
      await sweeping
      // The workers were stopped (and their jobs finished) before modules close: the senders are idle now.
      const g = current
      current = undefined
      if (g) await g.senders.close().catch(() => {})
    },
  }
}
