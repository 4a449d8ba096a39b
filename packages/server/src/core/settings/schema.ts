import { z } from 'zod'
import { SOCIAL_PROVIDERS, type SocialProvider } from '../../config/load-config.ts'

/**
 * Sign-in methods an operator can switch off at run time (better-auth keeps serving them otherwise). Email and
 * password sign-in always works: switching it off could lock every user, and every console admin, out.
 */
export const AUTH_METHODS = [
  'emailPasswordSignUp',
  'magicLink',
  'emailOtp',
  'phoneOtp',
  'anonymous',
  'passkey',
] as const
export type AuthMethod = (typeof AUTH_METHODS)[number]

/** An OAuth/OIDC provider as the settings hold it, its secret in clear (in memory only). */
export interface OAuthProviderSetting {
  readonly id: string
  /** `social`: one better-auth ships (id is its name); `oidc`: any OpenID Connect issuer. */
  readonly type: 'social' | 'oidc'
  readonly clientId: string
  readonly clientSecret: string | undefined
  /** OIDC only: discovery is `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string | undefined
  readonly scopes: readonly string[]
  readonly enabled: boolean
}

/** What the server applies: env wins over the database, which wins over the defaults. */
export interface EffectiveSettings {
  readonly smtp: { readonly url: string | undefined; readonly from: string }
  readonly cors: { readonly origins: readonly string[] }
  readonly rateLimits: { readonly authPerMinute: number }
  readonly auth: { readonly methods: Readonly<Record<AuthMethod, boolean>> }
  /** Every provider: the environment's (BASTIDE_OAUTH_*, BASTIDE_OIDC_*) first, then the database's. */
  readonly oauth: {
    readonly providers: readonly (OAuthProviderSetting & { readonly source: 'env' | 'database' })[]
  }
}

/** The environment variable behind each scalar setting: when set, it wins and the setting is read-only. */
export const ENV_OF = {
  'smtp.url': 'BASTIDE_SMTP_URL',
  'smtp.from': 'BASTIDE_SMTP_FROM',
  'cors.origins': 'BASTIDE_CORS_ORIGINS',
  'rateLimits.authPerMinute': 'BASTIDE_AUTH_RATE_LIMIT',
} as const

const origin = z.string().refine((v) => {
  if (v === '*') return true
  if (!URL.canParse(v)) return false
  const u = new URL(v)
  return /^https?:$/.test(u.protocol) && u.origin === v
}, 'must be * or an origin like https://app.example.com (scheme, host and port only, no trailing slash)')

const smtpUrl = z
  .string()
  .max(2000)
  .refine((v) => /^smtps?:\/\//.test(v) && URL.canParse(v), 'must be an smtp:// or smtps:// URL')

const providerInput = z
  .object({
    id: z.string().regex(/^[a-z0-9]{1,32}$/, 'must be 1-32 lower-case letters or digits'),
    type: z.enum(['social', 'oidc']),
    clientId: z.string().trim().min(1).max(500),
    /** Omitted: keep the stored one (secrets are write-only). */
    clientSecret: z.string().min(1).max(4000).optional(),
    issuer: z
      .string()
      .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), 'must be an http(s) URL')
      .optional(),
    scopes: z
      .array(z.string().regex(/^[\x21-\x7e]{1,100}$/, 'must be one scope without spaces'))
      .max(30)
      .optional(),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.type === 'social' && !SOCIAL_PROVIDERS.includes(p.id as SocialProvider))
      ctx.addIssue({
        code: 'custom',
        path: ['id'],
        message: `must be one of ${SOCIAL_PROVIDERS.join(', ')} for a social provider`,
      })
    if (p.type === 'social' && p.issuer !== undefined)
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'is for OIDC providers only' })
    // Built-in providers ask for the scopes better-auth chose for them.
    if (p.type === 'social' && p.scopes !== undefined && p.scopes.length > 0)
      ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'is for OIDC providers only' })
    if (p.type === 'oidc' && p.issuer === undefined)
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'is required for an OIDC provider' })
    if (p.type === 'oidc' && SOCIAL_PROVIDERS.includes(p.id as SocialProvider))
      ctx.addIssue({
        code: 'custom',
        path: ['id'],
        message: 'is the name of a social provider: use type social',
      })
  })

export type OAuthProviderInput = z.infer<typeof providerInput>

const nullable = <T extends z.ZodType>(t: T) => t.nullable().optional()

/**
 * PATCH /api/admin/settings: any subset of any group. A value sets it in the database; `null` removes it (back
 * to the default); a field left out is kept. `oauth.providers` replaces the database's providers as a whole
 * (a provider sent without `clientSecret` keeps the stored one).
 */
export const settingsPatch = z
  .object({
    smtp: z
      .object({ url: nullable(smtpUrl), from: nullable(z.string().trim().min(3).max(300)) })
      .strict()
      .optional(),
    cors: z
      .object({ origins: nullable(z.array(origin).min(1).max(100)) })
      .strict()
      .optional(),
    rateLimits: z
      .object({ authPerMinute: nullable(z.number().int().min(1).max(1_000_000)) })
      .strict()
      .optional(),
    auth: z
      .object({
        methods: z
          .object(
            Object.fromEntries(AUTH_METHODS.map((m) => [m, nullable(z.boolean())])) as Record<
              AuthMethod,
              z.ZodOptional<z.ZodNullable<z.ZodBoolean>>
            >,
          )
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    oauth: z
      .object({
        providers: z
          .array(providerInput)
          .max(50)
          .refine((ps) => new Set(ps.map((p) => p.id)).size === ps.length, 'provider ids must be unique')
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

export type SettingsPatch = z.infer<typeof settingsPatch>

export const smtpTestInput = z.object({ to: z.email().max(320) }).strict()
