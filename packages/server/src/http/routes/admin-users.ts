import { randomBytes } from 'node:crypto'
import { type Context, Hono } from 'hono'
import { sql } from 'kysely'
import { z } from 'zod'
import type { Config } from '../../config/load-config.ts'
import type { AdminAuth } from '../../core/auth/admin-auth.ts'
import { setupFirstAdmin } from '../../core/auth/admin-auth.ts'
import type { Auth } from '../../core/auth/create-auth.ts'
import { passwordProblem } from '../../core/auth/password-policy.ts'
import { type Principal, principalId } from '../../core/auth/principal.ts'
import type { UserEvents } from '../../core/auth/user-events.ts'
import { USERS } from '../../core/auth/users-collection.ts'
import type { RecordsService } from '../../core/records/service.ts'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'
import { jsonBody } from '../middleware/json-body.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** Columns of data.users the console sets itself (the records API never writes them). */
const SYSTEM_PATCH = ['email', 'verified', 'role'] as const
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
}

/** Everything the console API adds, for AppDeps.mounts. */
export function adminConsoleMounts(deps: AdminConsoleDeps) {
  return [
    { path: '/api/admin/setup', app: adminSetupRoutes(deps) },
    { path: '/api/admin/users', app: adminUsersRoutes(deps) },
    { path: '/api/admin/audit', app: adminAuditRoutes(deps) },
  ]
}

const newAdmin = z
  .object({
    email: z.string().trim().min(3).max(320),
    password: z.string().min(1).max(256),
    name: z.string().trim().max(200).optional(),
  })
  .strict()

const setupInput = newAdmin.extend({ setupToken: z.string().max(200).optional() })

/**
 * POST /api/admin/setup: the first console admin, while there is none, for the admin key (or an API key with
 * every scope) or a caller sending the setup token printed in the server log; refused (409) forever after.
 */
export function adminSetupRoutes(deps: AdminConsoleDeps) {
  const r = new Hono<AppEnv>()
  r.post('/', async (c) => {
    const { setupToken, ...input } = setupInput.parse(await jsonBody(c))
    const p = c.var.principal
    const admin = await setupFirstAdmin(deps.db, deps.adminAuth, deps.config, input, {
      principal: p,
      setupToken,
      secret: deps.secret,
    })
    const actor = p.kind === 'admin' || p.kind === 'key' ? actorOf(p) : 'setup'
    await audit(deps.db, actor, 'admin.setup', admin.id, { email: admin.email })
    return c.json(admin, 201)
  })
  return r
}

/** Console routes answer only to admins: BASTIDE_ADMIN_KEY or a console admin's session, never an API key. */
function requireAdmin(r: Hono<AppEnv>) {
  r.use('*', async (c, next) => {
    const p = c.var.principal
    if (p.kind === 'anonymous') throw errors.unauthorized()
    if (p.kind !== 'admin') throw errors.forbidden('Only console admins can do this.')
    return next()
  })
}

function userId(c: Context<AppEnv>): string {
  const id = c.req.param('id') ?? ''
  if (!UUID.test(id)) throw errors.badRequest('The user id must be a UUID.')
  return id
}

async function audit(
  db: Db,
  actor: string,
  action: string,
  target: string | null,
  details?: Record<string, unknown>,
): Promise<void> {
  await sql`INSERT INTO bastide.audit_log (actor, action, target, details)
    VALUES (${actor}, ${action}, ${target}, ${details ? JSON.stringify(details) : null}::jsonb)`.execute(db)
}

const actorOf = (p: Principal) => principalId(p)

const paging = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  perPage: z.coerce.number().int().min(1).max(200).default(50),
})

const createUser = z
  .object({
    email: z.email().max(320),
    password: z.string().min(1).max(256),
    name: z.string().trim().max(200).optional(),
    verified: z.boolean().optional(),
  })
  .strict()

