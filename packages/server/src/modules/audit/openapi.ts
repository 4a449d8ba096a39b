import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodQueryParameters } from '../../openapi/zod-schema.ts'
import { auditQuery } from './routes.ts'

const TAG = 'Audit'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })

/** GET /api/admin/audit in the API document (console admins only: absent from the public one). */
export function auditOpenApi(): OpenApiPart {
  return {
    tags: [
      {
        name: TAG,
        description: 'The trail of admin actions: who did what to which thing, and what changed.',
      },
    ],
    paths: {
      '/api/admin/audit': {
        get: {
          operationId: 'listAuditEntries',
          summary: 'List admin actions, newest first',
          tags: [TAG],
          parameters: zodQueryParameters(auditQuery),
          responses: {
            '200': {
              description: 'A page of entries.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/AuditPage' } } },
            },
            '400': err('BadRequest'),
            '401': err('Unauthorized'),
            '403': err('Forbidden'),
          },
        },
      },
    },
    schemas: {
      AuditEntry: {
        type: 'object',
        properties: {
          seq: { type: 'integer' },
          at: { type: 'string', format: 'date-time' },
          actor: { type: 'string' },
          action: { type: 'string' },
          target: { type: ['string', 'null'] },
          details: { type: ['object', 'null'], additionalProperties: true },
          diff: {
            type: ['object', 'null'],
            description: 'What changed: the differing top-level properties, before and after.',
            properties: { before: {}, after: {} },
          },
        },
        required: ['seq', 'at', 'actor', 'action', 'target', 'details', 'diff'],
      },
      AuditPage: {
        type: 'object',
        properties: {
          items: { type: 'array', items: { $ref: '#/components/schemas/AuditEntry' } },
          nextCursor: { type: ['string', 'null'] },
          page: { type: 'integer' },
          perPage: { type: 'integer' },
        },
        required: ['items', 'nextCursor', 'page', 'perPage'],
      },
    },
    adminOnly: ['listAuditEntries'],
  }
}
