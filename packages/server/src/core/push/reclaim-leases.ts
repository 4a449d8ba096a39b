import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { JOBS_SCHEMA } from '../jobs/job-admin.ts'
import type { Jobs } from '../jobs/types.ts'
import {
  enqueueSend,
  FANOUT_QUEUE,
  type FanOutJob,
  fanOutJobId,
  finishIfDone,
  SEND_QUEUE,
} from './fan-out.ts'

/** Deliveries handed over per pass. */
const RECLAIM_LIMIT = 5000
/** Send jobs looked at per pass for deliveries waiting on a job that will never run. */
const ORPHAN_JOBS_LIMIT = 200
/** Messages whose fan-out is looked at per pass. */
const FANOUT_LIMIT = 100

const jobTable = sql.raw(`${JOBS_SCHEMA}.job`)
/** pg-boss states of a job that will still run (or is running). */
const LIVE = sql`state IN ('created', 'retry', 'active')`

/**
 * Pending deliveries nobody will send otherwise go to new send jobs, in batches of `batchSize` per message and
 * provider, in one transaction: those whose send job stopped renewing its lease (its node died mid-batch, or it
 * failed and kept them leased for a backoff: see send-batch.ts), and those waiting for a send job that failed
 * for good or is gone. Each hand-over counts an attempt; past `retries` the delivery is failed instead, with the
 * last reason, so a fault that never goes away ends the message rather than leaving it sending. Whatever a dead
 * job had sent but not recorded is sent again: at-least-once. Safe on every node at once (SKIP LOCKED; the new
 * owner and the cleared lease take a delivery out of every other node's pass). Resolves with how many were
 * handed over and how many failed.
 */
export async function reclaimLeases(deps: {
  readonly db: Db
  readonly jobs: Jobs
  readonly batchSize: number
  readonly retries: number
}): Promise<{ handedOver: number; failed: number }> {
  const { failed, handedOver, finished } = await inTransaction(deps.db, async (tx) => {
    const expired = (
      await sql<{ id: string }>`SELECT id FROM bastide.push_deliveries
        WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until < now()
        ORDER BY lease_until LIMIT ${RECLAIM_LIMIT} FOR UPDATE SKIP LOCKED`.execute(tx.db)
    ).rows.map((r) => r.id)
    // The distinct jobs of unleased pending deliveries, one index probe each (a loose index scan), then those
    // of them that will never run. A job once not live never runs again as the owner of these: a replay of it
    // would find them handed over (another job_id), or take them first (a lease, which this pass then skips).
    const orphanJobs = (
      await sql<{ job_id: string }>`WITH RECURSIVE waiting AS (
          (SELECT job_id FROM bastide.push_deliveries
            WHERE status = 'pending' AND lease_until IS NULL AND job_id IS NOT NULL ORDER BY job_id LIMIT 1)
          UNION ALL
          SELECT (SELECT d.job_id FROM bastide.push_deliveries d
              WHERE d.status = 'pending' AND d.lease_until IS NULL AND d.job_id > w.job_id
              ORDER BY d.job_id LIMIT 1)
          FROM waiting w WHERE w.job_id IS NOT NULL)
        SELECT job_id FROM waiting w WHERE w.job_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM ${jobTable} j WHERE j.name = ${SEND_QUEUE} AND j.id = w.job_id AND j.${LIVE})
        LIMIT ${ORPHAN_JOBS_LIMIT}`.execute(tx.db)
    ).rows.map((r) => r.job_id)
    // Rechecked under the row lock: a delivery handed to another job or leased meanwhile is not taken.
    const orphans =
      orphanJobs.length === 0
        ? []
        : (
            await sql<{ id: string }>`SELECT id FROM bastide.push_deliveries
              WHERE status = 'pending' AND lease_until IS NULL AND job_id = ANY(${orphanJobs}::uuid[])
              LIMIT ${RECLAIM_LIMIT} FOR UPDATE SKIP LOCKED`.execute(tx.db)
          ).rows.map((r) => r.id)
    const ids = [...new Set([...expired, ...orphans])]
    if (ids.length === 0) return { failed: 0, handedOver: 0, finished: [] as string[] }
    const rows = (
      await sql<{ id: string; message_id: string; provider: string; attempts: number; status: string }>`
        UPDATE bastide.push_deliveries AS d
        SET lease_until = NULL, attempts = d.attempts + 1, updated = now(),
          status = CASE WHEN d.attempts + 1 > ${deps.retries} THEN 'failed' ELSE 'pending' END,
          reason = CASE WHEN d.attempts + 1 > ${deps.retries}
            THEN 'no result recorded after ' || (d.attempts + 1) || ' attempts' || coalesce(' (' || d.reason || ')', '')
            ELSE d.reason END
        WHERE d.id = ANY(${ids}::uuid[])
        RETURNING d.id, d.message_id, d.provider, d.attempts, d.status`.execute(tx.db)
    ).rows
    const groups = new Map<string, { messageId: string; attempt: number; ids: string[] }>()
    const finished = new Set<string>()
    for (const r of rows) {
      if (r.status === 'failed') {
        finished.add(r.message_id)
        continue
      }
      const key = `${r.message_id}/${r.provider}`
      let g = groups.get(key)
      if (!g) groups.set(key, (g = { messageId: r.message_id, attempt: 1, ids: [] }))
      g.ids.push(r.id)
      g.attempt = Math.max(g.attempt, r.attempts + 1)
    }
    let handedOver = 0
    for (const g of groups.values())
      for (let i = 0; i < g.ids.length; i += deps.batchSize) {
        const deliveryIds = g.ids.slice(i, i + deps.batchSize)
        await enqueueSend(deps.jobs, tx, { messageId: g.messageId, deliveryIds, attempt: g.attempt })
        handedOver += deliveryIds.length
      }
    return { failed: rows.length - handedOver, handedOver, finished: [...finished] }
  })
  // Each in its own transaction, the message's row locked first as the send results do (never while holding
  // deliveries' rows: that order would deadlock with them): whichever ends last finishes the message.
  for (const messageId of finished)
    await inTransaction(deps.db, async (tx) => {
      await sql`SELECT 1 FROM bastide.push_messages WHERE id = ${messageId}::uuid FOR UPDATE`.execute(tx.db)
      await finishIfDone(tx, messageId)
    })
  return { handedOver, failed }
}

