import { CliError, EXIT } from '../lib/exit-codes.ts'
import type { RegisterCommand } from './index.ts'

/**
 * `bastide jobs list|dead|replay`: the durable job queue (function events, retries, webhooks), through the API
 * (the key needs the `functions` scope, or is the admin key).
 */
export const jobsCommand: RegisterCommand = (program, ctx) => {
  const jobs = program
    .command('jobs')
    .description('The job queue: queues, dead letters, replay (needs the functions scope)')

  jobs
    .command('list')
    .description('Every queue with its counts of queued, active, failed and completed jobs')
    .action(async () => {
      const { client } = ctx.connect()
      const queues = await ctx.call(() => client.admin.jobs.queues())
      ctx.out.result({ queues }, () =>
        queues.length === 0
          ? 'No queues.'
          : ctx.out.table(
              queues.map((s) => ({ ...s, deadLetter: s.deadLetter ?? '' })),
              ['name', 'queued', 'active', 'failed', 'completed', 'deadLetter'],
            ),
      )
    })

  jobs
    .command('dead')
    .description("The jobs of a queue's dead-letter queue (out of retries), newest first")
    .argument('<queue>', 'a queue (its dead-letter queue is listed), or a dead-letter queue itself')
    .option('--limit <n>', 'at most this many (1 to 200)', '50')
    .action(async (queue: string, opts: { limit: string }) => {
      const limit = Number(opts.limit)
      if (!/^\d+$/.test(opts.limit) || limit < 1 || limit > 200)
        throw new CliError('--limit must be a whole number from 1 to 200.', EXIT.usage, 'USAGE')
      const { client } = ctx.connect()
      let dead = queue
      if (!queue.endsWith('.dead')) {
        const queues = await ctx.call(() => client.admin.jobs.queues())
        dead = queues.find((s) => s.name === queue)?.deadLetter ?? `${queue}.dead`
      }
      const page = await ctx.call(() => client.admin.jobs.list(dead, { limit }))
      ctx.out.result({ queue: dead, ...page }, () =>
        page.items.length === 0
          ? `No dead jobs in ${dead}.`
          : [
              ...ctx.out.table(
                page.items.map((j) => ({
                  id: j.id,
                  state: j.state,
                  attempts: `${j.attempts}/${j.retryLimit + 1}`,
                  created: j.createdAt,
                  error: (j.error ?? '').split('\n')[0],
                })),
                ['id', 'state', 'attempts', 'created', 'error'],
              ),
              '',
              `Replay one: bastide jobs replay ${dead} <id>`,
            ],
      )
    })

  jobs
    .command('replay')
    .description(
      'Send a dead or failed job back to its queue as a fresh delivery (same data, attempts reset)',
    )
    .argument('<queue>', 'the queue holding it (a dead-letter queue, from bastide jobs dead)')
    .argument('<id>', "the job's id")
    .action(async (queue: string, id: string) => {
      const { client } = ctx.connect()
      const job = await ctx.call(() => client.admin.jobs.replay(queue, id))
      ctx.out.result(job, `Replayed: job ${job.id} is ${job.state} in ${job.queue}.`)
    })
}
