import { defineMigration } from '../../../db/define-migration.ts'

/**
 * Cron schedules of the job queue (jobs.schedule): every node ticks them, so they live in the database. The
 * queue itself is pg-boss's, in its own schema `pgboss`, created and migrated by pg-boss at start.
 */
export const jobSchedules = defineMigration({
  name: 'job-schedules',
  sql: `
    CREATE TABLE bastide.job_schedules (
      name text PRIMARY KEY,
      cron text NOT NULL,
      updated timestamptz NOT NULL DEFAULT now()
    );
  `,
})
