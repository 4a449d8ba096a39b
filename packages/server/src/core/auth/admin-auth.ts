import { createHmac } from 'node:crypto'
import { passkey } from '@better-auth/passkey'
import { APIError, betterAuth } from 'better-auth'
import { createAuthMiddleware } from 'better-auth/api'
import { bearer, openAPI, twoFactor } from 'better-auth/plugins'
import { type Kysely, sql } from 'kysely'
import type { Logger } from 'pino'
import type { Config } from '../../config/load-config.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import { trustedOrigins } from './create-auth.ts'
import { passwordProblem } from './password-policy.ts'
import { ownSchema } from './plugins/own-schema.ts'
import { refuseTotpReplay } from './plugins/refuse-totp-replay.ts'
import { sessionIds } from './plugins/session-ids.ts'
import { twoFactorPending } from './plugins/two-factor-pending.ts'
import { type Principal, SCOPES } from './principal.ts'
import { sessionTokenValue } from './session-token.ts'
import { consoleHasAdmin, isSetupToken, SETUP_TOKEN_HOW } from './setup-token.ts'

export const ADMIN_AUTH_BASE_PATH = '/api/admin/auth'
/** Console admins sign in again after half a day. */
const ADMIN_SESSION_SECONDS = 12 * 3600
/** Admin passwords are never shorter than this, whatever the app users' minimum is. */
const ADMIN_PASSWORD_MIN = 12
/** pg_try_advisory_lock key taken while the first admin is created (any constant unique to this use). */
const SETUP_LOCK = 0x6273_7461_646d

/**
 * The admins' secret, derived from the main one: admin session cookies and bearer signatures are keyed
 * apart from app users', so a token one population holds can never verify as the other's.
 */
export function adminSecret(secret: string): string {
  return createHmac('sha256', secret).update('bastide:console-admin').digest('base64url')
}

export interface AdminAuthDeps {
  readonly config: Config
  /** better-auth's Kysely (pg's default parsers), the same one the app instance uses. */
  readonly db: Kysely<any>
  /** The main secret; the admin instance derives its own from it. */
  readonly secret: string
  readonly baseUrl: string
  readonly log: Logger
  /**
   * Records what an admin changes on their own account (TOTP, passkeys, password, sessions) in the audit log.
   * The CLI, which only creates admins, goes without.
   */
  readonly actions?: AdminActions | undefined
}

/**
 * Console admins' better-auth instance, at /api/admin/auth: a population apart from app users, in the
 * bastide.admin* tables, with its own cookies and secret. No sign-up (the first admin comes from
 * POST /api/admin/setup, POST /api/admin/admins or the admin:create command), TOTP second factor, passkeys,
 * bearer tokens.
 */
export function createAdminAuth(deps: AdminAuthDeps) {
  const { config, log } = deps
  const minLength = Math.max(ADMIN_PASSWORD_MIN, config.auth.passwordMinLength)
  const origins = trustedOrigins(config, deps.baseUrl)
  return betterAuth({
    appName: 'Bastide console',
    baseURL: deps.baseUrl,
    basePath: ADMIN_AUTH_BASE_PATH,
    secret: adminSecret(deps.secret),
    database: { db: deps.db, type: 'postgres' },
    trustedOrigins: origins,
    telemetry: { enabled: false },
    // Limits are applied in front of the handler, as for /api/auth.
    rateLimit: { enabled: false },
    logger: {
      level: 'warn',
      log: (level, message, ...args) => log[level]({ args }, `admin auth: ${message}`),
    },
    advanced: {
      cookiePrefix: 'bastide_admin',
      database: { generateId: () => crypto.randomUUID() },
      ipAddress: { ipAddressHeaders: ['x-bastide-client-ip'], ipv6Subnet: 64 },
      // better-auth turns both off when NODE_ENV=test or TEST is set: they stay on whatever the environment.
      disableOriginCheck: false,
      disableCSRFCheck: false,
    },
    user: { modelName: 'bastide.admins' },
    session: {
      modelName: 'bastide.admin_sessions',
      expiresIn: ADMIN_SESSION_SECONDS,
      updateAge: 3600,
    },
    account: { modelName: 'bastide.admin_accounts' },
    verification: { modelName: 'bastide.admin_verifications' },
    emailAndPassword: {
      enabled: true,
      disableSignUp: true,
      minPasswordLength: minLength,
      maxPasswordLength: 256,
      autoSignIn: false,
      revokeSessionsOnPasswordReset: true,
    },
    databaseHooks: {
      session: {
        create: {
          // Runs once the session is committed. Not a sign-in: a session that replaces the caller's own
          // (turning TOTP on or off), or the password step of an admin with TOTP, whose session the two-factor
          // plugin drops at once (the sign-in ends with the code, which makes a session of its own).
          after: async (session, ctx) => {
            if (ctx?.context.session) return
            const passwordStep = ctx?.path === '/sign-in/email'
            await sql`
              UPDATE bastide.admins SET "lastSignInAt" = now()
              WHERE id = ${session.userId} AND NOT (${passwordStep} AND "twoFactorEnabled")`
              .execute(deps.db)
              .catch((err) =>
                log.warn({ err: (err as Error).message }, 'admin auth: could not record the sign-in time'),
              )
          },
        },
      },
    },
    hooks: {
      after: createAuthMiddleware(async (ctx) => {
        const actions = deps.actions
        if (!actions) return
        const what = accountAction(ctx)
        const adminId = ctx.context.session?.user.id
        if (!what || !adminId) return
        // After better-auth committed the change (its adapter, not one of our transactions): a failed entry is
        // logged, the admin's request still succeeds.
        await actions
          .record(deps.db, { actor: `admin:${adminId}`, target: adminId, ...what })
          .catch((err) => log.error({ err: (err as Error).message, action: what.action }, 'could not audit'))
      }),
      before: createAuthMiddleware(async (ctx) => {
        const body = (ctx.body ?? {}) as Record<string, unknown>
        const pw = ctx.path === '/change-password' ? body.newPassword : undefined
        if (typeof pw === 'string') {
          const problem = passwordProblem(pw, { email: ctx.context.session?.user.email, minLength })
          if (problem) throw new APIError('BAD_REQUEST', { code: 'WEAK_PASSWORD', message: problem })
        }
      }),
    },
    plugins: [
      bearer(),
      // Feeds /api/openapi.json; better-auth's own reference page stays off.
      openAPI({ disableDefaultReference: true }),
      sessionIds({ db: deps.db, table: 'bastide.admin_sessions' }),
      // Its own copy of the schema: the app users' instance names the table differently (see own-schema.ts).
      // A TOTP code works once (RFC 6238 §5.2), as for app users.
      refuseTotpReplay(
        ownSchema(
          twoFactor({
            issuer: 'Bastide console',
            skipVerificationOnEnable: false,
            schema: { twoFactor: { modelName: 'bastide.admin_two_factors' } },
            accountLockout: { enabled: true, maxFailedAttempts: 5, durationSeconds: 15 * 60 },
          }),
        ),
        { db: deps.db, table: 'bastide.admin_two_factors' },
      ),
      adminPasskeys(deps.baseUrl, origins),
      // After bearer() and twoFactor(), as for app users: clients without cookies (the CLI) finish a TOTP sign-in.
      twoFactorPending(),
    ],
  })
}

