import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { Config } from '../../config/load-config.ts'
import { createAdminUsersService } from '../../core/admin/users.ts'
import type { AdminAuth } from '../../core/auth/admin-auth.ts'
import { setupFirstAdmin } from '../../core/auth/admin-auth.ts'
import type { Auth } from '../../core/auth/create-auth.ts'
import { type Principal, principalId } from '../../core/auth/principal.ts'
import { consoleHasAdmin } from '../../core/auth/setup-token.ts'
import type { UserEvents } from '../../core/auth/user-events.ts'
import type { RecordsService } from '../../core/records/service.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { AppEnv } from '../context.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { requireScope } from '../middleware/require-scope.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const MAX_IMPERSONATION_MINUTES = 60

export interface AdminConsoleDeps {
  readonly config: Config
  readonly db: Db
  readonly records: RecordsService
  /** App users' better-auth instance (its adapter and hasher create users). */
  readonly auth: Auth
  readonly adminAuth: AdminAuth
  /** The console's own UPDATEs of data.users emit the users collection's `record.updated` through this. */
  readonly userEvents: UserEvents
  /** The main secret: the console setup token derives from it. */
  readonly secret: string
  /** Every admin action is recorded through this, in its transaction (the audit log). */
  readonly actions: AdminActions
}

/** Everything the console API adds: first-admin setup and app-user management. */
export function adminConsoleMounts(deps: AdminConsoleDeps) {
  return [
    { path: '/api/admin/setup', app: adminSetupRoutes(deps) },
    { path: '/api/admin/users', app: adminUsersRoutes(deps) },
  ]
}

export const newAdmin = z
  .object({
    email: z.string().trim().min(3).max(320),
    password: z.string().min(1).max(256),
    name: z.string().trim().max(200).optional(),
  })
  .strict()

export const setupInput = newAdmin.extend({ setupToken: z.string().max(200).optional() })

/**
 * POST /api/admin/setup: the first console admin, while there is none, for the admin key (or an API key with
 * every scope) or a caller sending the setup token printed in the server log; refused (409) forever after.
 */
export function adminSetupRoutes(deps: AdminConsoleDeps) {
  const r = new Hono<AppEnv>()
  // The console's first screen: the setup form while no admin exists, the sign-in form after. Says nothing else.
  r.get('/', async (c) => c.json({ needed: !(await consoleHasAdmin(deps.db)) }))
  r.post('/', async (c) => {
    const { setupToken, ...input } = setupInput.parse(await jsonBody(c))
    const p = c.var.principal
    const admin = await setupFirstAdmin(deps.db, deps.adminAuth, deps.config, input, {
      principal: p,
      setupToken,
      secret: deps.secret,
    })
    const actor = p.kind === 'admin' || p.kind === 'key' ? actorOf(p) : 'setup'
    await deps.actions.record(deps.db, {
      actor,
      action: 'admin.setup',
      target: admin.id,
      details: { email: admin.email },
    })
    return c.json(admin, 201)
  })
  return r
}

/**
 * User management answers to admins (BASTIDE_ADMIN_KEY or a console admin's session) and to API keys with the
 * `users` scope (scripts, `bastide users`). Impersonation stays with admins: it hands out a user's session.
 */
function requireUsersAccess(r: Hono<AppEnv>) {
  r.use('*', requireScope('users'))
}

function userId(c: Context<AppEnv>): string {
  const id = c.req.param('id') ?? ''
  if (!UUID.test(id)) throw errors.badRequest('The user id must be a UUID.')
  return id
}

const actorOf = (p: Principal) => principalId(p)

export const paging = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  perPage: z.coerce.number().int().min(1).max(200).default(50),
})

export const createUser = z
  .object({
    email: z.email().max(320),
    password: z.string().min(1).max(256),
    name: z.string().trim().max(200).optional(),
    verified: z.boolean().optional(),
  })
  .strict()

export const ban = z
  .object({
    reason: z.string().trim().max(500).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()

export const impersonate = z
  .object({ minutes: z.number().int().min(1).max(MAX_IMPERSONATION_MINUTES).optional() })
  .strict()

/** App users, managed from the console (or by a key with the `users` scope): /api/admin/users. */
export function adminUsersRoutes(deps: AdminConsoleDeps) {
  const users = createAdminUsersService({
    db: deps.db,
    records: deps.records,
    auth: deps.auth,
    passwordMinLength: deps.config.auth.passwordMinLength,
    userEvents: deps.userEvents,
    audit: deps.actions.record,
  })
  const r = new Hono<AppEnv>()
  requireUsersAccess(r)

  r.get('/', async (c) => {
    const { page, perPage } = paging.parse(c.req.query())
    return c.json(await users.list({ page, perPage, search: c.req.query('search')?.trim() }))
  })

  r.post('/', async (c) => {
    const input = createUser.parse(await jsonBody(c))
    return c.json(await users.create(input, c.var.principal), 201)
  })

  r.get('/:id', async (c) => c.json(await users.get(userId(c))))

  r.patch('/:id', async (c) => {
    const id = userId(c)
    const body = await jsonBody(c)
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw errors.badRequest('Send a JSON object.')
    return c.json(await users.update(id, body as Record<string, unknown>, c.var.principal))
  })

  r.post('/:id/verify', async (c) => c.json(await users.verify(userId(c), c.var.principal)))

  r.post('/:id/ban', async (c) => {
    const id = userId(c)
    const input = ban.parse(await jsonBody(c))
    return c.json(await users.ban(id, input, c.var.principal))
  })

  r.post('/:id/unban', async (c) => c.json(await users.unban(userId(c), c.var.principal)))

  r.delete('/:id', async (c) => {
    await users.remove(userId(c), c.var.principal)
    return c.body(null, 204)
  })

  // What a delete would take with it, for the console's delete dialog (writes nothing).
  r.get('/:id/delete-preview', async (c) => c.json(await users.deletePreview(userId(c))))

  r.get('/:id/sessions', async (c) => c.json({ items: await users.sessions(userId(c)) }))

  r.delete('/:id/sessions', async (c) => {
    const revoked = await users.revokeSessions(userId(c), c.var.principal)
    return c.json({ revoked })
  })

  r.post('/:id/impersonate', async (c) => {
    if (c.var.principal.kind !== 'admin')
      throw errors.forbidden('Only console admins can impersonate a user.')
    const id = userId(c)
    const input = impersonate.parse(await jsonBody(c))
    return c.json(await users.impersonate(id, input.minutes, c.var.principal), 201)
  })

  return r
}
