import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { Config } from '../../config/load-config.ts'
import { createAdminsService } from '../../core/admin/admins.ts'
import type { AdminAuth } from '../../core/auth/admin-auth.ts'
import type { Db } from '../../db/create-db.ts'
import { errors, parseInput } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { AppEnv } from '../context.ts'
import { jsonBody } from '../middleware/json-body.ts'

export interface AdminAdminsDeps {
  readonly config: Config
  readonly db: Db
  readonly adminAuth: AdminAuth
  /** Creating and deleting admins is audited through this, in the same transaction. */
  readonly actions: AdminActions
}

/** GET /api/admin/admins's query; also its parameters in /api/openapi.json (modules/console/openapi.ts). */
export const adminsQuery = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  perPage: z.coerce.number().int().min(1).max(200).default(50),
})

/** POST /api/admin/admins's body (the password rules are checked by the service: 12 characters at least). */
export const newAdminInput = z
  .object({
    email: z.string().trim().min(3).max(320).describe('Their sign-in address (stored in lower case).'),
    password: z.string().min(1).max(256).describe('At least 12 characters; they can change it later.'),
    name: z.string().trim().max(200).optional(),
  })
  .strict()

/** Admin ids are the UUIDs the admins' auth instance generates. */
const ADMIN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function adminId(c: Context<AppEnv>): string {
  const id = c.req.param('id') ?? ''
  if (!ADMIN_ID.test(id)) throw errors.badRequest('The admin id must be a UUID.')
  return id
}

/**
 * Console admins, for console admins (a session, or BASTIDE_ADMIN_KEY; never an API key, whatever its scopes):
 * GET / (a page), POST / (another admin), GET /:id, DELETE /:id (never oneself, never the last one).
 */
export function adminAdminsRoutes(deps: AdminAdminsDeps) {
  const admins = createAdminsService(deps)
  const r = new Hono<AppEnv>()
  r.use('*', async (c, next) => {
    const p = c.var.principal
    if (p.kind === 'anonymous') throw errors.unauthorized()
    if (p.kind !== 'admin') throw errors.forbidden('Only console admins can manage console admins.')
    return next()
  })

  r.get('/', async (c) => c.json(await admins.list(parseInput(adminsQuery, c.req.query()))))

  r.post('/', async (c) => {
    const input = parseInput(newAdminInput, await jsonBody(c))
    return c.json(await admins.create(input, c.var.principal), 201)
  })

  r.get('/:id', async (c) => c.json(await admins.get(adminId(c))))

  r.delete('/:id', async (c) => {
    await admins.remove(adminId(c), c.var.principal)
    return c.body(null, 204)
  })

  return r
}