/**
 * Messages whose fan-out stopped (its job failed past its retries, or is gone) while not every page is in: their
 * fan-out is queued again, as the next round's job (a deterministic id, so two nodes queue it once; the fan-out
 * resumes at its cursor, so nothing is queued twice). After `retries` rounds the fan-out is given up: what it
 * fanned out is sent and the message ends. Resolves with the messages revived or ended.
 */
export async function reviveFanOuts(deps: {
  readonly db: Db
  readonly jobs: Jobs
  readonly retries: number
}): Promise<{ revived: number; ended: string[] }> {
  return inTransaction(deps.db, async (tx) => {
    const rows = (
      await sql<{ id: string; fanout_round: number }>`SELECT id, fanout_round FROM bastide.push_messages
        WHERE status IN ('scheduled', 'queued', 'sending') AND NOT fanned_out
          AND (send_at IS NULL OR send_at <= now())
        ORDER BY n LIMIT ${FANOUT_LIMIT} FOR UPDATE SKIP LOCKED`.execute(tx.db)
    ).rows
    if (rows.length === 0) return { revived: 0, ended: [] }
    // A statement of its own, after the row locks: it sees a job queued by a node that held them before.
    const live = new Set(
      (
        await sql<{ id: string }>`SELECT id::text AS id FROM ${jobTable}
          WHERE name = ${FANOUT_QUEUE} AND id = ANY(${rows.map((r) => fanOutJobId(r.id, r.fanout_round))}::uuid[])
            AND ${LIVE}`.execute(tx.db)
      ).rows.map((r) => r.id),
    )
    let revived = 0
    const ended: string[] = []
    for (const r of rows) {
      if (live.has(fanOutJobId(r.id, r.fanout_round))) continue
      if (r.fanout_round >= deps.retries) {
        await sql`UPDATE bastide.push_messages SET fanned_out = true,
            status = CASE WHEN status = 'sending' THEN status ELSE 'sending' END
          WHERE id = ${r.id}::uuid`.execute(tx.db)
        await finishIfDone(tx, r.id)
        ended.push(r.id)
        continue
      }
      const round = r.fanout_round + 1
      await sql`UPDATE bastide.push_messages SET fanout_round = ${round} WHERE id = ${r.id}::uuid`.execute(
        tx.db,
      )
      await deps.jobs.send<FanOutJob>(FANOUT_QUEUE, { messageId: r.id }, { tx, id: fanOutJobId(r.id, round) })
      revived++
    }
    return { revived, ended }
  })
}
