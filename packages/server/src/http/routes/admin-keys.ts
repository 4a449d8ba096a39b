import { Hono } from 'hono'
import { z } from 'zod'
import type { ApiKeysService } from '../../core/auth/api-keys.ts'
import { SCOPES } from '../../core/auth/principal.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { requireScope } from '../middleware/require-scope.ts'

/** POST /api/admin/keys; also the `ApiKeyInput` schema of /api/openapi.json. */
export const keyInput = z
  .object({
    name: z.string().trim().min(1).max(100),
    scopes: z.array(z.enum(SCOPES)).min(1),
    expires: z.iso
      .datetime({ offset: true })
      .optional()
      .describe(
        'When the key stops working (in the future); never when left out. A key minted by a key never ' +
          "outlives it: left out, it gets the minter's expiry; a later one is refused (403).",
      ),
  })
  .strict()

/** Secret API keys: only the admin key or a key with the `keys` scope manages them. */
export function adminKeyRoutes(deps: { keys: ApiKeysService }) {
  const r = new Hono<AppEnv>()
  r.use('*', requireScope('keys'))
  r.get('/', async (c) => c.json({ items: await deps.keys.list() }))
  r.post('/', async (c) => {
    const input = keyInput.parse(await jsonBody(c))
    // The service checks a minting key against itself: no stronger scopes, no longer life.
    return c.json(await deps.keys.create(input, c.var.principal), 201)
  })
  r.delete('/:id', async (c) => {
    const id = c.req.param('id')
    // Not a UUID: no such key (rather than a database cast error).
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
      throw errors.notFound('API key')
    // The service checks a revoking key against the target: no taking down a stronger key.
    await deps.keys.revoke(id, c.var.principal)
    return c.body(null, 204)
  })
  return r
}
