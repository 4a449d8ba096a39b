import type { OpenApiPart } from '../../openapi/auth-paths.ts'

const TAG = 'Jobs'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra })
const STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed']
const queueParam = { name: 'queue', in: 'path', required: true, schema: { type: 'string' } }
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }
const job = { description: 'The job.', content: { 'application/json': { schema: ref('JobInfo') } } }

/** /api/admin/jobs in the API document (console admins and keys with the `functions` scope). */
export function jobsOpenApi(): OpenApiPart {
  const denied = { '401': err('Unauthorized'), '403': err('Forbidden') }
  return {
    tags: [
      {
        name: TAG,
        description:
          'The durable job queue (function events, webhooks, cron schedules): queues, jobs, replay of dead letters.',
      },
    ],
    paths: {
      '/api/admin/jobs': {
        get: {
          operationId: 'listJobQueues',
          summary: 'The queues, with their jobs counted by state',
          tags: [TAG],
          responses: {
            '200': {
              description: 'The queues.',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: { queues: { type: 'array', items: ref('JobQueueStats') } },
                    required: ['queues'],
                  },
                },
              },
            },
            ...denied,
          },
        },
      },
      '/api/admin/jobs/{queue}': {
        get: {
          operationId: 'listJobs',
          summary: "A queue's jobs, newest first (archived ones included)",
          tags: [TAG],
          parameters: [
            queueParam,
            { name: 'state', in: 'query', schema: { type: 'string', enum: STATES } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            },
          ],
          responses: {
            '200': { description: 'A page.', content: { 'application/json': { schema: ref('JobPage') } } },
            '400': err('BadRequest'),
            ...denied,
            '404': err('NotFound'),
          },
        },
      },
      '/api/admin/jobs/{queue}/{id}': {
        get: {
          operationId: 'getJob',
          summary: 'One job',
          tags: [TAG],
          parameters: [queueParam, idParam],
          responses: { '200': job, ...denied, '404': err('NotFound') },
        },
        delete: {
          operationId: 'deleteJob',
          summary: 'Delete a job',
          tags: [TAG],
          parameters: [queueParam, idParam],
          responses: { '204': { description: 'Deleted.' }, ...denied, '404': err('NotFound') },
        },
      },
      '/api/admin/jobs/{queue}/{id}/replay': {
        post: {
          operationId: 'replayJob',
          summary: 'Send a failed or dead-lettered job back to its original queue, attempts reset',
          tags: [TAG],
          parameters: [queueParam, idParam],
          responses: {
            '200': { ...job, description: 'The new delivery (under the original id when it is free).' },
            ...denied,
            '404': err('NotFound'),
            '409': err('Conflict'),
          },
        },
      },
    },
    schemas: {
      JobQueueStats: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          queued: { type: 'integer' },
          active: { type: 'integer' },
          failed: { type: 'integer' },
          completed: { type: 'integer' },
          deadLetter: nullable('string', { description: 'Where its jobs go once out of retries.' }),
        },
        required: ['name', 'queued', 'active', 'failed', 'completed', 'deadLetter'],
      },
      JobInfo: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          queue: { type: 'string' },
          state: { type: 'string', enum: STATES },
          data: {},
          attempts: { type: 'integer', description: 'Attempts so far.' },
          retryLimit: { type: 'integer', description: 'Retries after the first attempt.' },
          createdAt: { type: 'string', format: 'date-time' },
          startedAt: nullable('string', { format: 'date-time' }),
          completedAt: nullable('string', { format: 'date-time' }),
          error: nullable('string', { description: "The last failure's message." }),
          singletonKey: nullable('string'),
        },
        required: [
          'id',
          'queue',
          'state',
          'data',
          'attempts',
          'retryLimit',
          'createdAt',
          'startedAt',
          'completedAt',
          'error',
          'singletonKey',
        ],
      },
      JobPage: {
        type: 'object',
        properties: {
          items: { type: 'array', items: ref('JobInfo') },
          nextCursor: nullable('string'),
        },
        required: ['items', 'nextCursor'],
      },
    },
  }
}
