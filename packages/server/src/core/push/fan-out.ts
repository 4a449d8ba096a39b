import { randomUUID } from 'node:crypto'
import type { PushTarget } from '@bastide/protocol'
import { type RawBuilder, sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { AppError } from '../../errors/index.ts'
import type { CollectionsService } from '../collections/service.ts'
import { jobIdFrom } from '../jobs/job-id.ts'
import type { Jobs } from '../jobs/types.ts'
import { tableOf } from '../records/select.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { bindFilter, compileFilter } from '../rules/index.ts'
import { topicRuleFilter } from './topics.ts'

/** One job per message, due at its sendAt: resolves the devices and queues their sends. */
export const FANOUT_QUEUE = 'push.fanout'
/** One job per batch of deliveries of one provider. */
export const SEND_QUEUE = 'push.send'

/**
 * The fan-out job's id: one per message and round (0 when sent; the watchdog queues round n + 1 when round n's
 * job failed or is gone), the same on every node, so a round is queued once; cancel removes round 0's.
 */
export function fanOutJobId(messageId: string, round = 0): string {
  return round === 0 ? jobIdFrom(FANOUT_QUEUE, messageId) : jobIdFrom(FANOUT_QUEUE, messageId, String(round))
}

export interface FanOutJob {
  readonly messageId: string
}

export interface SendJob {
  readonly messageId: string
  readonly deliveryIds: readonly string[]
  /** The attempt this job makes (1 for the first); the deliveries' own `attempts` count provider calls. */
  readonly attempt: number
}

/**
 * Queues a send job for deliveries, in `tx`, and makes it their owner: a send job only takes the deliveries it
 * owns, so a stale job (its node died, it expired and is retried later) cannot send them a second time once
 * they were handed to another. The ids are those of deliveries of one message and one provider.
 */
export async function enqueueSend(
  jobs: Jobs,
  tx: Tx,
  job: SendJob,
  o: { readonly startAfter?: Date; readonly id?: string } = {},
): Promise<void> {
  const id = o.id ?? randomUUID()
  // With an id, the deliveries were written already owned by it (the fan-out inserts them so).
  if (o.id === undefined)
    await sql`UPDATE bastide.push_deliveries SET job_id = ${id}::uuid
      WHERE id = ANY(${job.deliveryIds}::uuid[])`.execute(tx.db)
  await jobs.send(SEND_QUEUE, job, { tx, id, ...(o.startAfter ? { startAfter: o.startAfter } : {}) })
}

/**
 * Ends a message once every page is in and no delivery is pending. Called with the message's row lock held
 * (fan-out pages and send results take it first), so the last page and the last result cannot both miss it.
 */
export async function finishIfDone(tx: Tx, messageId: string): Promise<void> {
  await sql`UPDATE bastide.push_messages SET status = 'done', completed = now()
    WHERE id = ${messageId}::uuid AND status = 'sending' AND fanned_out
      AND NOT EXISTS (SELECT 1 FROM bastide.push_deliveries
        WHERE message_id = ${messageId}::uuid AND status = 'pending')`.execute(tx.db)
}

interface MessageRow {
  status: string
  target: PushTarget
  options: { restricted?: boolean }
  topic: string | null
  fanout_after: string | null
  fanned_out: boolean
}

interface DeviceRow {
  id: string
  provider: string
  user_id: string | null
  opted_out: boolean
}

/**
 * The fan-out of one message, page after page of devices (keyset by device id, BATCH_SIZE each), each page in
 * one transaction: its deliveries inserted (ON CONFLICT DO NOTHING), one send job per provider for the new
 * ones, the counters and the cursor updated. A retried fan-out resumes at the cursor, so nothing is queued or
 * counted twice. A canceled message is left alone.
 */
export function createFanOut(deps: {
  readonly db: Db
  readonly jobs: Jobs
  readonly collections: CollectionsService
  readonly batchSize: number
}) {
  const { db, jobs, batchSize } = deps

  /** Which devices `to` means, as a condition over `bastide.push_devices AS d`. */
  function targetCondition(to: PushTarget, restricted: boolean): RawBuilder<unknown> {
    if (to.users) return sql`d.user_id = ANY(${to.users}::uuid[])`
    if (to.devices) return sql`d.id = ANY(${to.devices}::text[])`
    if (to.topic !== undefined)
      return sql`EXISTS (SELECT 1 FROM bastide.push_subscriptions s WHERE s.device_id = d.id AND s.topic = ${to.topic})`
    if (to.filter !== undefined) {
      const users = deps.collections.get('users')
      // As checked when the message was sent: an API key's filter may not use hidden fields (restricted).
      const bound = bindFilter(to.filter, users, (n) => deps.collections.find(n), { auth: null }, restricted)
      return sql`d.user_id IN (SELECT r.id FROM ${tableOf(users)} AS r WHERE ${compileFilter(bound, 'r')})`
    }
    return sql`TRUE`
  }

  /** One page; resolves with whether there may be more. */
  async function page(messageId: string): Promise<boolean> {
    return inTransaction(db, async (tx) => {
      const m = (
        await sql<MessageRow>`SELECT status, target, options, topic, fanout_after, fanned_out FROM bastide.push_messages
          WHERE id = ${messageId}::uuid FOR UPDATE`.execute(tx.db)
      ).rows[0]
      if (!m || m.status === 'canceled' || m.fanned_out) return false
      if (m.status === 'scheduled' || m.status === 'queued')
        await sql`UPDATE bastide.push_messages SET status = 'sending' WHERE id = ${messageId}::uuid`.execute(
          tx.db,
        )
      const optedOut = m.topic ? sql`coalesce(NOT p.enabled, false)` : sql`false`
      const prefs = m.topic
        ? sql`LEFT JOIN bastide.push_preferences p ON p.user_id = d.user_id AND p.topic = ${m.topic}`
        : sql``
      const after = m.fanout_after === null ? sql`` : sql`AND d.id > ${m.fanout_after}`
      let target: RawBuilder<unknown>
      try {
        target = targetCondition(m.target, m.options.restricted === true)
      } catch (err) {
        // The users collection changed since the message was accepted (a field of its filter is gone): it
        // reaches nobody, and ends rather than failing the job over and over.
        if (!(err instanceof AppError)) throw err
        await sql`UPDATE bastide.push_messages SET fanned_out = true WHERE id = ${messageId}::uuid`.execute(
          tx.db,
        )
        await finishIfDone(tx, messageId)
        return false
      }
      // A topic with a rule reaches only devices whose user still passes it (a user demoted or banned since
      // subscribing, or a device that changed hands, is skipped).
      if (m.target.topic !== undefined) {
        const rule = await topicRuleFilter(tx.db, m.target.topic, sql.ref('d.user_id'), deps.collections)
        if (rule) target = sql`${target} AND ${rule}`
      }
      const devices = (
        await sql<DeviceRow>`SELECT d.id, d.provider, d.user_id, ${optedOut} AS opted_out
          FROM bastide.push_devices d ${prefs}
          WHERE ${target} ${after}
          ORDER BY d.id LIMIT ${batchSize}`.execute(tx.db)
      ).rows
      const keep = devices.filter((d) => !d.opted_out)
      // The page's send job per provider, known before the insert: the deliveries are written owned by it.
      const jobIds = new Map<string, string>()
      for (const d of keep) if (!jobIds.has(d.provider)) jobIds.set(d.provider, randomUUID())
      const inserted = keep.length
        ? (
            await sql<{ id: string; provider: string }>`INSERT INTO bastide.push_deliveries
                (id, message_id, device_id, provider, user_id, status, job_id)
              SELECT t.id, ${messageId}::uuid, t.device_id, t.provider, t.user_id, 'pending', t.job_id
              FROM unnest(${keep.map(() => uuidv7())}::uuid[], ${keep.map((d) => d.id)}::text[],
                ${keep.map((d) => d.provider)}::text[], ${keep.map((d) => d.user_id)}::uuid[],
                ${keep.map((d) => jobIds.get(d.provider)!)}::uuid[])
                AS t(id, device_id, provider, user_id, job_id)
              ON CONFLICT (message_id, device_id) DO NOTHING
              RETURNING id, provider`.execute(tx.db)
          ).rows
        : []
      const byProvider = new Map<string, string[]>()
      for (const d of inserted) {
        let ids = byProvider.get(d.provider)
        if (!ids) byProvider.set(d.provider, (ids = []))
        ids.push(d.id)
      }
      for (const [provider, deliveryIds] of byProvider)
        await enqueueSend(jobs, tx, { messageId, deliveryIds, attempt: 1 }, { id: jobIds.get(provider)! })
      const last = devices.length < batchSize
      await sql`UPDATE bastide.push_messages SET targeted = targeted + ${inserted.length},
          opted_out = opted_out + ${devices.length - keep.length},
          fanout_after = ${devices.at(-1)?.id ?? m.fanout_after}, fanned_out = ${last}
        WHERE id = ${messageId}::uuid`.execute(tx.db)
      if (last) await finishIfDone(tx, messageId)
      return !last
    })
  }

  return {
    async run(messageId: string): Promise<void> {
      while (await page(messageId)) {}
    },
  }
}
