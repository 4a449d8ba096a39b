import path from 'node:path'
import { z } from 'zod'

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL')
    .optional(),
  BASTIDE_DATA_DIR: z.string().min(1).default('./.bastide'),
  BASTIDE_ADMIN_KEY: z
    .string()
    .refine(
      (v) => v.startsWith('bst_sk_') && v.length >= 32,
      'must start with bst_sk_ and be at least 32 characters',
    )
    .optional(),
  BASTIDE_PUBLIC_URL: z.url().optional(),
  BASTIDE_CORS_ORIGINS: z.string().default('*'),
  BASTIDE_LOG_LEVEL: z.enum(logLevels).default('info'),
  BASTIDE_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  BASTIDE_STORAGE_MAX_FILE_SIZE: z.coerce
    .number()
    .int()
    .min(1024)
    .default(5 * 1024 ** 3),
  BASTIDE_IMAGE_MAX_PIXELS: z.coerce.number().int().min(1).default(50_000_000),
  BASTIDE_REALTIME_REPLAY_WINDOW: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  BASTIDE_REALTIME_SESSION_CHECK_MS: z.coerce.number().int().min(500).max(3_600_000).default(30_000),
  BASTIDE_DB_POOL_MAX: z.coerce.number().int().min(1).max(500).default(20),
  BASTIDE_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(5000),
  BASTIDE_EMBEDDED_PG_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  BASTIDE_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  REDIS_URL: z
    .string()
    .refine((v) => /^rediss?:\/\//.test(v), 'must be a redis:// or rediss:// URL')
    .optional(),
  BASTIDE_REDIS_PREFIX: z.string().min(1).max(100).default('bastide:'),
  BASTIDE_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  BASTIDE_SMTP_URL: z
    .string()
    .refine((v) => /^smtps?:\/\//.test(v), 'must be an smtp:// or smtps:// URL')
    .optional(),
  BASTIDE_SMTP_FROM: z.string().min(3).default('Bastide <no-reply@localhost>'),
  BASTIDE_ACCESS_TOKEN_TTL: z.coerce.number().int().min(30).max(86_400).default(900),
  BASTIDE_SESSION_TTL: z.coerce
    .number()
    .int()
    .min(300)
    .default(30 * 86_400),
  BASTIDE_MAX_SESSIONS_PER_USER: z.coerce.number().int().min(0).default(0),
  BASTIDE_REQUIRE_EMAIL_VERIFICATION: z.stringbool().default(false),
  BASTIDE_PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(10),
  BASTIDE_TRUSTED_ORIGINS: z.string().default(''),
  BASTIDE_TRUST_PROXY: z.stringbool().default(false),
  BASTIDE_SMS_WEBHOOK_URL: z.url().optional(),
  BASTIDE_AUTH_RATE_LIMIT: z.coerce.number().int().min(1).default(30),
  BASTIDE_MAIL_RECIPIENT_LIMIT: z.coerce.number().int().min(1).default(5),
  BASTIDE_MAIL_RECIPIENT_WINDOW: z.coerce.number().int().min(1).max(86_400).default(600),
  BASTIDE_S3_ENDPOINT: z
    .string()
    .refine(
      (v) => /^https?:\/\/[^/]+\/?$/.test(v) && URL.canParse(v),
      'must be an http:// or https:// URL without a path',
    )
    .optional(),
  BASTIDE_S3_REGION: z.string().min(1).default('us-east-1'),
  BASTIDE_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name (3-63 of a-z 0-9 . -)')
    .optional(),
  BASTIDE_S3_ACCESS_KEY: z.string().optional(),
  BASTIDE_S3_SECRET_KEY: z.string().optional(),
  BASTIDE_S3_PATH_STYLE: z.stringbool().default(true),
})

