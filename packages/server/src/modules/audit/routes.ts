import { Hono } from 'hono'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { listAuditEntries } from './audit-log.ts'

const text = z.string().trim().min(1).max(200)
/** GET /api/admin/audit's query; also its parameters in /api/openapi.json (openapi.ts). */
export const auditQuery = z
  .object({
    actor: text.optional().describe('`admin:<id>`, `admin`, `key:<id>`, `cli`.'),
    action: text.optional().describe('Exact (`user.ban`) or a prefix (`collection.*`).'),
    target: text.optional().describe('A collection, key id, user id, bucket or channel.'),
    since: z.iso.datetime({ offset: true }).optional().describe('At or after this time (ISO 8601).'),
    until: z.iso.datetime({ offset: true }).optional().describe('Before this time (ISO 8601).'),
    cursor: z
      .string()
      .regex(/^\d{1,18}$/, 'must be the nextCursor of a previous page')
      .optional()
      .describe('The `nextCursor` of the previous page.'),
    perPage: z.coerce.number().int().min(1).max(200).default(50),
    page: z.coerce
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1)
      .describe('Offset paging; not with `cursor`.'),
  })
  .refine((q) => q.cursor === undefined || q.page === 1, {
    message: 'Use cursor or page, not both.',
    path: ['page'],
  })

/**
 * GET /api/admin/audit: the trail of admin actions, newest first, for console admins. Filters: `actor`,
 * `action` (exact, or a prefix like `user.*`), `target`, `since`/`until` (ISO 8601); `cursor` (the previous
 * answer's `nextCursor`) walks it page by page however fast it grows; `page` is kept for offset paging.
 */
export function auditRoutes(deps: { readonly db: Db }) {
  const r = new Hono<AppEnv>()
  r.get('/', async (c) => {
    const p = c.var.principal
    if (p.kind === 'anonymous') throw errors.unauthorized()
    if (p.kind !== 'admin') throw errors.forbidden('Only console admins can do this.')
    const q = auditQuery.parse(c.req.query())
    const page = await listAuditEntries(deps.db, {
      ...(q.actor !== undefined ? { actor: q.actor } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(q.target !== undefined ? { target: q.target } : {}),
      ...(q.since !== undefined ? { since: new Date(q.since) } : {}),
      ...(q.until !== undefined ? { until: new Date(q.until) } : {}),
      ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      offset: (q.page - 1) * q.perPage,
      limit: q.perPage,
    })
    return c.json({ ...page, page: q.page, perPage: q.perPage })
  })
  return r
}
