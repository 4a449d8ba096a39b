import { hostname } from 'node:os'
import type { MetricsSummary } from '@bastide/protocol'
import { Hono } from 'hono'
import { z } from 'zod'
import type { Principal } from '../../core/auth/principal.ts'
import type { Db } from '../../db/create-db.ts'
import type { AppEnv } from '../../http/context.ts'
import { assertScope } from '../../http/middleware/require-scope.ts'
import { decodeCursor, listRequestLogs } from './request-log.ts'
import { requestSeries, topRoutes } from './request-stats.ts'
import type { ServerMetrics } from './server-metrics.ts'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/** GET /api/admin/logs's query; also its parameters in /api/openapi.json (openapi.ts). */
export const logsQuery = z.object({
  since: z.iso.datetime({ offset: true }).optional().describe('At or after this time (ISO 8601).'),
  until: z.iso.datetime({ offset: true }).optional().describe('Before this time (ISO 8601).'),
  status: z
    .string()
    .regex(/^[1-5](?:xx|\d\d)$/i, 'must be a class (2xx, 4xx, 5xx) or a status (404)')
    .optional()
    .describe('A class (`2xx`, `4xx`, `5xx`) or an exact status (`404`).'),
  method: z.enum(METHODS).optional(),
  path: z
    .string()
    .startsWith('/', 'must start with /')
    .max(512)
    .optional()
    .describe('Paths starting with this.'),
  principal: z
    .string()
    .regex(
      /^(?:admin|(?:user|key|admin):[A-Za-z0-9_-]{1,64})$/,
      'must be user:<id>, key:<id>, admin:<id> or admin',
    )
    .optional()
    .describe('A principal id as logged: `user:<id>`, `key:<id>`, `admin:<id>`, `admin`.'),
  minDurationMs: z.coerce.number().min(0).max(3_600_000).optional().describe('At least this long.'),
  requestId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional()
    .describe('The X-Request-Id of a response.'),
  cursor: z
    .string()
    .max(100)
    .refine((s) => decodeCursor(s) !== undefined, 'must be the nextCursor of a previous page')
    .optional()
    .describe('The `nextCursor` of the previous page.'),
  perPage: z.coerce.number().int().min(1).max(200).default(50),
})

/** Console admins, and API keys with the `metrics` scope. */
function requireMetricsScope(p: Principal | undefined): void {
  assertScope(p, 'metrics')
}

/**
 * GET /metrics: Prometheus text for a scraper holding a `metrics` key. Mounted outside /api, where the
 * principal is not resolved for us: the bearer token is checked here, with every module's authenticators.
 */
export function scrapeRoutes(deps: {
  readonly metrics: ServerMetrics
  readonly authenticate: (token: string) => Promise<Principal | undefined>
}) {
  const r = new Hono<AppEnv>()
  r.get('/', async (c) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')
    requireMetricsScope(m ? await deps.authenticate(m[1]!) : undefined)
    const { registry } = deps.metrics
    return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType })
  })
  return r
}

/** GET /api/admin/logs (every node's recent requests) and GET /api/admin/metrics (the console's summary). */
export function observabilityRoutes(deps: {
  readonly db: Db
  readonly metrics: ServerMetrics
  readonly retentionHours: number
}) {
  const r = new Hono<AppEnv>()
  r.get('/logs', async (c) => {
    requireMetricsScope(c.var.principal)
    const q = logsQuery.parse(c.req.query())
    const status = q.status?.toLowerCase()
    const page = await listRequestLogs(deps.db, {
      ...(q.since !== undefined ? { since: new Date(q.since) } : {}),
      ...(q.until !== undefined ? { until: new Date(q.until) } : {}),
      ...(status?.endsWith('xx') ? { statusClass: Number(status[0]) } : {}),
      ...(status && !status.endsWith('xx') ? { status: Number(status) } : {}),
      ...(q.method !== undefined ? { method: q.method } : {}),
      ...(q.path !== undefined ? { pathPrefix: q.path } : {}),
      ...(q.principal !== undefined ? { principal: q.principal } : {}),
      ...(q.minDurationMs !== undefined ? { minDurationMs: q.minDurationMs } : {}),
      ...(q.requestId !== undefined ? { requestId: q.requestId } : {}),
      ...(q.cursor !== undefined ? { cursor: decodeCursor(q.cursor)! } : {}),
      limit: q.perPage,
    })
    return c.json(page)
  })
  r.get('/metrics', async (c) => {
    requireMetricsScope(c.var.principal)
    const on = deps.retentionHours > 0
    const [node, series, top] = await Promise.all([
      deps.metrics.snapshot(),
      on ? requestSeries(deps.db) : [],
      on ? topRoutes(deps.db) : [],
    ])
    const body: MetricsSummary = {
      node: { name: hostname(), ...node },
      retentionHours: deps.retentionHours,
      series,
      topRoutes: top,
    }
    return c.json(body)
  })
  return r
}