/** Setting any of these selects S3, and then all of them are required. */
const S3_REQUIRED = [
  'BASTIDE_S3_ENDPOINT',
  'BASTIDE_S3_BUCKET',
  'BASTIDE_S3_ACCESS_KEY',
  'BASTIDE_S3_SECRET_KEY',
] as const

/** Social providers better-auth ships, configured by `BASTIDE_OAUTH_<PROVIDER>_CLIENT_ID` / `_CLIENT_SECRET`. */
export const SOCIAL_PROVIDERS = ['google', 'apple', 'github', 'microsoft', 'gitlab', 'discord'] as const
export type SocialProvider = (typeof SOCIAL_PROVIDERS)[number]

export interface OAuthClient {
  readonly clientId: string
  readonly clientSecret: string | undefined
}

/** A generic OpenID Connect provider (Keycloak, Authentik, FranceConnect-style), by its issuer. */
export interface OidcProvider extends OAuthClient {
  readonly id: string
  readonly issuer: string
  readonly scopes: readonly string[]
}

export interface AuthConfig {
  readonly accessTokenTtl: number
  readonly sessionTtl: number
  /** 0: no cap. Past the cap, signing in again ends the user's oldest session. */
  readonly maxSessionsPerUser: number
  readonly requireEmailVerification: boolean
  readonly passwordMinLength: number
  /** Origins and app schemes (`myapp://`) that redirects after sign-in may go to. */
  readonly trustedOrigins: readonly string[]
  /** Unset: SMS are written to the log. */
  readonly smsWebhookUrl: string | undefined
  /** Requests per minute per IP on each auth endpoint (per-account limits are derived from it). */
  readonly rateLimit: number
  /** Mails and SMS one recipient (address or phone number) gets per window, across every endpoint. */
  readonly mailRecipientLimit: number
  /** That window, in seconds. */
  readonly mailRecipientWindow: number
  readonly social: Readonly<Partial<Record<SocialProvider, OAuthClient>>>
  readonly oidc: readonly OidcProvider[]
}

export interface S3Config {
  /** `http://127.0.0.1:9000`, `https://s3.fr-par.scw.cloud`… */
  readonly endpoint: string
  readonly region: string
  readonly bucket: string
  readonly accessKey: string
  readonly secretKey: string
  readonly pathStyle: boolean
}

export interface Config {
  readonly port: number
  readonly host: string
  /** Unset: the server starts embedded PostgreSQL under `dataDir/pg`. */
  readonly databaseUrl: string | undefined
  readonly dataDir: string
  readonly adminKey: string | undefined
  readonly publicUrl: string | undefined
  /** `['*']` allows any origin (without credentials). */
  readonly corsOrigins: readonly string[]
  readonly logLevel: (typeof logLevels)[number]
  readonly bodyLimit: number
  readonly dbPoolMax: number
  /** PostgreSQL's statement_timeout for requests; migrations and schema changes lift it. */
  readonly dbStatementTimeoutMs: number
  /** 0: pick a free port at each start. */
  readonly embeddedPgPort: number
  readonly shutdownTimeoutMs: number
  /** Unset: one node, rate limits in PostgreSQL. */
  readonly redisUrl: string | undefined
  /** Starts every key Bastide writes to Redis, so one Redis can serve several apps. */
  readonly redisPrefix: string
  /** Unset: generated once and kept in `dataDir/secret` (see resolveSecret). */
  readonly secret: string | undefined
  /** Unset: emails are written to the log. */
  readonly smtpUrl: string | undefined
  readonly smtpFrom: string
  /** Trust X-Forwarded-For (behind a reverse proxy) for client addresses. */
  readonly trustProxy: boolean
  /** Unset: storage objects are files under `dataDir/storage`. */
  readonly s3: S3Config | undefined
  readonly realtime: {
    /** Recent changes each node keeps for clients that reconnect with their last sequence number. */
    readonly replayWindow: number
    /** How often live connections' sessions are checked for sign-out, revocation, expiry and bans. */
    readonly sessionCheckMs: number
  }
  readonly storage: {
    /** Largest object any bucket accepts, in bytes (a bucket's own limit can only be lower). */
    readonly maxFileSize: number
    /** Images with more pixels than this are refused before decoding (decompression bombs). */
    readonly maxImagePixels: number
  }
  readonly auth: AuthConfig
  /** The `BASTIDE_*` variables as read (set and non-empty): modules parse their own settings from them. */
  readonly env: Readonly<Record<string, string>>
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n')}`)
  }
}

