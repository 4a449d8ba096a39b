import { Kysely, PostgresDialect, sql } from 'kysely'
import type { Logger } from 'pino'
import type { Config, OidcProvider } from '../../config/load-config.ts'
import { createPool, type Db } from '../../db/create-db.ts'
import type { EventBus } from '../../events/bus.ts'
import type { CollectionsService } from '../collections/service.ts'
import { createMailer, type Mailer } from '../mail/mailer.ts'
import { createRecipientBudget } from '../mail/recipient-budget.ts'
import { pickLocale, renderMail } from '../mail/templates.ts'
import type { RateLimiter } from '../rate-limit/index.ts'
import { createLiveProviders } from '../settings/live-providers.ts'
import type { SettingsService } from '../settings/settings-service.ts'
import { type AuthHooks, createAuthHooks } from './auth-hooks.ts'
import { type Auth, createAuth } from './create-auth.ts'
import { createAnonymousLinker } from './link-anonymous.ts'
import type { Authenticator } from './principal.ts'
import { createSessionCache, type SessionCache } from './session-cache.ts'
import { createSmsSender } from './sms.ts'
import { createUserEvents, type UserEvents } from './user-events.ts'
import { createUserAuthenticator, type UserAuthenticator } from './user-principal.ts'

export interface AuthRuntime {
  readonly auth: Auth
  readonly users: UserAuthenticator
  /**
   * Live sessions cached on this node. Requests that may change sessions or users run under its
   * `changing()` (see http/middleware/session-barrier.ts), so that the next request sees the change.
   */
  readonly sessions: SessionCache
  readonly authenticators: readonly Authenticator[]
  readonly mailer: Mailer
  readonly secret: string
  /** The OAuth/OIDC providers better-auth was built with (environment's and runtime settings'). */
  readonly providers: readonly { readonly id: string; readonly kind: 'social' | 'oidc' }[]
  /** Record events for writes to the users collection made outside the records service. */
  readonly userEvents: UserEvents
  /** better-auth's own Kysely (pg's default parsers: Date objects), on a small pool of its own. */
  readonly authDb: Kysely<any>
  /** Sign-up and sign-in hooks (the functions module sets them). */
  readonly hooks: AuthHooks
  close(): Promise<void>
}

/** Everything auth needs, wired: mailer, SMS, better-auth, and the user authenticators. */
export async function startAuth(deps: {
  config: Config
  databaseUrl: string
  db: Db
  log: Logger
  baseUrl: string
  /** BASTIDE_SECRET or the generated one (see resolveSecret): signs JWTs, cookies, SMS webhooks. */
  secret: string
  /** Relations to users are repointed when an anonymous user signs up; the data export lists records. */
  collections: Pick<CollectionsService, 'list' | 'get'>
  /** Writes to users made by better-auth emit record events here, like the records service's. */
  bus: EventBus
  /** Holds the per-recipient budget every mail and SMS draws on. */
  rateLimiter: RateLimiter
  /**
   * Runtime settings (the settings module): SMTP, switched-off methods and providers apply at once; the
   * providers' list is read once, here. Without it, the environment's values hold.
   */
  settings?: SettingsService
}): Promise<AuthRuntime> {
  const { db, log, bus, settings } = deps
  const config = settings ? withProviders(deps.config, settings.providersAtStart()) : deps.config
  const userEvents = createUserEvents({ db, bus, collections: deps.collections })
  const { secret } = deps
  // Bounded like the main pool: a hung PostgreSQL gets 503s here too, not requests that never end.
  const pool = createPool({
    connectionString: deps.databaseUrl,
    max: Math.max(2, Math.ceil(config.dbPoolMax / 2)),
    statementTimeoutMs: config.dbStatementTimeoutMs,
  })
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle auth database connection lost'))
  const authDb = new Kysely<any>({ dialect: new PostgresDialect({ pool }) })
  const budget = createRecipientBudget({
    limiter: deps.rateLimiter,
    limit: config.auth.mailRecipientLimit,
    windowSeconds: config.auth.mailRecipientWindow,
    log,
  })
  const mailer = createMailer({
    smtp: settings ? () => settings.current().smtp : () => ({ url: config.smtpUrl, from: config.smtpFrom }),
    log,
    budget,
  })
  const sms = createSmsSender({ webhookUrl: config.auth.smsWebhookUrl, secret, log, budget })

  const hooks = createAuthHooks()
  const auth = createAuth({
    hooks,
    config,
    db: authDb,
    secret,
    baseUrl: deps.baseUrl,
    mailer,
    sms,
    log,
    ...(settings ? { settings: () => settings.current() } : {}),
    collections: () => deps.collections.list(),
    onLinkAnonymous: createAnonymousLinker({ db, bus, collections: () => deps.collections.list() }),
    onUserChanged: (action, userId) => userEvents.changed(action, userId),
    onUserDeleting: (userId) => userEvents.deleting(userId),
    onSessionCreated: async (s) => {
      await capSessions(authDb, s.userId, config.auth.maxSessionsPerUser)
      await noticeNewDevice(authDb, mailer, log, s)
    },
  })
  // Providers added or changed in the settings apply at once (see live-providers.ts), here and on every node.
  let stopProviders = () => {}
  if (settings) {
    const live = createLiveProviders({
      context: auth.$context,
      log,
      builtWith: settings
        .current()
        .oauth.providers.filter((p) => p.source === 'database')
        .map((p) => p.id),
    })
    const off = settings.onChange((s) => live.apply(s))
    stopProviders = () => void off()
  }
  const sessions = await createSessionCache({
    db,
    databaseUrl: deps.databaseUrl,
    onError: (err) =>
      log.warn({ err: (err as Error).message }, 'auth session listener lost; not caching sessions'),
  })
  const users = createUserAuthenticator({ db, secret, issuer: new URL(deps.baseUrl).origin, sessions })
  const authenticators: Authenticator[] = [
    // Three dot-separated parts: a JWT. One dot or none: a session token.
    (t) => (t.split('.').length === 3 ? users.fromJwt(t) : users.fromSessionToken(t)),
  ]
  return {
    auth,
    users,
    sessions,
    authenticators,
    providers: [
      ...Object.keys(config.auth.social).map((id) => ({ id, kind: 'social' as const })),
      ...config.auth.oidc.map((p) => ({ id: p.id, kind: 'oidc' as const })),
    ],
    mailer,
    secret,
    userEvents,
    authDb,
    hooks,
    async close() {
      stopProviders()
      await sessions.close()
      mailer.close()
      await authDb.destroy()
    },
  }
}

