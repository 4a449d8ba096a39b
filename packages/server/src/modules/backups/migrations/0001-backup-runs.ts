import { defineMigration } from '../../../db/define-migration.ts'

/** Every backup run (scheduled or asked for), claimed by one node: `slot` is unique per cron time. */
export const backupRuns = defineMigration({
  name: 'backup-runs',
  sql: `
    CREATE TABLE bastide.backup_runs (
      id uuid PRIMARY KEY,
      slot timestamptz(3) UNIQUE,
      trigger text NOT NULL CHECK (trigger IN ('schedule', 'request')),
      node text NOT NULL,
      target text NOT NULL,
      archive text,
      status text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
      started timestamptz(3) NOT NULL DEFAULT now(),
      finished timestamptz(3),
      size bigint,
      totals jsonb,
      snapshot jsonb,
      error text
    );
    CREATE INDEX backup_runs_started ON bastide.backup_runs (started DESC);
  `,
})