/**
 * The only place that reads the environment. Empty strings count as unset, so `FOO=` in a compose file
 * behaves like leaving it out. Throws ConfigError listing every bad variable by name.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {}
  for (const key of Object.keys(schema.shape)) {
    const v = env[key]
    if (v !== undefined && v !== '') input[key] = v
  }
  const parsed = schema.safeParse(input)
  const problems: { variable: string; message: string }[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message }))
  const { social, oidc } = providersFrom(env, problems)
  const s3Set = S3_REQUIRED.filter((k) => input[k] !== undefined)
  if (s3Set.length > 0)
    for (const k of S3_REQUIRED)
      if (input[k] === undefined) problems.push({ variable: k, message: `is required with ${s3Set[0]}` })
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems)
  const v = parsed.data
  return Object.freeze({
    port: v.PORT,
    host: v.HOST,
    databaseUrl: v.DATABASE_URL,
    // Relative to where the command was typed: pnpm runs scripts from the package directory.
    dataDir: path.resolve(env.INIT_CWD ?? process.cwd(), v.BASTIDE_DATA_DIR),
    adminKey: v.BASTIDE_ADMIN_KEY,
    publicUrl: v.BASTIDE_PUBLIC_URL,
    corsOrigins: Object.freeze(
      v.BASTIDE_CORS_ORIGINS.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
    logLevel: v.BASTIDE_LOG_LEVEL,
    bodyLimit: v.BASTIDE_BODY_LIMIT,
    dbPoolMax: v.BASTIDE_DB_POOL_MAX,
    dbStatementTimeoutMs: v.BASTIDE_DB_STATEMENT_TIMEOUT_MS,
    embeddedPgPort: v.BASTIDE_EMBEDDED_PG_PORT,
    shutdownTimeoutMs: v.BASTIDE_SHUTDOWN_TIMEOUT_MS,
    redisUrl: v.REDIS_URL,
    redisPrefix: v.BASTIDE_REDIS_PREFIX,
    secret: v.BASTIDE_SECRET,
    smtpUrl: v.BASTIDE_SMTP_URL,
    smtpFrom: v.BASTIDE_SMTP_FROM,
    trustProxy: v.BASTIDE_TRUST_PROXY,
    realtime: Object.freeze({
      replayWindow: v.BASTIDE_REALTIME_REPLAY_WINDOW,
      sessionCheckMs: v.BASTIDE_REALTIME_SESSION_CHECK_MS,
    }),
    storage: Object.freeze({
      maxFileSize: v.BASTIDE_STORAGE_MAX_FILE_SIZE,
      maxImagePixels: v.BASTIDE_IMAGE_MAX_PIXELS,
    }),
    s3:
      v.BASTIDE_S3_ENDPOINT && v.BASTIDE_S3_BUCKET && v.BASTIDE_S3_ACCESS_KEY && v.BASTIDE_S3_SECRET_KEY
        ? Object.freeze({
            endpoint: v.BASTIDE_S3_ENDPOINT.replace(/\/$/, ''),
            region: v.BASTIDE_S3_REGION,
            bucket: v.BASTIDE_S3_BUCKET,
            accessKey: v.BASTIDE_S3_ACCESS_KEY,
            secretKey: v.BASTIDE_S3_SECRET_KEY,
            pathStyle: v.BASTIDE_S3_PATH_STYLE,
          })
        : undefined,
    auth: Object.freeze({
      accessTokenTtl: v.BASTIDE_ACCESS_TOKEN_TTL,
      sessionTtl: v.BASTIDE_SESSION_TTL,
      maxSessionsPerUser: v.BASTIDE_MAX_SESSIONS_PER_USER,
      requireEmailVerification: v.BASTIDE_REQUIRE_EMAIL_VERIFICATION,
      passwordMinLength: v.BASTIDE_PASSWORD_MIN_LENGTH,
      trustedOrigins: Object.freeze(
        v.BASTIDE_TRUSTED_ORIGINS.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ),
      smsWebhookUrl: v.BASTIDE_SMS_WEBHOOK_URL,
      rateLimit: v.BASTIDE_AUTH_RATE_LIMIT,
      mailRecipientLimit: v.BASTIDE_MAIL_RECIPIENT_LIMIT,
      mailRecipientWindow: v.BASTIDE_MAIL_RECIPIENT_WINDOW,
      social,
      oidc,
    }),
    env: Object.freeze(
      Object.fromEntries(
        Object.entries(env).filter(([k, v]) => k.startsWith('BASTIDE_') && v !== undefined && v !== ''),
      ),
    ) as Readonly<Record<string, string>>,
  })
}

/**
 * `BASTIDE_OAUTH_<PROVIDER>_CLIENT_ID|_CLIENT_SECRET` for built-in providers, and
 * `BASTIDE_OIDC_<ID>_ISSUER|_CLIENT_ID|_CLIENT_SECRET|_SCOPES` for generic OpenID Connect providers.
 */
