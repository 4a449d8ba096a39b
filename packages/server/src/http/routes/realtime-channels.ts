import { type Context, Hono } from 'hono'
import { principalId } from '../../core/auth/principal.ts'
import { createChannelDefinitions } from '../../core/channels/channel-definitions.ts'
import type { Collection } from '../../core/collections/types.ts'
import type { Db } from '../../db/create-db.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { AppEnv } from '../context.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { assertScope } from '../middleware/require-scope.ts'

/**
 * Realtime channel definitions (who may join and send on which channels), schema-like: console admins and
 * API keys with the `schema` scope.
 */
export function realtimeChannelRoutes(deps: {
  readonly db: Db
  readonly lookup: (name: string) => Collection | undefined
  /** Definition changes are recorded through this (the audit log). */
  readonly actions?: AdminActions
}) {
  const definitions = createChannelDefinitions(deps)
  const r = new Hono<AppEnv>()

  const schemaActor = (c: Context<AppEnv>) => assertScope(c.var.principal, 'schema', 'Managing channels')

  r.get('/', async (c) => {
    schemaActor(c)
    return c.json({ items: await definitions.list() })
  })
  r.post('/', async (c) => {
    schemaActor(c)
    return c.json(await definitions.create(await jsonBody(c), principalId(c.var.principal)), 201)
  })
  r.get('/:id', async (c) => {
    schemaActor(c)
    return c.json(await definitions.get(c.req.param('id')))
  })
  r.patch('/:id', async (c) => {
    schemaActor(c)
    return c.json(
      await definitions.update(c.req.param('id'), await jsonBody(c), principalId(c.var.principal)),
    )
  })
  r.delete('/:id', async (c) => {
    schemaActor(c)
    await definitions.remove(c.req.param('id'), principalId(c.var.principal))
    return c.body(null, 204)
  })
  return r
}
