import { defineMigration } from '../../../db/define-migration.ts'

/**
 * What the sweepers need (core/push/reclaim-leases.ts): the fan-out's round (each revived fan-out job gets the id of
 * its round, so two nodes reviving the same message queue it once), the unfinished fan-outs, and the pending
 * deliveries waiting for their send job by job (to find those whose job failed or is gone, one probe per job).
 */
export const pushWatchdogs = defineMigration({
  name: 'push-watchdogs',
  sql: `
    ALTER TABLE bastide.push_messages ADD COLUMN fanout_round int NOT NULL DEFAULT 0;
    CREATE INDEX push_messages_fanning_out ON bastide.push_messages (n)
      WHERE status IN ('scheduled','queued','sending') AND NOT fanned_out;
    CREATE INDEX push_deliveries_waiting ON bastide.push_deliveries (job_id)
      WHERE status = 'pending' AND lease_until IS NULL;
  `,
})