function providersFrom(
  env: Record<string, string | undefined>,
  problems: { variable: string; message: string }[],
) {
  const social: Partial<Record<SocialProvider, OAuthClient>> = {}
  for (const p of SOCIAL_PROVIDERS) {
    const key = `BASTIDE_OAUTH_${p.toUpperCase()}`
    const clientId = env[`${key}_CLIENT_ID`] || undefined
    const clientSecret = env[`${key}_CLIENT_SECRET`] || undefined
    // better-auth's Apple provider refuses to build a sign-in URL without the secret (an ES256 JWT the
    // operator signs with their Apple key and renews at most every 6 months): fail at start instead.
    if (p === 'apple' && clientId && !clientSecret)
      problems.push({ variable: `${key}_CLIENT_SECRET`, message: 'is required for Apple (a signed JWT)' })
    if (clientId) social[p] = Object.freeze({ clientId, clientSecret })
    else if (clientSecret)
      problems.push({ variable: `${key}_CLIENT_ID`, message: 'is required with the client secret' })
  }
  const oidc: OidcProvider[] = []
  const ids = new Set<string>()
  for (const k of Object.keys(env)) {
    const m = /^BASTIDE_OIDC_([A-Z0-9]+)_ISSUER$/.exec(k)
    if (m && env[k]) ids.add(m[1]!)
  }
  for (const id of [...ids].sort()) {
    const key = `BASTIDE_OIDC_${id}`
    const issuer = env[`${key}_ISSUER`]!
    const clientId = env[`${key}_CLIENT_ID`] || undefined
    if (!URL.canParse(issuer)) problems.push({ variable: `${key}_ISSUER`, message: 'must be a URL' })
    if (!clientId) problems.push({ variable: `${key}_CLIENT_ID`, message: 'is required with the issuer' })
    if (!URL.canParse(issuer) || !clientId) continue
    oidc.push(
      Object.freeze({
        id: id.toLowerCase(),
        issuer: issuer.replace(/\/+$/, ''),
        clientId,
        clientSecret: env[`${key}_CLIENT_SECRET`] || undefined,
        scopes: Object.freeze(
          (env[`${key}_SCOPES`] || 'openid email profile').split(/[\s,]+/).filter(Boolean),
        ),
      }),
    )
  }
  return { social: Object.freeze(social), oidc: Object.freeze(oidc) }
}
