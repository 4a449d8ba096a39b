import type {
  PushContent,
  PushDeliveryStatus,
  PushProviderName,
  PushSubscriptionKeys,
} from '@bastide/protocol'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import type { Jobs } from '../jobs/types.ts'
import { enqueueSend, finishIfDone, type SendJob } from './fan-out.ts'
import { type DeliveryOptions, notificationFor } from './localize.ts'
import { clampRetryAfter } from './providers/retry-after.ts'
import type { OutgoingPush, PushResult, PushSender } from './providers/types.ts'

/** How long a send job holds its deliveries without renewing (it renews every third of it while it works). */
export const LEASE_MS = 30_000

/** The longest wait before a retry, however large the configured delay and the attempt (a valid Date always). */
const MAX_BACKOFF_MS = 86_400_000
/** What a reason or provider id keeps of a provider's answer (text an endpoint chose). */
const MAX_TEXT = 500

/** The wait before the retry that follows `attempts` provider calls: delay x 2^(attempts-1), bounded. */
export function backoffMs(retryDelaySeconds: number, attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, retryDelaySeconds * 1000 * 2 ** Math.max(0, attempts - 1))
}

/**
 * A provider's (or endpoint's) text as PostgreSQL stores it: without NUL (which text refuses, failing the whole
 * batch's results with it), and bounded.
 */
function storable(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null
  return v.replaceAll(String.fromCharCode(0), '').slice(0, MAX_TEXT)
}

const PROVIDER_NAMES: Readonly<Record<PushProviderName, string>> = {
  apns: 'APNs',
  fcm: 'FCM',
  webpush: 'Web Push',
  unifiedpush: 'UnifiedPush',
}

/** The sender of a provider for one batch; `release` once its results are in (senders are rebuilt on credential changes). */
export type AcquireSender = (
  provider: PushProviderName,
) => Promise<{ readonly sender: PushSender | undefined; release(): void }>

interface Claimed {
  id: string
  device_id: string
  provider: PushProviderName
  attempts: number
  token: string | null
  keys: PushSubscriptionKeys | null
  app_id: string | null
  environment: 'production' | 'sandbox' | null
  locale: string | null
  device_provider: PushProviderName | null
}

interface MessageRow {
  content: PushContent
  options: DeliveryOptions
}

/** One delivery's outcome, as written. */
interface Outcome {
  readonly id: string
  readonly status: PushDeliveryStatus
  /** Provider calls this attempt made (0 when nothing was sent). */
  readonly calls: number
  readonly reason: string | null
  readonly providerId: string | null
}

/**
 * One `push.send` job: takes the pending deliveries it owns (one statement, which also leases them and reads
 * their devices), localizes, sends them through the provider's sender, then writes every result in ONE
 * transaction: one UPDATE for all of them, the devices of invalid tokens deleted, the retryable ones re-queued as a
 * new job (attempt + 1, after max(Retry-After, delay x 2^(attempt-1))) until `retries` is spent, and the message
 * finished when nothing is pending any more; only what the job still owns is renewed or written (a delivery
 * handed to another job meanwhile is that job's). A crash before that transaction leaves the deliveries leased to
 * a dead job, an error keeps them leased for a backoff: the sweeper hands them to a new one once the lease runs
 * out (so they may be sent twice, never lost), counting an attempt, and fails them past `retries`.
 */