const ban = z
  .object({
    reason: z.string().trim().max(500).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()

const impersonate = z
  .object({ minutes: z.number().int().min(1).max(MAX_IMPERSONATION_MINUTES).optional() })
  .strict()

const systemPatch = z
  .object({
    email: z.email().max(320).optional(),
    verified: z.boolean().optional(),
    role: z.string().trim().min(1).max(50).optional(),
  })
  .strict()

/** The user as the console sees it: every column, ban state included. */
async function loadUser(db: Db, id: string): Promise<Record<string, unknown>> {
  const row = (
    await sql<Record<string, unknown>>`SELECT * FROM data.users WHERE id = ${id}::uuid`.execute(db)
  ).rows[0]
  if (!row) throw errors.notFound('User')
  return row
}

/** App users, managed from the console: /api/admin/users. */
export function adminUsersRoutes(deps: AdminConsoleDeps) {
  const { db, records, config, userEvents } = deps
  const r = new Hono<AppEnv>()
  requireAdmin(r)

  r.get('/', async (c) => {
    const { page, perPage } = paging.parse(c.req.query())
    const search = c.req.query('search')?.trim()
    const where = search
      ? sql`WHERE email ILIKE ${`%${escapeLike(search)}%`} OR name ILIKE ${`%${escapeLike(search)}%`}`
      : sql``
    const [items, total] = await Promise.all([
      sql<Record<string, unknown>>`SELECT * FROM data.users ${where}
        ORDER BY created DESC, id DESC LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`.execute(db),
      sql<{ n: number }>`SELECT count(*)::int AS n FROM data.users ${where}`.execute(db),
    ])
    const totalItems = total.rows[0]?.n ?? 0
    return c.json({
      items: items.rows,
      page,
      perPage,
      totalItems,
      totalPages: Math.ceil(totalItems / perPage),
    })
  })

  r.post('/', async (c) => {
    const input = createUser.parse(await jsonBody(c))
    const email = input.email.toLowerCase()
    const problem = passwordProblem(input.password, { email, minLength: config.auth.passwordMinLength })
    if (problem) throw errors.validation({ password: { code: 'weak', message: problem } })
    const ctx = await deps.auth.$context
    if (await ctx.internalAdapter.findUserByEmail(email)) throw errors.conflict('A user has this email.')
    const hash = await ctx.password.hash(input.password)
    const user = await ctx.internalAdapter.createUser(
      {
        email,
        name: input.name ?? '',
        emailVerified: input.verified ?? false,
      },
      { method: 'admin' },
    )
    await ctx.internalAdapter.linkAccount({
      userId: user.id,
      providerId: 'credential',
      accountId: user.id,
      password: hash,
    })
    await audit(db, actorOf(c.var.principal), 'user.create', user.id, { email })
    return c.json(await loadUser(db, user.id), 201)
  })

  r.get('/:id', async (c) => c.json(await loadUser(db, userId(c))))

  r.patch('/:id', async (c) => {
    const id = userId(c)
    const body = await jsonBody(c)
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw errors.badRequest('Send a JSON object.')
    const own: Record<string, unknown> = {}
    const rest: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(body)) {
      if ((SYSTEM_PATCH as readonly string[]).includes(k)) own[k] = v
      else rest[k] = v
    }
    const sys = systemPatch.parse(own)
    const p = c.var.principal
    await inTransaction(db, async (tx) => {
      await loadUser(tx.db as Db, id)
      const sets = [
        ...(sys.email !== undefined ? [sql`email = ${sys.email.toLowerCase()}`] : []),
        ...(sys.verified !== undefined ? [sql`verified = ${sys.verified}`] : []),
        ...(sys.role !== undefined ? [sql`role = ${sys.role}`] : []),
      ]
      if (sets.length > 0)
        await sql`UPDATE data.users SET ${sql.join(sets)}, updated = now() WHERE id = ${id}::uuid`.execute(
          tx.db,
        )
      // Profile fields after the system ones: the records service's event then carries the final row, so
      // one PATCH sends one `record.updated`.
      if (Object.keys(rest).length > 0) await records.update(USERS, id, rest, p, { tx })
      else if (sets.length > 0) await userEvents.updatedIn(tx, id)
      await audit(tx.db as Db, actorOf(p), 'user.update', id, { fields: Object.keys(body) })
    })
    return c.json(await loadUser(db, id))
  })

  r.post('/:id/verify', async (c) => {
    const id = userId(c)
    await inTransaction(db, async (tx) => {
      const res =
        await sql`UPDATE data.users SET verified = true, updated = now() WHERE id = ${id}::uuid`.execute(
          tx.db,
        )
      if (!res.numAffectedRows) throw errors.notFound('User')
      await userEvents.updatedIn(tx, id)
      await audit(tx.db as Db, actorOf(c.var.principal), 'user.verify', id)
    })
    return c.json(await loadUser(db, id))
  })

  r.post('/:id/ban', async (c) => {
    const id = userId(c)
    const input = ban.parse(await jsonBody(c))
    if (input.expiresAt && new Date(input.expiresAt) <= new Date())
      throw errors.validation({ expiresAt: { code: 'past', message: 'A ban ends in the future.' } })
    await inTransaction(db, async (tx) => {
      const res = await sql`UPDATE data.users SET banned = true, "banReason" = ${input.reason ?? null},
          "banExpires" = ${input.expiresAt ?? null}::timestamptz, updated = now()
        WHERE id = ${id}::uuid`.execute(tx.db)
      if (!res.numAffectedRows) throw errors.notFound('User')
      await userEvents.updatedIn(tx, id)
      // Sessions go with the ban: session tokens and the access JWTs minted from them stop at once.
      const del = await sql`DELETE FROM bastide.auth_sessions WHERE "userId" = ${id}::uuid`.execute(tx.db)
      await audit(tx.db as Db, actorOf(c.var.principal), 'user.ban', id, {
        reason: input.reason ?? null,
        expiresAt: input.expiresAt ?? null,
        sessionsRevoked: Number(del.numAffectedRows ?? 0),
      })
    })
    return c.json(await loadUser(db, id))
  })

  r.post('/:id/unban', async (c) => {
    const id = userId(c)
    await inTransaction(db, async (tx) => {
      const res = await sql`UPDATE data.users SET banned = false, "banReason" = NULL, "banExpires" = NULL,
          updated = now() WHERE id = ${id}::uuid`.execute(tx.db)
      if (!res.numAffectedRows) throw errors.notFound('User')
      await userEvents.updatedIn(tx, id)
      await audit(tx.db as Db, actorOf(c.var.principal), 'user.unban', id)
    })
    return c.json(await loadUser(db, id))
  })

  r.delete('/:id', async (c) => {
    const id = userId(c)
    const p = c.var.principal
    // Through the records service: relation fields pointing at users apply their on-delete actions (with
    // events); sessions, accounts and second factors go by foreign-key cascade.
    await inTransaction(db, async (tx) => {
      const user = await loadUser(tx.db as Db, id)
      await records.remove(USERS, id, p, { tx })
      await audit(tx.db as Db, actorOf(p), 'user.delete', id, { email: user.email })
    })
    return c.body(null, 204)
  })

  r.get('/:id/sessions', async (c) => {
    const id = userId(c)
    await loadUser(db, id)
    const rows = await sql<Record<string, unknown>>`
      SELECT id, "createdAt", "updatedAt", "expiresAt", "ipAddress", "userAgent", "impersonatedBy"
      FROM bastide.auth_sessions WHERE "userId" = ${id}::uuid ORDER BY "createdAt" DESC`.execute(db)
    return c.json({ items: rows.rows })
  })

  r.delete('/:id/sessions', async (c) => {
    const id = userId(c)
    const revoked = await inTransaction(db, async (tx) => {
      await loadUser(tx.db as Db, id)
      const del = await sql`DELETE FROM bastide.auth_sessions WHERE "userId" = ${id}::uuid`.execute(tx.db)
      const n = Number(del.numAffectedRows ?? 0)
      await audit(tx.db as Db, actorOf(c.var.principal), 'user.sessions.revoke', id, { revoked: n })
      return n
    })
    return c.json({ revoked })
  })

  r.post('/:id/impersonate', async (c) => {
    const id = userId(c)
    const input = impersonate.parse(await jsonBody(c))
    const minutes = input.minutes ?? 15
    const p = c.var.principal
    const by = p.kind === 'admin' && p.adminId ? p.adminId : 'admin'
    const token = randomBytes(24).toString('base64url')
    const sessionId = crypto.randomUUID()
    const expiresAt = await inTransaction(db, async (tx) => {
      const user = await loadUser(tx.db as Db, id)
      if (user.banned === true && (!user.banExpires || new Date(user.banExpires as string) > new Date()))
        throw errors.conflict('This user is banned.')
      // A short session of its own, marked with the admin: never an extension of the user's own sessions.
      const res = await sql<{ expiresAt: string }>`
        INSERT INTO bastide.auth_sessions (id, token, "userId", "expiresAt", "userAgent", "impersonatedBy")
        VALUES (${sessionId}, ${token}, ${id}::uuid, now() + make_interval(mins => ${minutes}),
          'bastide-console (impersonation)', ${by})
        RETURNING "expiresAt"`.execute(tx.db)
      await audit(tx.db as Db, actorOf(p), 'user.impersonate', id, { sessionId, minutes })
      return res.rows[0]!.expiresAt
    })
    return c.json({ token, sessionId, expiresAt, userId: id }, 201)
  })

  return r
}

/** GET /api/admin/audit: the console's audit trail, newest first; `?target=` and `?action=` narrow it. */
export function adminAuditRoutes(deps: AdminConsoleDeps) {
  const r = new Hono<AppEnv>()
  requireAdmin(r)
  r.get('/', async (c) => {
    const { page, perPage } = paging.parse(c.req.query())
    const conds = []
    const target = c.req.query('target')
    const action = c.req.query('action')
    const actor = c.req.query('actor')
    if (target) conds.push(sql`target = ${target}`)
    if (action) conds.push(sql`action = ${action}`)
    if (actor) conds.push(sql`actor = ${actor}`)
    const where = conds.length ? sql`WHERE ${sql.join(conds, sql` AND `)}` : sql``
    const rows = await sql<Record<string, unknown>>`SELECT seq, at, actor, action, target, details
      FROM bastide.audit_log ${where} ORDER BY seq DESC LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`.execute(
      deps.db,
    )
    return c.json({ items: rows.rows, page, perPage })
  })
  return r
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`)
}
