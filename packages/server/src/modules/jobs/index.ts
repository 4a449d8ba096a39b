import { z } from 'zod'
import { createJobs } from '../../core/jobs/create-jobs.ts'
import type { Jobs } from '../../core/jobs/types.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { jobsOpenApi } from './openapi.ts'
import { jobRoutes } from './routes.ts'

declare module '../define-module.ts' {
  interface Services {
    /** The durable job queue (pg-boss): work, send (in a transaction), cron schedules, admin. */
    jobs: Jobs
  }
}

const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v)

/**
 * The durable job queue (core/jobs, pg-boss in the `pgboss` schema): at-least-once delivery with retries,
 * backoff and dead letters, jobs sent inside the writing transaction, workers woken by NOTIFY on every node,
 * cron schedules run once per slot across nodes, and durable record events (the records module's outbox,
 * connected here). Admin API at /api/admin/jobs. See docs/jobs.md.
 */
export const jobsModule = defineModule({
  id: 'jobs',
  config: z.object({
    /** Jobs of one queue run at once on one node (a queue's `work` may set its own). */
    BASTIDE_JOBS_CONCURRENCY: z.preprocess(unsetIfEmpty, z.coerce.number().int().min(1).max(100).default(4)),
    /** Days failed jobs (replayable) and finished ones (archived after an hour) are kept. */
    BASTIDE_JOBS_RETENTION_DAYS: z.preprocess(
      unsetIfEmpty,
      z.coerce.number().int().min(1).max(3650).default(7),
    ),
  }),
  migrations,
  async start({ db, databaseUrl, log, settings, config, runsJobs, use }) {
    const jobs = await createJobs({
      databaseUrl,
      db,
      log,
      runsJobs,
      concurrency: settings.BASTIDE_JOBS_CONCURRENCY,
      retentionDays: settings.BASTIDE_JOBS_RETENTION_DAYS,
      shutdownMs: config.shutdownTimeoutMs,
    })
    use('recordOutbox').connect(jobs.send)
    return {
      provides: { jobs },
      routes: [{ path: '/api/admin/jobs', app: jobRoutes({ jobs, db }) }],
      openapi: jobsOpenApi,
      jobs: [
        // Every node ticks; the slot's job id makes each cron slot one job, whatever the number of nodes.
        {
          name: 'cron-tick',
          everyMs: 15_000,
          firstAfterMs: 5_000,
          run: async () => {
            await jobs.tick()
          },
        },
      ],
      // Before HTTP drains and later modules (functions, webhooks) close: jobs in progress finish first.
      disconnect: () => jobs.stopWorkers(),
      close: () => jobs.close(),
    }
  },
})
