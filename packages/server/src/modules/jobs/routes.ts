import { Hono } from 'hono'
import { z } from 'zod'
import { decodeJobCursor, queueExists } from '../../core/jobs/job-admin.ts'
import type { Jobs } from '../../core/jobs/types.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { requireScope } from '../../http/middleware/require-scope.ts'

const STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'] as const

/** GET /api/admin/jobs/:queue's query; also its parameters in /api/openapi.json (openapi.ts). */
export const jobsQuery = z.object({
  state: z.enum(STATES).optional().describe('Only jobs in this state.'),
  cursor: z
    .string()
    .max(200)
    .refine((s) => decodeJobCursor(s) !== undefined, 'must be the nextCursor of a previous page')
    .optional()
    .describe('The `nextCursor` of the previous page.'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

/**
 * /api/admin/jobs: the queues with their counts, a queue's jobs (newest first), one job, replay (a failed or
 * dead-lettered job back to its queue) and delete. Console admins, and API keys with the `functions` scope.
 */
export function jobRoutes(deps: { readonly jobs: Jobs; readonly db: Db }) {
  const { jobs } = deps
  const r = new Hono<AppEnv>()
  r.use(requireScope('functions'))
  r.get('/', async (c) => c.json({ queues: await jobs.stats() }))
  r.get('/:queue', async (c) => {
    const q = jobsQuery.parse(c.req.query())
    const queue = c.req.param('queue')
    if (!(await queueExists(deps.db, queue))) throw errors.notFound('Queue')
    return c.json(
      await jobs.list(queue, {
        limit: q.limit,
        ...(q.state ? { state: q.state } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      }),
    )
  })
  r.get('/:queue/:id', async (c) => {
    const job = await jobs.find(c.req.param('queue'), c.req.param('id'))
    if (!job) throw errors.notFound('Job')
    return c.json(job)
  })
  r.post('/:queue/:id/replay', async (c) =>
    c.json(await jobs.replay(c.req.param('queue'), c.req.param('id'))),
  )
  r.delete('/:queue/:id', async (c) => {
    if (!(await jobs.remove(c.req.param('queue'), c.req.param('id')))) throw errors.notFound('Job')
    return c.body(null, 204)
  })
  return r
}
