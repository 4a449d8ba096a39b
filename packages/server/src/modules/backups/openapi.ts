import type { OpenApiPart } from '../../openapi/auth-paths.ts'

const TAG = 'Backups'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra })

/** /api/admin/backups in the API document (console admins and the admin key only: absent from the public one). */
export function backupsOpenApi(): OpenApiPart {
  const denied = { '401': err('Unauthorized'), '403': err('Forbidden') }
  return {
    tags: [
      {
        name: TAG,
        description:
          'Backups of the whole instance (one database snapshot and the stored files): schedule, runs, archives.',
      },
    ],
    paths: {
      '/api/admin/backups': {
        get: {
          operationId: 'listBackups',
          summary: 'The backup schedule, the latest runs and the archives kept in the target',
          tags: [TAG],
          responses: {
            '200': {
              description: 'The overview.',
              content: { 'application/json': { schema: ref('BackupsOverview') } },
            },
            ...denied,
          },
        },
        post: {
          operationId: 'runBackup',
          summary: 'Take a backup to the configured target now',
          tags: [TAG],
          responses: {
            '201': {
              description: 'The finished run.',
              content: { 'application/json': { schema: ref('BackupRun') } },
            },
            ...denied,
            '409': err('Conflict'),
            '503': { description: 'The backup failed; `details.run` is the recorded run, with its error.' },
          },
        },
      },
      '/api/admin/backups/download': {
        get: {
          operationId: 'downloadBackup',
          summary: 'A backup taken now, as a gzipped tar archive (see docs/backups.md)',
          tags: [TAG],
          responses: {
            '200': {
              description: 'The archive.',
              content: { 'application/gzip': { schema: { type: 'string', format: 'binary' } } },
            },
            ...denied,
          },
        },
      },
    },
    schemas: {
      BackupRun: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          slot: nullable('string', {
            format: 'date-time',
            description: 'The cron minute; null when asked for.',
          }),
          trigger: { type: 'string', enum: ['schedule', 'request'] },
          node: { type: 'string' },
          target: { type: 'string' },
          archive: nullable('string'),
          status: { type: 'string', enum: ['running', 'done', 'failed'] },
          started: { type: 'string', format: 'date-time' },
          finished: nullable('string', { format: 'date-time' }),
          size: nullable('integer'),
          totals: nullable('object', { additionalProperties: { type: 'integer' } }),
          snapshot: nullable('object', { additionalProperties: { type: 'string' } }),
          error: nullable('string'),
        },
        required: [
          'id',
          'slot',
          'trigger',
          'node',
          'target',
          'archive',
          'status',
          'started',
          'finished',
          'size',
          'totals',
          'snapshot',
          'error',
        ],
      },
      BackupsOverview: {
        type: 'object',
        properties: {
          schedule: {
            type: 'object',
            properties: {
              cron: nullable('string'),
              next: nullable('string', { format: 'date-time' }),
              target: nullable('string'),
              keep: { type: 'integer' },
            },
            required: ['cron', 'next', 'target', 'keep'],
          },
          runs: { type: 'array', items: ref('BackupRun') },
          archives: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                name: { type: 'string' },
                size: { type: 'integer' },
                modified: { type: 'string', format: 'date-time' },
              },
              required: ['name', 'size', 'modified'],
            },
          },
        },
        required: ['schedule', 'runs', 'archives'],
      },
    },
    adminOnly: ['listBackups', 'runBackup', 'downloadBackup'],
  }
}
