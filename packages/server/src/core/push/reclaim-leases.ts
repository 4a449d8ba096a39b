import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import type { Jobs } from '../jobs/types.ts'
import { enqueueSend } from './fan-out.ts'

/** Deliveries handed over per pass. */
const RECLAIM_LIMIT = 5000

/**
 * Deliveries whose send job stopped renewing its lease (its node died mid-batch) go to new send jobs, in batches
 * of `batchSize` per message and provider, in one transaction. Whatever that job had sent but not recorded is
 * sent again: at-least-once. Safe on every node at once (SKIP LOCKED; a handed-over delivery has no lease).
 * Resolves with how many were handed over.
 */
export async function reclaimLeases(deps: {
  readonly db: Db
  readonly jobs: Jobs
  readonly batchSize: number
}): Promise<number> {
  return inTransaction(deps.db, async (tx) => {
    const rows = (
      await sql<{ id: string; message_id: string; provider: string; attempts: number }>`
        WITH stale AS (
          SELECT id FROM bastide.push_deliveries
          WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until < now()
          ORDER BY lease_until LIMIT ${RECLAIM_LIMIT} FOR UPDATE SKIP LOCKED)
        UPDATE bastide.push_deliveries AS d SET lease_until = NULL FROM stale WHERE d.id = stale.id
        RETURNING d.id, d.message_id, d.provider, d.attempts`.execute(tx.db)
    ).rows
    const groups = new Map<string, { messageId: string; attempt: number; ids: string[] }>()
    for (const r of rows) {
      const key = `${r.message_id}/${r.provider}`
      let g = groups.get(key)
      if (!g) groups.set(key, (g = { messageId: r.message_id, attempt: 1, ids: [] }))
      g.ids.push(r.id)
      g.attempt = Math.max(g.attempt, r.attempts + 1)
    }
    for (const g of groups.values())
      for (let i = 0; i < g.ids.length; i += deps.batchSize)
        await enqueueSend(deps.jobs, tx, {
          messageId: g.messageId,
          deliveryIds: g.ids.slice(i, i + deps.batchSize),
          attempt: g.attempt,
        })
    return rows.length
  })
}
