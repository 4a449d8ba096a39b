import { passkey } from '@better-auth/passkey'
import { APIError, betterAuth } from 'better-auth'
import { createAuthMiddleware } from 'better-auth/api'
import {
  anonymous,
  bearer,
  emailOTP,
  genericOAuth,
  jwt,
  magicLink,
  openAPI,
  phoneNumber,
  twoFactor,
} from 'better-auth/plugins'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { Config } from '../../config/load-config.ts'
import type { Collection } from '../collections/types.ts'
import type { Mailer } from '../mail/mailer.ts'
import { type MailKind, pickLocale, renderMail } from '../mail/templates.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { disabledBy } from '../settings/auth-methods.ts'
import type { EffectiveSettings } from '../settings/schema.ts'
import { type AuthHooks, hookUser } from './auth-hooks.ts'
import { passwordProblem } from './password-policy.ts'
import { accountData } from './plugins/account-data.ts'
import { idTokenSignIn } from './plugins/id-token.ts'
import { oauthExchange } from './plugins/oauth-exchange.ts'
import { ownSchema } from './plugins/own-schema.ts'
import { refreshSession } from './plugins/refresh.ts'
import { refuseTotpReplay } from './plugins/refuse-totp-replay.ts'
import { sessionIds } from './plugins/session-ids.ts'
import { twoFactorPending } from './plugins/two-factor-pending.ts'
import { ANONYMOUS_EMAIL_DOMAIN, isReservedEmail, PHONE_EMAIL_DOMAIN } from './reserved-email.ts'
import type { SmsSender } from './sms.ts'

export const AUTH_BASE_PATH = '/api/auth'
/** Minutes single-use links and codes stay valid. */
const LINK_MINUTES = 60
const OTP_MINUTES = 10
/** Signing keys rotate this often; a retired key stays published (and accepted) this long after. */
export const JWKS_ROTATION_SECONDS = 30 * 86_400
export const JWKS_GRACE_SECONDS = 30 * 86_400

/**
 * The origins better-auth takes cookie-bearing requests, callback URLs and passkeys from: the public URL's
 * and BASTIDE_TRUSTED_ORIGINS. Without BASTIDE_PUBLIC_URL the server calls itself http://localhost:$PORT;
 * http://127.0.0.1:$PORT and http://[::1]:$PORT are the same server on the same machine, so a developer who
 * opens one of those is not refused. Passkeys still belong to one host name (their rpID, `localhost`).
 */
export function trustedOrigins(config: Config, baseUrl: string): string[] {
  const base = new URL(baseUrl)
  const loopback =
    config.publicUrl === undefined && base.hostname === 'localhost'
      ? ['127.0.0.1', '[::1]'].map((host) => `${base.protocol}//${host}${base.port ? `:${base.port}` : ''}`)
      : []
  return [base.origin, ...loopback, ...config.auth.trustedOrigins]
}

export interface AuthDeps {
  readonly config: Config
  /** A Kysely on its own pool with pg's default type parsers (better-auth wants Date objects). */
  readonly db: Kysely<any>
  readonly secret: string
  /** The externally visible origin (BASTIDE_PUBLIC_URL, or the listening address). */
  readonly baseUrl: string
  readonly mailer: Mailer
  readonly sms: SmsSender
  readonly log: Logger
  /** Session lifecycle hooks that other parts of the server hang work on (new-device mail, caps). */
  readonly onSessionCreated?: (session: {
    id: string
    userId: string
    userAgent?: string | null
    ipAddress?: string | null
  }) => Promise<void>
  /** An anonymous user signed up for real: its data moves to the new account. */
  readonly onLinkAnonymous?: (fromUserId: string, toUserId: string) => Promise<void>
  /** The current collections, for the account data export (GDPR). */
  readonly collections?: () => readonly Collection[]
  /** A write to data.users committed (create, update, delete): the `users` record events go out. */
  readonly onUserChanged?: (action: 'create' | 'update' | 'delete', userId: string) => Promise<void>
  /** A user is about to be deleted: the record is kept for the `record.deleted` sent after commit. */
  readonly onUserDeleting?: (userId: string) => Promise<void>
  /** Runtime settings in force: sign-in methods and providers an operator switched off are refused. */
  readonly settings?: () => EffectiveSettings
  /** Sign-up and sign-in hooks (functions' `auth` triggers): before-* may refuse, after-* are told. */
  readonly hooks?: AuthHooks
}

