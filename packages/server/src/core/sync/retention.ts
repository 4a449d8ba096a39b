import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'

/**
 * Removes change-log entries and push results older than `before`, and raises the purge horizon to the highest
 * position removed: a cursor below it may have missed a removed entry, so it resyncs. Only entries of finished
 * transactions go (an entry at or above xmin could still be followed by one below it).
 */
export async function purgeSyncLog(db: Db, before: Date): Promise<{ log: number; mutations: number }> {
  return db.transaction().execute(async (trx) => {
    // One purge at a time: two would race on the horizon.
    await sql`SELECT 1 FROM bastide.sync_horizon FOR UPDATE`.execute(trx)
    const log = await sql<{ n: number }>`
      WITH gone AS (
        DELETE FROM bastide.sync_log WHERE at < ${before}
          AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        RETURNING xid, id
      ), top AS (SELECT xid, id FROM gone ORDER BY xid DESC, id DESC LIMIT 1),
      raised AS (
        UPDATE bastide.sync_horizon h SET xid = top.xid, id = top.id FROM top
        WHERE (top.xid, top.id) > (h.xid, h.id) RETURNING 1
      )
      SELECT (SELECT count(*)::int FROM gone) AS n, (SELECT count(*) FROM raised) AS raised`.execute(trx)
    const mutations = await sql`DELETE FROM bastide.sync_mutations WHERE at < ${before}`.execute(trx)
    return { log: log.rows[0]!.n, mutations: Number(mutations.numAffectedRows ?? 0) }
  })
}
