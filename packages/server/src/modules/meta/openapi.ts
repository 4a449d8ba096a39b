import type { OpenApiPart } from '../../openapi/auth-paths.ts'

const unavailable = { $ref: '#/components/responses/Unavailable' }
const noStore = {
  'Cache-Control': {
    description: 'Always `no-store`: a probe must see the node as it is now.',
    schema: { type: 'string' },
  },
}

/** The probes a load balancer or Kubernetes calls (`/api/health` itself is in the static part). */
export function healthOpenApi(): OpenApiPart {
  return {
    tags: [],
    paths: {
      '/api/health/live': {
        get: {
          operationId: 'healthLive',
          summary: 'Liveness: the process answers',
          description: 'Consults no dependency: restart the node only when this fails.',
          tags: ['Health'],
          security: [{}],
          responses: {
            '200': {
              description: 'The process is up.',
              headers: noStore,
              content: { 'application/json': { schema: { $ref: '#/components/schemas/HealthLive' } } },
            },
          },
        },
      },
      '/api/health/ready': {
        get: {
          operationId: 'healthReady',
          summary: 'Readiness: send this node traffic',
          description:
            'PostgreSQL answers within the statement timeout, the migrations this node started with are ' +
            'recorded, and Redis answers when REDIS_URL is set. 503 `UNAVAILABLE` (with `details.checks`, or ' +
            '`details.stopping` once the node has begun to shut down) takes the node out of rotation.',
          tags: ['Health'],
          security: [{}],
          responses: {
            '200': {
              description: 'Ready.',
              headers: noStore,
              content: { 'application/json': { schema: { $ref: '#/components/schemas/HealthReady' } } },
            },
            '503': unavailable,
          },
        },
      },
    },
    schemas: {
      HealthLive: {
        type: 'object',
        properties: { status: { const: 'ok' }, version: { type: 'string' } },
        required: ['status', 'version'],
      },
      HealthReady: {
        type: 'object',
        properties: {
          status: { const: 'ready' },
          version: { type: 'string' },
          checks: {
            type: 'object',
            properties: {
              database: { enum: ['ok', 'failed'] },
              migrations: { enum: ['ok', 'failed'] },
              redis: { enum: ['ok', 'off', 'failed'], description: '`off`: the node runs without Redis.' },
            },
            required: ['database', 'migrations', 'redis'],
          },
        },
        required: ['status', 'version', 'checks'],
      },
    },
  }
}
