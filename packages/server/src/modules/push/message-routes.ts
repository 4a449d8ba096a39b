import { PUSH_DELIVERY_STATUSES, PUSH_MESSAGE_STATUSES } from '@bastide/protocol'
import { Hono } from 'hono'
import { z } from 'zod'
import { hasScope, type Principal } from '../../core/auth/principal.ts'
import type { PushMessages } from '../../core/push/push-messages.ts'
import { errors, parseInput } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { jsonBody } from '../../http/middleware/json-body.ts'

const page = {
  cursor: z.string().optional().describe('The `nextCursor` of the previous page.'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
}

/** GET /api/push/messages' query. */
export const messagesQuery = z.object({ ...page, status: z.enum(PUSH_MESSAGE_STATUSES).optional() })
/** GET /api/push/messages/:id/deliveries' query. */
export const deliveriesQuery = z.object({ ...page, status: z.enum(PUSH_DELIVERY_STATUSES).optional() })

/** `console` for a console admin's session, `api` for the admin key and API keys. */
function sourceOf(p: Principal): string {
  return p.kind === 'admin' && p.adminId !== undefined ? 'console' : 'api'
}

/**
 * /api/push/messages, for console admins, BASTIDE_ADMIN_KEY and API keys with the `push` scope (401 anonymous,
 * 403 anyone else, app users included: a user must not broadcast to other users' devices): send (202, the
 * sending happens on the job queue), list, view with counts, the deliveries, cancel while scheduled.
 */
export function pushMessageRoutes(deps: { readonly messages: PushMessages }) {
  const { messages } = deps
  const r = new Hono<AppEnv>()
  r.use(async (c, next) => {
    const p = c.var.principal
    if (p.kind === 'anonymous') throw errors.unauthorized()
    if (!hasScope(p, 'push')) throw errors.forbidden('This needs a console admin or the push scope.')
    await next()
  })
  r.post('/', async (c) => {
    const p = c.var.principal
    // An API key's `to.filter` is a client's filter (no hidden fields of users); admins' are not restricted.
    const message = await messages.send(await jsonBody(c), {
      source: sourceOf(p),
      restricted: p.kind === 'key',
    })
    return c.json(message, 202)
  })
  r.get('/', async (c) => c.json(await messages.list(parseInput(messagesQuery, c.req.query()))))
  r.get('/:id', async (c) => c.json(await messages.get(c.req.param('id'))))
  r.get('/:id/deliveries', async (c) =>
    c.json(await messages.deliveries(c.req.param('id'), parseInput(deliveriesQuery, c.req.query()))),
  )
  r.delete('/:id', async (c) => c.json(await messages.cancel(c.req.param('id'))))
  return r
}
