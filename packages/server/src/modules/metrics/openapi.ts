import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { zodQueryParameters } from '../../openapi/zod-schema.ts'
import { logsQuery } from './routes.ts'

const TAG = 'Observability'
const err = (name: string) => ({ $ref: `#/components/responses/${name}` })
const num = { type: 'number' } as const
const int = { type: 'integer' } as const
const str = { type: 'string' } as const
const guarded = { '401': err('Unauthorized'), '403': err('Forbidden') }

const object = (properties: Record<string, unknown>) => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
})

/**
 * GET /api/admin/logs and GET /api/admin/metrics (console admins and `metrics` keys: absent from the public
 * document). GET /metrics is Prometheus text, outside the JSON API, and documented in docs/observability.md.
 */
export function observabilityOpenApi(): OpenApiPart {
  return {
    tags: [{ name: TAG, description: 'Recent requests of every node, and a summary of this one.' }],
    paths: {
      '/api/admin/logs': {
        get: {
          operationId: 'listRequestLogs',
          summary: 'List recent API requests, newest first',
          tags: [TAG],
          parameters: zodQueryParameters(logsQuery),
          responses: {
            '200': {
              description: 'A page of requests.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/RequestLogPage' } } },
            },
            '400': err('BadRequest'),
            ...guarded,
          },
        },
      },
      '/api/admin/metrics': {
        get: {
          operationId: 'getMetricsSummary',
          summary: 'This node’s current values and the last hour of requests, per minute',
          tags: [TAG],
          responses: {
            '200': {
              description: 'The summary.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/MetricsSummary' } } },
            },
            ...guarded,
          },
        },
      },
    },
    schemas: {
      RequestLogEntry: object({
        id: str,
        at: { type: 'string', format: 'date-time' },
        node: str,
        method: str,
        route: { type: 'string', description: 'The matched route pattern.' },
        path: { type: 'string', description: 'Without the query string; secret segments redacted.' },
        status: int,
        durationMs: num,
        bytesOut: { type: ['integer', 'null'] },
        principalKind: { type: 'string', enum: ['anonymous', 'user', 'key', 'admin'] },
        principalId: { type: ['string', 'null'] },
        clientIp: { type: ['string', 'null'] },
        requestId: str,
        userAgent: { type: ['string', 'null'] },
      }),
      RequestLogPage: object({
        items: { type: 'array', items: { $ref: '#/components/schemas/RequestLogEntry' } },
        nextCursor: { type: ['string', 'null'] },
      }),
      MetricsSummary: object({
        node: object({
          name: str,
          uptimeSeconds: num,
          residentMemoryBytes: num,
          realtimeConnections: int,
          dbPool: object({ total: int, idle: int, waiting: int, max: int }),
          storage: object({ bytes: num, objects: int }),
          authFailures: int,
          rateLimited: int,
          requestLogDropped: int,
        }),
        retentionHours: int,
        series: {
          type: 'array',
          items: object({
            minute: { type: 'string', format: 'date-time' },
            requests: int,
            clientErrors: int,
            serverErrors: int,
            errorRate: num,
            p50Ms: num,
            p95Ms: num,
            p99Ms: num,
          }),
        },
        topRoutes: {
          type: 'array',
          items: object({
            method: str,
            route: str,
            requests: int,
            totalMs: num,
            p95Ms: num,
            serverErrors: int,
          }),
        },
      }),
    },
    adminOnly: ['listRequestLogs', 'getMetricsSummary'],
  }
}