export type AdminAuth = ReturnType<typeof createAdminAuth>

type AuthHookContext = Parameters<Parameters<typeof createAuthMiddleware>[0]>[0]

/**
 * The audit entry of a successful change an admin made to their own account, or undefined (a sign-in, a read,
 * a refusal). Never a secret: no code, token or key material, only ids and names.
 */
function accountAction(
  ctx: AuthHookContext,
): { action: string; details?: Record<string, unknown> } | undefined {
  const returned = ctx.context.returned
  if (returned === undefined || returned instanceof APIError || returned instanceof Error) return undefined
  if (returned instanceof Response && !returned.ok) return undefined
  const body = (ctx.body ?? {}) as Record<string, unknown>
  switch (ctx.path) {
    case '/two-factor/verify-totp':
      // Confirming TOTP set-up replaces the caller's session; finishing a sign-in has no session to replace.
      return ctx.context.session && ctx.context.newSession ? { action: 'admin.totp.enable' } : undefined
    case '/two-factor/disable':
      return { action: 'admin.totp.disable' }
    case '/two-factor/generate-backup-codes':
      return { action: 'admin.totp.backup_codes' }
    case '/passkey/verify-registration': {
      const p = returned as { id?: unknown; name?: unknown }
      return { action: 'admin.passkey.add', details: { passkey: p.id ?? null, name: p.name ?? null } }
    }
    case '/passkey/delete-passkey':
      return { action: 'admin.passkey.remove', details: { passkey: body.id ?? null } }
    case '/revoke-session':
      return { action: 'admin.session.revoke' }
    case '/revoke-sessions':
      return { action: 'admin.session.revoke', details: { all: true } }
    case '/change-password':
      return { action: 'admin.password.change' }
    default:
      return undefined
  }
}

/**
 * Passkeys for console admins, in bastide.admin_passkeys (console module migration 0001): the relying party is
 * the server's host, as for app users, so a passkey made in the console works wherever the console is served.
 * The table name is set on a copy of the plugin's schema, never through its `schema` option: that option is
 * merged into the plugin module's one schema object (see own-schema.ts), which the app users' passkey plugin
 * (bastide.auth_passkeys) reads too and would then point at the admins' table.
 */
function adminPasskeys(baseUrl: string, origins: readonly string[]) {
  const plugin = ownSchema(
    passkey({
      rpName: 'Bastide console',
      rpID: new URL(baseUrl).hostname,
      origin: origins.filter((o) => /^https?:/.test(o)),
    }),
  )
  ;(plugin.schema.passkey as { modelName?: string }).modelName = 'bastide.admin_passkeys'
  return plugin
}

export interface NewAdmin {
  readonly email: string
  readonly password: string
  readonly name?: string | undefined
}

/**
 * A new admin's email, normalized (trimmed, lower case), once it looks like an address and the password is
 * strong enough for a console admin (never shorter than 12). 400 VALIDATION_FAILED naming the field otherwise.
 */