export function createSendBatch(deps: {
  readonly db: Db
  readonly jobs: Jobs
  readonly acquire: AcquireSender
  readonly retries: number
  readonly retryDelaySeconds: number
  readonly log: Logger
}) {
  const { db, jobs } = deps

  async function claim(jobId: string, job: SendJob): Promise<Claimed[]> {
    return (
      await sql<Claimed>`WITH claimed AS (
          UPDATE bastide.push_deliveries
          SET lease_until = now() + ${`${LEASE_MS} milliseconds`}::interval
          WHERE id = ANY(${job.deliveryIds}::uuid[]) AND message_id = ${job.messageId}::uuid
            AND status = 'pending' AND job_id = ${jobId}::uuid
            AND (lease_until IS NULL OR lease_until < now())
          RETURNING id, device_id, provider, attempts)
        SELECT c.id, c.device_id, c.provider, c.attempts, d.token, d.keys, d.app_id, d.environment, d.locale,
          d.provider AS device_provider
        FROM claimed c LEFT JOIN bastide.push_devices d ON d.id = c.device_id`.execute(db)
    ).rows
  }

  /**
   * Keeps the lease while the provider calls last (a large batch, a slow provider); only of the deliveries this
   * job still owns (a stale job must not hold those handed to another).
   */
  function renewWhileSending(jobId: string, ids: readonly string[]): () => void {
    const t = setInterval(() => {
      sql`UPDATE bastide.push_deliveries SET lease_until = now() + ${`${LEASE_MS} milliseconds`}::interval
        WHERE id = ANY(${ids}::uuid[]) AND status = 'pending' AND job_id = ${jobId}::uuid`
        .execute(db)
        .catch((err) => deps.log.warn({ err: (err as Error).message }, 'push: lease renewal failed'))
    }, LEASE_MS / 3)
    t.unref()
    return () => clearInterval(t)
  }

  function outgoing(job: SendJob, m: MessageRow, c: Claimed): OutgoingPush {
    const device = {
      id: c.device_id,
      provider: c.provider,
      token: c.token!,
      keys: c.keys,
      appId: c.app_id!,
      environment: c.environment,
    }
    return notificationFor(
      { deliveryId: c.id, messageId: job.messageId },
      device,
      m.content,
      m.options,
      c.locale,
    )
  }

  async function run(jobId: string, job: SendJob): Promise<void> {
    const claimed = await claim(jobId, job)
    if (claimed.length === 0) return
    const ids = claimed.map((c) => c.id)
    try {
      const m = (
        await sql<MessageRow>`SELECT content, options FROM bastide.push_messages
          WHERE id = ${job.messageId}::uuid`.execute(db)
      ).rows[0]
      if (!m) return // pruned meanwhile: its deliveries went with it
      const outcomes: Outcome[] = []
      const sendable: Claimed[] = []
      for (const c of claimed) {
        // Removed (or re-registered with another provider) since the fan-out: there is nothing to send to.
        if (c.token === null || c.device_provider !== c.provider)
          outcomes.push({ id: c.id, status: 'failed', calls: 0, reason: 'device removed', providerId: null })
        else sendable.push(c)
      }
      const retry: { c: Claimed; afterMs: number }[] = []
      const invalid: Claimed[] = []
      if (sendable.length > 0) {
        const provider = sendable[0]!.provider
        const { sender, release } = await deps.acquire(provider)
        try {
          if (!sender) {
            const reason = `${PROVIDER_NAMES[provider]} credentials are not configured`
            for (const c of sendable)
              outcomes.push({ id: c.id, status: 'failed', calls: 0, reason, providerId: null })
          } else {
            const stop = renewWhileSending(jobId, ids)
            let results: PushResult[]
            try {
              results = await sender.send(sendable.map((c) => outgoing(job, m, c)))
            } catch (err) {
              // The contract says a sender never rejects per item; if it does anyway, the batch is retried.
              const reason = `sender failed: ${(err as Error).message}`
              results = sendable.map(() => ({ ok: false, kind: 'retry', reason }))
            } finally {
              stop()
            }
            sendable.forEach((c, i) => {
              const r = results[i] ?? { ok: false, kind: 'retry', reason: 'no result from the sender' }
              if (r.ok) {
                outcomes.push({
                  id: c.id,
                  status: 'sent',
                  calls: 1,
                  reason: null,
                  providerId: storable(r.providerId),
                })
              } else if (r.kind === 'invalid-token') {
                outcomes.push({
                  id: c.id,
                  status: 'invalid_token',
                  calls: 1,
                  reason: storable(r.reason),
                  providerId: null,
                })
                invalid.push(c)
              } else if (r.kind === 'retry' && c.attempts + 1 <= deps.retries) {
                outcomes.push({
                  id: c.id,
                  status: 'pending',
                  calls: 1,
                  reason: storable(r.reason),
                  providerId: null,
                })
                // The sender caps Retry-After already; again here, for any sender: one device's answer must not
                // make a date out of range (a RangeError would fail the whole batch's results).
                const asked = clampRetryAfter(r.retryAfterMs) ?? 0
                retry.push({ c, afterMs: Math.max(backoffMs(deps.retryDelaySeconds, c.attempts + 1), asked) })
              } else {
                outcomes.push({
                  id: c.id,
                  status: 'failed',
                  calls: 1,
                  reason: storable(r.reason),
                  providerId: null,
                })
              }
            })
          }
        } finally {
          release()
        }
      }
      await record(jobId, job, outcomes, invalid, retry)
    } catch (err) {
      // Kept leased for a backoff, then the sweeper (or this job's own retry, whichever comes first) takes them
      // again; each hand-over counts an attempt, so a fault that never goes away ends them failed with this
      // reason rather than pending forever.
      const attempts = Math.max(1, ...claimed.map((c) => c.attempts + 1))
      const wait = backoffMs(deps.retryDelaySeconds, attempts)
      await sql`UPDATE bastide.push_deliveries
        SET lease_until = now() + ${`${wait} milliseconds`}::interval,
          reason = ${storable(`error: ${(err as Error).message}`)}, updated = now()
        WHERE id = ANY(${ids}::uuid[]) AND status = 'pending' AND job_id = ${jobId}::uuid`
        .execute(db)
        .catch((e) => deps.log.warn({ err: (e as Error).message }, 'push: keeping a failed batch failed'))
      throw err
    }
  }

  async function record(
    jobId: string,
    job: SendJob,
    outcomes: readonly Outcome[],
    invalid: readonly Claimed[],
    retry: readonly { c: Claimed; afterMs: number }[],
  ): Promise<void> {
    await inTransaction(db, async (tx) => {
      // The message's row first, as the fan-out does: whichever ends last sees the other's work and finishes it.
      await sql`SELECT 1 FROM bastide.push_messages WHERE id = ${job.messageId}::uuid FOR UPDATE`.execute(
        tx.db,
      )
      // Only deliveries this job still owns: one handed to another job meanwhile (this one was thought dead) is
      // that job's to send and record; nothing of it is written, re-queued or removed here.
      const mine = new Set(
        (
          await sql<{ id: string }>`UPDATE bastide.push_deliveries AS d
            SET status = u.status, attempts = d.attempts + u.calls, reason = u.reason, provider_id = u.provider_id,
              updated = now(), lease_until = NULL
            FROM unnest(${outcomes.map((o) => o.id)}::uuid[], ${outcomes.map((o) => o.status)}::text[],
              ${outcomes.map((o) => o.calls)}::int[], ${outcomes.map((o) => o.reason)}::text[],
              ${outcomes.map((o) => o.providerId)}::text[]) AS u(id, status, calls, reason, provider_id)
            WHERE d.id = u.id AND d.status = 'pending' AND d.job_id = ${jobId}::uuid
            RETURNING d.id`.execute(tx.db)
        ).rows.map((r) => r.id),
      )
      const gone = invalid.filter((c) => mine.has(c.id))
      if (gone.length > 0)
        // Only while the token is the one that failed: a device re-registered meanwhile keeps its new token.
        await sql`DELETE FROM bastide.push_devices AS d
          USING unnest(${gone.map((c) => c.device_id)}::text[], ${gone.map((c) => c.token)}::text[]) AS x(id, token)
          WHERE d.id = x.id AND d.token = x.token`.execute(tx.db)
      // One job per next attempt number (its delay): the longest Retry-After among them wins.
      const groups = new Map<number, { ids: string[]; afterMs: number }>()
      for (const { c, afterMs } of retry) {
        if (!mine.has(c.id)) continue
        const next = c.attempts + 2
        let g = groups.get(next)
        if (!g) groups.set(next, (g = { ids: [], afterMs: 0 }))
        g.ids.push(c.id)
        g.afterMs = Math.max(g.afterMs, afterMs)
      }
      for (const [attempt, g] of groups)
        await enqueueSend(
          jobs,
          tx,
          { messageId: job.messageId, deliveryIds: g.ids, attempt },
          { startAfter: new Date(Date.now() + g.afterMs) },
        )
      await finishIfDone(tx, job.messageId)
    })
  }

  return { run }
}
