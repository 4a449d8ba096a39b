import { Hono } from 'hono'
import { z } from 'zod'
import { principalId } from '../../core/auth/principal.ts'
import type { WebhookDeliveries } from '../../core/webhooks/deliveries.ts'
import type { WebhooksService } from '../../core/webhooks/webhooks-service.ts'
import { parseInput } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { jsonBody } from '../../http/middleware/json-body.ts'
import { requireScope } from '../../http/middleware/require-scope.ts'

const action = z.enum(['create', 'update', 'delete'])

/** POST /api/admin/webhooks; also the `WebhookInput` schema of /api/openapi.json. */
export const webhookInput = z
  .object({
    url: z
      .string()
      .trim()
      .min(1)
      .max(2048)
      .describe('http(s); a loopback or private address must be allow-listed.'),
    collection: z.string().trim().min(1).max(100).describe('A collection, or `*` for every one.'),
    actions: z.array(action).min(1).max(3).describe('The record changes it is sent for.'),
    description: z.string().trim().max(500).nullable().optional(),
    enabled: z.boolean().optional().describe('Default true.'),
  })
  .strict()

/** PATCH /api/admin/webhooks/:id: any part of a WebhookInput. */
export const webhookPatch = webhookInput.partial().strict()

/** GET …/deliveries' query. */
export const deliveriesQuery = z.object({
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'must be the nextCursor of a previous page')
    .optional()
    .describe('The `nextCursor` of the previous page.'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

/**
 * /api/admin/webhooks, for console admins, BASTIDE_ADMIN_KEY and API keys with the `functions` scope (a webhook
 * sends data out of the server, as a function may): CRUD, secret rotation, the delivery history, redelivery and
 * a test ping. The secret is in the answers to create and rotate only.
 */
export function webhookRoutes(deps: {
  readonly webhooks: WebhooksService
  readonly deliveries: WebhookDeliveries
}) {
  const { webhooks, deliveries } = deps
  const r = new Hono<AppEnv>()
  r.use(requireScope('functions'))
  r.get('/', async (c) => c.json({ items: await webhooks.list() }))
  r.post('/', async (c) => {
    const input = parseInput(webhookInput, await jsonBody(c))
    return c.json(await webhooks.create(input, principalId(c.var.principal)), 201)
  })
  r.get('/:id', async (c) => c.json(await webhooks.get(c.req.param('id'))))
  r.patch('/:id', async (c) => {
    const patch = parseInput(webhookPatch, await jsonBody(c))
    return c.json(await webhooks.update(c.req.param('id'), patch, principalId(c.var.principal)))
  })
  r.delete('/:id', async (c) => {
    await webhooks.remove(c.req.param('id'), principalId(c.var.principal))
    return c.body(null, 204)
  })
  r.post('/:id/rotate-secret', async (c) =>
    c.json(await webhooks.rotateSecret(c.req.param('id'), principalId(c.var.principal))),
  )
  r.post('/:id/test', async (c) => c.json(await deliveries.ping(c.req.param('id'))))
  r.get('/:id/deliveries', async (c) => {
    const q = parseInput(deliveriesQuery, c.req.query())
    return c.json(await deliveries.list(c.req.param('id'), q))
  })
  r.get('/:id/deliveries/:delivery', async (c) =>
    c.json(await deliveries.get(c.req.param('id'), c.req.param('delivery'))),
  )
  r.post('/:id/deliveries/:delivery/redeliver', async (c) =>
    c.json(await deliveries.redeliver(c.req.param('id'), c.req.param('delivery')), 202),
  )
  return r
}