/** The environment's config with every provider in force (env first, then the settings'; env wins on an id). */
function withProviders(config: Config, providers: ReturnType<SettingsService['providersAtStart']>): Config {
  const social: Record<string, { clientId: string; clientSecret: string | undefined }> = {}
  const oidc: OidcProvider[] = []
  for (const p of providers) {
    if (p.type === 'social') social[p.id] = { clientId: p.clientId, clientSecret: p.clientSecret }
    else if (p.issuer)
      oidc.push({
        id: p.id,
        issuer: p.issuer,
        clientId: p.clientId,
        clientSecret: p.clientSecret,
        scopes: p.scopes,
      })
  }
  return Object.freeze({ ...config, auth: Object.freeze({ ...config.auth, social, oidc }) })
}

/** Past the operator's cap, a new sign-in ends the user's oldest sessions. */
async function capSessions(db: Kysely<any>, userId: string, cap: number): Promise<void> {
  if (cap <= 0) return
  await sql`
    DELETE FROM bastide.auth_sessions WHERE id IN (
      SELECT id FROM bastide.auth_sessions WHERE "userId" = ${userId}
      ORDER BY "createdAt" DESC, id DESC OFFSET ${cap})`.execute(db)
}

/** The first sign-in from a device (by user agent) on an account that already had one gets an email. */
async function noticeNewDevice(
  db: Kysely<any>,
  mailer: Mailer,
  log: Logger,
  s: { userId: string; userAgent?: string | null; ipAddress?: string | null },
): Promise<void> {
  const device = (s.userAgent ?? 'unknown').slice(0, 300)
  const inserted = await sql<{ known: number }>`
    WITH ins AS (
      INSERT INTO bastide.auth_devices (user_id, device) VALUES (${s.userId}, ${device})
      ON CONFLICT DO NOTHING RETURNING 1)
    SELECT (SELECT count(*) FROM ins)::int AS inserted,
           (SELECT count(*) FROM bastide.auth_devices WHERE user_id = ${s.userId})::int AS known`.execute(db)
  const row = inserted.rows[0] as unknown as { inserted: number; known: number } | undefined
  // `known` counts rows as they were before this statement: the new device is not among them.
  if (!row || row.inserted === 0 || row.known === 0) return
  const user = await db
    .selectFrom('data.users')
    .select(['email', 'locale', 'anonymous'])
    .where('id', '=', s.userId)
    .executeTakeFirst()
  if (!user || user.anonymous || user.email.endsWith('.invalid')) return
  const mail = renderMail('new-device', pickLocale(user.locale), {
    appName: 'Bastide',
    device,
    ...(s.ipAddress ? { ip: s.ipAddress } : {}),
  })
  await mailer
    .send({ to: user.email, ...mail })
    .catch((err) => log.error({ err: (err as Error).message }, 'could not send new-device email'))
}