/**
 * App users' better-auth instance, mounted at /api/auth. Users live in data.users (the `users`
 * collection); sessions, accounts, verification secrets, keys, TOTP secrets and passkeys in the
 * bastide schema, which the records API cannot reach.
 */
export function createAuth(deps: AuthDeps) {
  const { config, mailer, log } = deps
  const a = config.auth
  const appName = 'Bastide'

  const send = async (
    kind: MailKind,
    to: string,
    vars: { url?: string; code?: string; minutes?: number; device?: string; ip?: string },
    request?: Request,
    userLocale?: string | null,
  ) => {
    const locale = pickLocale(userLocale, request?.headers.get('accept-language'))
    await mailer.send({ to, ...renderMail(kind, locale, { appName, ...vars }) })
  }
  /** Mail failures must not tell an attacker whether the address exists: log, never throw to the client. */
  const sendQuietly = (...args: Parameters<typeof send>) =>
    send(...args).catch((err) =>
      log.error({ err: (err as Error).message, kind: args[0] }, 'could not send email'),
    )

  const origins = trustedOrigins(config, deps.baseUrl)

  /**
   * A before-* hook's verdict: its refusal, a throw or a timeout refuses (fail closed) with HOOK_REFUSED, so
   * nothing is created when the hook cannot say yes.
   */
  const askHook = async (
    hook: 'before-sign-up' | 'before-sign-in',
    user: () => Promise<Record<string, unknown> | undefined>,
    request: Request | undefined,
  ) => {
    const h = deps.hooks?.current()
    if (!h?.wants(hook)) return
    const u = await user()
    if (!u) return
    let refusal: string | undefined
    try {
      refusal = await h.before(hook, hookUser(u), request)
    } catch (err) {
      log.warn({ err: (err as Error).message, hook }, 'auth hook failed: refused')
      refusal = (err as Error).message || 'Refused.'
    }
    if (refusal !== undefined) throw new APIError('FORBIDDEN', { code: 'HOOK_REFUSED', message: refusal })
  }
  const tellHook = async (hook: 'after-sign-up' | 'after-sign-in', user: () => Promise<unknown>) => {
    const h = deps.hooks?.current()
    if (!h?.wants(hook)) return
    try {
      const u = (await user()) as Record<string, unknown> | undefined
      if (u) await h.after(hook, hookUser(u))
    } catch (err) {
      log.error({ err: (err as Error).message, hook }, 'could not run the auth hook')
    }
  }
  /**
   * Sign-ups by email whose hook already said yes (see hooks.before): better-auth answers a 403 from user
   * creation there with its made-up "maybe the address is taken" success, so the hook is asked earlier.
   */
  const askedAlready = new WeakSet<Request>()
  const userRow = (id: string) => () =>
    deps.db.selectFrom('data.users').selectAll().where('id', '=', id).executeTakeFirst()

  /**
   * A phone sign-up's made-up address, or another one at the same domain when an account holds it already:
   * one from before phone.invalid was reserved must not lock the phone's owner out. (A unique violation
   * left by a race between two sign-ups is a 409, see onAPIError.)
   */
  const unusedPhoneEmail = async (email: string): Promise<string> => {
    const suffix = `@${PHONE_EMAIL_DOMAIN}`
    if (!email.endsWith(suffix)) return email
    const taken = await deps.db
      .selectFrom('data.users')
      .select('id')
      .where('email', '=', email)
      .executeTakeFirst()
    if (!taken) return email
    return `${email.slice(0, -suffix.length)}.${crypto.randomUUID().slice(0, 8)}${suffix}`
  }

  /** The write is committed already: a failed event must not turn it into an error for the client. */
  const userEvent = async (action: 'create' | 'update' | 'delete', id: string | undefined) => {
    if (!id) return
    try {
      await deps.onUserChanged?.(action, id)
    } catch (err) {
      log.error({ err: (err as Error).message, action, userId: id }, 'could not emit user event')
    }
  }

  return betterAuth({
    appName,
    baseURL: deps.baseUrl,
    basePath: AUTH_BASE_PATH,
    secret: deps.secret,
    database: { db: deps.db, type: 'postgres' },
    trustedOrigins: origins,
    telemetry: { enabled: false },
    // An error better-auth did not expect (a database fault, a unique violation in a race) leaves its handler
    // for Bastide's one error handler: 503 while the database is away, 409 for a conflict, else a logged 500.
    onAPIError: { throw: true },
    // Bastide applies its own limits in front of /api/auth (per IP and per account, Redis or PostgreSQL).
    rateLimit: { enabled: false },
    logger: {
      level: 'warn',
      log: (level, message, ...args) => log[level]({ args }, `auth: ${message}`),
    },
    advanced: {
      cookiePrefix: 'bastide',
      // better-auth turns both off when NODE_ENV=test or TEST is set: they stay on whatever the environment.
      disableOriginCheck: false,
      disableCSRFCheck: false,
      database: { generateId: ({ model }) => (model === 'user' ? uuidv7() : crypto.randomUUID()) },
      ipAddress: {
        // Set by the /api/auth route from the socket (or X-Forwarded-For when BASTIDE_TRUST_PROXY is on).
        ipAddressHeaders: ['x-bastide-client-ip'],
        ipv6Subnet: 64,
      },
    },
    user: {
      modelName: 'data.users',
      fields: { emailVerified: 'verified', createdAt: 'created', updatedAt: 'updated' },
      additionalFields: {
        role: { type: 'string', input: false, required: false, defaultValue: 'user' },
        locale: { type: 'string', input: true, required: false },
        banned: { type: 'boolean', input: false, required: false, defaultValue: false, returned: false },
        banReason: { type: 'string', input: false, required: false, returned: false },
        banExpires: { type: 'date', input: false, required: false, returned: false },
      },
      changeEmail: {
        enabled: true,
        sendChangeEmailConfirmation: async ({ newEmail, url }, request) =>
          sendQuietly('change-email', newEmail, { url, minutes: LINK_MINUTES }, request),
      },
      deleteUser: { enabled: true },
    },
    session: {
      modelName: 'bastide.auth_sessions',
      expiresIn: a.sessionTtl,
      updateAge: Math.min(86_400, Math.floor(a.sessionTtl / 4)),
      additionalFields: { impersonatedBy: { type: 'string', input: false, required: false } },
    },
    account: {
      modelName: 'bastide.auth_accounts',
      accountLinking: { enabled: true, trustedProviders: ['email-password'] },
    },
    verification: { modelName: 'bastide.auth_verifications' },
    emailAndPassword: {
      enabled: true,
      minPasswordLength: a.passwordMinLength,
      maxPasswordLength: 256,
      requireEmailVerification: a.requireEmailVerification,
      // Sign-up answers the same whether or not the address already has an account (no enumeration), so
      // it cannot hand out a session: the client signs in right after (the SDK does it for you).
      autoSignIn: false,
      onExistingUserSignUp: async ({ user }, request) =>
        sendQuietly('existing-account', user.email, {}, request, (user as any).locale),
      // The made-up user answered for a taken address must read like a new row of data.users. better-auth
      // builds it from the schema, where a field without a default is null: phoneVerified is `false` in a
      // real row (a column default the phone plugin's schema does not declare).
      customSyntheticUser: ({ coreFields, additionalFields, id }) => ({
        ...coreFields,
        ...additionalFields,
        phoneNumberVerified: false,
        id,
      }),
      revokeSessionsOnPasswordReset: true,
      resetPasswordTokenExpiresIn: LINK_MINUTES * 60,
      sendResetPassword: async ({ user, url }, request) =>
        sendQuietly(
          'reset-password',
          user.email,
          { url, minutes: LINK_MINUTES },
          request,
          (user as any).locale,
        ),
    },
    emailVerification: {
      sendOnSignUp: true,
      autoSignInAfterVerification: true,
      expiresIn: LINK_MINUTES * 60,
      sendVerificationEmail: async ({ user, url }, request) =>
        sendQuietly(
          'verify-email',
          user.email,
          { url, minutes: LINK_MINUTES },
          request,
          (user as any).locale,
        ),
    },
    socialProviders: Object.fromEntries(
      Object.entries(a.social).map(([id, c]) => [
        id,
        { clientId: c.clientId, ...(c.clientSecret ? { clientSecret: c.clientSecret } : {}) },
      ]),
    ),
    hooks: {
      before: createAuthMiddleware(async (ctx) => {
        const body = (ctx.body ?? {}) as Record<string, unknown>
        // A method or provider switched off in the settings (read per request: a change applies at once).
        const refused = deps.settings && disabledBy(deps.settings(), ctx.path, body, ctx.params)
        if (refused) throw new APIError(refused.status, { code: refused.code, message: refused.message })
        // better-auth would accept a generic OIDC provider's ID token here, checking its nonce only when the
        // caller sends one. /sign-in/id-token checks it whenever the token carries one: use that instead.
        if (ctx.path === '/sign-in/social' && body.idToken && a.oidc.some((p) => p.id === body.provider)) {
          throw new APIError('BAD_REQUEST', {
            code: 'USE_ID_TOKEN_ENDPOINT',
            message: 'Sign in with an ID token from this provider through /api/auth/sign-in/id-token.',
          })
        }
        // before-sign-up hooks for email sign-ups, here rather than in user creation (see askedAlready): the
        // address and the other fields as given, never the password.
        if (ctx.path === '/sign-up/email' && typeof body.email === 'string') {
          const { password: _p, callbackURL: _c, rememberMe: _r, ...fields } = body
          // The address as it will be stored (better-auth lowercases it), so a hook's check cannot be dodged by case.
          const email = body.email.trim().toLowerCase()
          await askHook('before-sign-up', async () => ({ ...fields, email }), ctx.request)
          if (ctx.request) askedAlready.add(ctx.request)
        }
        // A password must pass the policy wherever one is chosen.
        const pw =
          ctx.path === '/sign-up/email' || ctx.path === '/reset-password' || ctx.path === '/change-password'
            ? (body.password ?? body.newPassword)
            : undefined
        if (typeof pw === 'string') {
          const email = typeof body.email === 'string' ? body.email : ctx.context.session?.user.email
          const problem = passwordProblem(pw, { email, minLength: a.passwordMinLength })
          if (problem) throw new APIError('BAD_REQUEST', { code: 'WEAK_PASSWORD', message: problem })
        }
        // Whatever the endpoint (sign-up, magic link, email OTP, email change...), an address a client gives
        // may not be one of the made-up ones: it would take the place of a phone or anonymous user's.
        for (const field of ['email', 'newEmail'] as const) {
          const value = body[field]
          if (typeof value === 'string' && isReservedEmail(value)) {
            throw new APIError('BAD_REQUEST', {
              code: 'VALIDATION_FAILED',
              message: 'Some fields are invalid.',
              fields: {
                [field]: {
                  code: 'reserved',
                  message: `Addresses at ${PHONE_EMAIL_DOMAIN} and ${ANONYMOUS_EMAIL_DOMAIN} are reserved.`,
                },
              },
            })
          }
        }
      }),
    },
    databaseHooks: {
      // `after` hooks run once better-auth's transaction has committed (queueAfterTransactionHook), so the
      // users collection's record events, like every collection's, never tell of rolled-back work.
      user: {
        create: {
          before: async (user, ctx) => {
            // No id yet, as far as the hook is concerned: the user does not exist until it says yes.
            if (!(ctx?.request && askedAlready.has(ctx.request)))
              await askHook('before-sign-up', async () => ({ ...user, id: undefined }), ctx?.request)
            const email = await unusedPhoneEmail(user.email)
            return email === user.email ? undefined : { data: { ...user, email } }
          },
          after: async (user) => {
            await userEvent('create', user?.id)
            if (user) await tellHook('after-sign-up', async () => user)
          },
        },
        update: { after: async (user) => userEvent('update', (user as { id?: string } | null)?.id) },
        delete: {
          before: async (user) => {
            await deps
              .onUserDeleting?.(user.id)
              .catch((err) =>
                log.error({ err: (err as Error).message, userId: user.id }, 'could not snapshot user'),
              )
          },
          after: async (user) => userEvent('delete', user?.id),
        },
      },
      session: {
        create: {
          before: async (session, ctx) => {
            const u = await deps.db
              .selectFrom('data.users')
              .select(['banned', 'banExpires'])
              .where('id', '=', session.userId)
              .executeTakeFirst()
            if (u?.banned && (!u.banExpires || u.banExpires > new Date())) {
              throw new APIError('FORBIDDEN', { code: 'USER_BANNED', message: 'This account is suspended.' })
            }
            await askHook('before-sign-in', userRow(session.userId), ctx?.request)
          },
          after: async (session) => {
            await deps.onSessionCreated?.(session)
            await tellHook('after-sign-in', userRow(session.userId))
          },
        },
      },
    },
    plugins: [
      bearer(),
      // Feeds /api/openapi.json (see openapi/auth-paths.ts); better-auth's own reference page stays off.
      openAPI({ disableDefaultReference: true }),
      accountData({ db: deps.db, collections: () => deps.collections?.() ?? [] }),
      refreshSession({ db: deps.db }),
      sessionIds({ db: deps.db }),
      jwt({
        jwks: {
          keyPairConfig: { alg: 'EdDSA', crv: 'Ed25519' },
          // A new signing key every 30 days; the old one stays published for 30 more days, far past any token.
          rotationInterval: JWKS_ROTATION_SECONDS,
          gracePeriod: JWKS_GRACE_SECONDS,
        },
        jwt: {
          issuer: new URL(deps.baseUrl).origin,
          audience: new URL(deps.baseUrl).origin,
          expirationTime: `${a.accessTokenTtl}s`,
          definePayload: ({ user, session }) => ({
            sid: session.id,
            email: user.email,
            verified: user.emailVerified,
            role: (user as any).role ?? 'user',
            anonymous: (user as any).isAnonymous ?? false,
          }),
        },
        schema: { jwks: { modelName: 'bastide.auth_jwks' } },
      }),
      magicLink({
        expiresIn: LINK_MINUTES * 60,
        storeToken: 'hashed',
        sendMagicLink: async ({ email, url }, ctx) =>
          sendQuietly('magic-link', email, { url, minutes: LINK_MINUTES }, ctx?.request),
      }),
      emailOTP({
        otpLength: 6,
        expiresIn: OTP_MINUTES * 60,
        allowedAttempts: 3,
        storeOTP: 'hashed',
        sendVerificationOTP: async ({ email, otp }, ctx) =>
          sendQuietly('otp', email, { code: otp, minutes: OTP_MINUTES }, ctx?.request),
      }),
      phoneNumber({
        otpLength: 6,
        expiresIn: OTP_MINUTES * 60,
        allowedAttempts: 3,
        sendOTP: async ({ phoneNumber, code }) => {
          await deps.sms.send({ to: phoneNumber, text: `${code} is your ${appName} code.` })
        },
        phoneNumberValidator: (p) => /^\+[1-9]\d{6,14}$/.test(p),
        signUpOnVerification: {
          // Made unique at creation if an older account holds it (see unusedPhoneEmail).
          getTempEmail: (p) => `${p.replace(/\D/g, '')}@${PHONE_EMAIL_DOMAIN}`,
          getTempName: () => '',
        },
        schema: { user: { fields: { phoneNumber: 'phone', phoneNumberVerified: 'phoneVerified' } } },
      }),
      anonymous({
        emailDomainName: ANONYMOUS_EMAIL_DOMAIN,
        schema: { user: { fields: { isAnonymous: 'anonymous' } } },
        // The anonymous user's records move to the account it becomes, then the anonymous user goes.
        onLinkAccount: async ({ anonymousUser, newUser }) => {
          await deps.onLinkAnonymous?.(anonymousUser.user.id, newUser.user.id)
        },
      }),
      // Its own copy of the schema: the console's instance names the table differently (see own-schema.ts).
      // A TOTP code works once: see refuse-totp-replay.ts.
      refuseTotpReplay(
        ownSchema(
          twoFactor({
            issuer: appName,
            skipVerificationOnEnable: false,
            schema: { twoFactor: { modelName: 'bastide.auth_two_factors' } },
            accountLockout: { enabled: true, maxFailedAttempts: 5, durationSeconds: 15 * 60 },
          }),
        ),
        { db: deps.db, table: 'bastide.auth_two_factors' },
      ),
      passkey({
        rpName: appName,
        rpID: new URL(deps.baseUrl).hostname,
        origin: origins.filter((o) => /^https?:/.test(o) || o.startsWith('android:')),
        schema: { passkey: { modelName: 'bastide.auth_passkeys' } },
      }),
      ...(a.oidc.length
        ? [
            genericOAuth({
              config: a.oidc.map((p) => ({
                providerId: p.id,
                discoveryUrl: `${p.issuer}/.well-known/openid-configuration`,
                clientId: p.clientId,
                ...(p.clientSecret ? { clientSecret: p.clientSecret } : {}),
                scopes: [...p.scopes],
                pkce: true,
              })),
            }),
            // Apps holding an ID token from one of these providers (native SDKs) sign in without a redirect.
            idTokenSignIn({ providers: a.oidc }),
          ]
        : []),
      // Apps that open the provider in a system browser get a one-time code for their PKCE verifier.
      oauthExchange(),
      // After bearer() and twoFactor(): a sign-in stopped for 2FA hands out no set-auth-token.
      twoFactorPending(),
    ],
  })
}

export type Auth = ReturnType<typeof createAuth>
