import { type Context, Hono } from 'hono'
import { principalId } from '../../core/auth/principal.ts'
import { checkDraftRule, checkRuleInput } from '../../core/collections/check-rule.ts'
import type { CollectionsService } from '../../core/collections/service.ts'
import { parseInput } from '../../errors/parse-input.ts'
import type { AppEnv } from '../context.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { assertScope } from '../middleware/require-scope.ts'

/** Schema management: console admins and API keys with the `schema` scope. */
export function collectionRoutes(deps: { collections: CollectionsService }) {
  const { collections } = deps
  const r = new Hono<AppEnv>()

  // Checked per handler, not with use('*'): record routes share the /api/collections prefix.
  const actor = (c: Context<AppEnv>) => {
    const p = c.var.principal
    assertScope(p, 'schema')
    return principalId(p)
  }

  r.get('/', (c) => {
    actor(c)
    return c.json({ items: collections.list() })
  })
  r.post('/', async (c) => c.json(await collections.create(await jsonBody(c), actor(c)), 201))
  // POST /check-rule, registered as a parameter: with a literal segment beside `/:collection/records` for the
  // same method, hono's RegExpRouter gives up and the whole app falls back to its slower trie router. A hyphen
  // cannot appear in a collection name (names.ts), so this never shadows a collection; anything else is the
  // route-not-found it was before.
  r.post('/:action', async (c) => {
    if (c.req.param('action') !== 'check-rule') return c.notFound()
    actor(c)
    checkDraftRule(parseInput(checkRuleInput, await jsonBody(c)), (n) => collections.find(n))
    return c.json({ ok: true })
  })
  r.get('/:name', (c) => {
    actor(c)
    return c.json(collections.get(c.req.param('name')))
  })
  r.patch('/:name', async (c) =>
    c.json(await collections.update(c.req.param('name'), await jsonBody(c), actor(c))),
  )
  r.delete('/:name', async (c) => {
    await collections.remove(c.req.param('name'), actor(c))
    return c.body(null, 204)
  })
  return r
}