export function checkNewAdmin(config: Config, input: NewAdmin): { email: string; name: string } {
  const email = input.email.trim().toLowerCase()
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
    throw errors.validation({ email: { code: 'invalid', message: 'Not an email address.' } })
  const problem = passwordProblem(input.password, {
    email,
    minLength: Math.max(ADMIN_PASSWORD_MIN, config.auth.passwordMinLength),
  })
  if (problem) throw errors.validation({ password: { code: 'weak', message: problem } })
  if ([...input.password].length > 256)
    throw errors.validation({ password: { code: 'too_long', message: 'At most 256 characters.' } })
  return { email, name: input.name?.trim() ?? '' }
}

/**
 * Creates an admin with an email+password credential through the admin instance (its adapter, its
 * hasher). 409 when the address is taken, 400 for a weak password.
 */
export async function createAdmin(
  auth: AdminAuth,
  config: Config,
  input: NewAdmin,
): Promise<{ id: string; email: string; name: string }> {
  const ctx = await auth.$context
  const { email } = checkNewAdmin(config, input)
  if (await ctx.internalAdapter.findUserByEmail(email)) throw errors.conflict('An admin has this email.')
  const hash = await ctx.password.hash(input.password)
  let user: { id: string; email: string; name: string }
  try {
    user = await ctx.internalAdapter.createUser(
      {
        email,
        name: input.name?.trim() ?? '',
        emailVerified: true,
      },
      { method: 'admin' },
    )
  } catch (e) {
    if ((e as { code?: string }).code === '23505') throw errors.conflict('An admin has this email.')
    throw e
  }
  await ctx.internalAdapter.linkAccount({
    userId: user.id,
    providerId: 'credential',
    accountId: user.id,
    password: hash,
  })
  return { id: user.id, email: user.email, name: user.name }
}

/** What a setup call presents: who is calling, and the setup token it sent, if any. */
export interface SetupGrant {
  readonly principal: Principal
  readonly setupToken?: string | undefined
  /** The main secret, which the setup token derives from. */
  readonly secret: string
}

/**
 * Who may create the first admin: the admin key or an API key holding every scope (automation), or whoever
 * holds the setup token (a person reading the server's log). Never an anonymous caller without it.
 */
function authorizeSetup(grant: SetupGrant): void {
  const p = grant.principal
  if (p.kind === 'admin' || (p.kind === 'key' && SCOPES.every((s) => p.scopes.has(s)))) return
  const how = `Send ${SETUP_TOKEN_HOW} as "setupToken", or call with the admin key.`
  if (grant.setupToken !== undefined) {
    if (isSetupToken(grant.secret, grant.setupToken)) return
    throw errors.unauthorized(`This setup token is not valid. ${how}`)
  }
  if (p.kind === 'anonymous') throw errors.unauthorized(`Setting up the console needs a setup token. ${how}`)
  throw errors.forbidden(`Only the admin key or the setup token can set up the console. ${how}`)
}

/**
 * The first admin, only while there is none, for a caller `authorizeSetup` lets through. A session-level
 * advisory lock (tried, never waited on) serializes concurrent calls: one creates the admin, the others are
 * refused at once, and every later call finds an admin and is refused too (409, whatever it presents).
 */
export async function setupFirstAdmin(
  db: Db,
  auth: AdminAuth,
  config: Config,
  input: NewAdmin,
  grant: SetupGrant,
): Promise<{ id: string; email: string; name: string }> {
  const refused = () => errors.conflict('The console is already set up: an admin exists.')
  if (await consoleHasAdmin(db)) throw refused()
  authorizeSetup(grant)
  return db.connection().execute(async (conn) => {
    const got = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${SETUP_LOCK}::bigint) AS ok`.execute(
      conn,
    )
    if (!got.rows[0]?.ok) throw refused()
    try {
      if (await consoleHasAdmin(conn)) throw refused()
      return await createAdmin(auth, config, input)
    } finally {
      await sql`SELECT pg_advisory_unlock(${SETUP_LOCK}::bigint)`.execute(conn)
    }
  })
}

/**
 * Turns a console admin's session token (raw, or `token.signature` signed with the admin secret) into
 * `{ kind: 'admin', adminId }`. App users' tokens are not in admin_sessions and their signatures use the
 * other secret: they never resolve here.
 */
export function createAdminAuthenticator(deps: { db: Db; secret: string }) {
  const key = adminSecret(deps.secret)
  return async (token: string): Promise<Principal | undefined> => {
    // An access JWT (three parts) is an app user's; admins have none: sessionTokenValue refuses it.
    const raw = await sessionTokenValue(token, key)
    if (!raw) return undefined
    const row = (
      await sql<{ id: string; expiresAt: string | Date }>`
        SELECT a.id, s."expiresAt" FROM bastide.admin_sessions s JOIN bastide.admins a ON a.id = s."userId"
        WHERE s.token = ${raw}`.execute(deps.db)
    ).rows[0]
    if (!row || new Date(row.expiresAt) <= new Date()) return undefined
    return Object.freeze({ kind: 'admin', adminId: row.id })
  }
}
