import type { Http } from '../../http.ts'

/** Sign-in methods an operator can switch off at run time (email and password sign-in always stays on). */
export type SettingsAuthMethod =
  | 'emailPasswordSignUp'
  | 'magicLink'
  | 'emailOtp'
  | 'phoneOtp'
  | 'anonymous'
  | 'passkey'

/** Where a setting's value in force comes from: the environment wins over the database, which wins over defaults. */
export type SettingSource = 'env' | 'database' | 'default'

/** One setting as the server shows it. */
export interface SettingField<T> {
  /** The value in force; a secret shows only `{ set }`. */
  readonly value: T
  readonly source: SettingSource
  /** Set by the environment variable `env`: read-only until it is unset there. */
  readonly locked: boolean
  /** The environment variable that can set it. */
  readonly env?: string
}

/** A secret: never returned, only whether it is set. */
export interface SecretState {
  readonly set: boolean
}

export interface OAuthProviderView {
  readonly id: string
  /** `social`: one better-auth ships (`google`, `github`…); `oidc`: any OpenID Connect issuer. */
  readonly type: 'social' | 'oidc'
  readonly clientId: string
  readonly clientSecret: SecretState
  readonly issuer?: string
  readonly scopes: readonly string[]
  readonly enabled: boolean
  readonly source: 'env' | 'database'
  readonly locked: boolean
  readonly env?: string
}

/** Every runtime setting (GET /api/admin/settings). */
export interface Settings {
  readonly smtp: { readonly url: SettingField<SecretState>; readonly from: SettingField<string> }
  readonly cors: { readonly origins: SettingField<readonly string[]> }
  readonly rateLimits: { readonly authPerMinute: SettingField<number> }
  readonly auth: { readonly methods: Readonly<Record<SettingsAuthMethod, SettingField<boolean>>> }
  readonly oauth: {
    readonly providers: readonly OAuthProviderView[]
    /**
     * Providers were added or reconfigured since the server started: that applies after a restart.
     * Enabling or disabling a provider applies at once.
     */
    readonly restartRequired: boolean
  }
}

export interface OAuthProviderInput {
  readonly id: string
  readonly type: 'social' | 'oidc'
  readonly clientId: string
  /** Left out: the stored secret is kept. */
  readonly clientSecret?: string
  /** OIDC only (required there): discovery at `<issuer>/.well-known/openid-configuration`. */
  readonly issuer?: string
  readonly scopes?: readonly string[]
  /** Default true. */
  readonly enabled?: boolean
}

/**
 * A partial update: a value sets it, `null` brings it back to its default, a field left out is kept.
 * `oauth.providers` replaces the database's providers as a whole (leave the environment's out).
 */
export interface SettingsPatch {
  readonly smtp?: { readonly url?: string | null; readonly from?: string | null }
  readonly cors?: { readonly origins?: readonly string[] | null }
  readonly rateLimits?: { readonly authPerMinute?: number | null }
  readonly auth?: { readonly methods?: Readonly<Partial<Record<SettingsAuthMethod, boolean | null>>> }
  readonly oauth?: { readonly providers?: readonly OAuthProviderInput[] }
}

/**
 * Runtime settings (SMTP, CORS origins, the auth rate limit, sign-in methods, OAuth/OIDC providers): stored
 * in the database, applied on every node without a restart (providers: see `restartRequired`). Console admins
 * and the admin key only. Values the environment sets are locked (a change answers 409 naming the variable).
 */
export class AdminSettings {
  constructor(private readonly http: Http) {}

  /**
   * Every setting with its value in force, its source and whether the environment locks it.
   *
   * @example
   * const s = await client.admin.settings.get()
   * if (s.cors.origins.locked) console.log(`set by ${s.cors.origins.env}`)
   */
  async get(opts: { signal?: AbortSignal } = {}): Promise<Settings> {
    return this.http.request('/api/admin/settings', { signal: opts.signal })
  }

  /**
   * Changes some settings in one transaction (audited as `settings.update`, secrets redacted) and returns
   * them all. Throws a BastideError: `VALIDATION_FAILED` with `details.fields` keyed by path
   * (`cors.origins.1`), `CONFLICT` for a value the environment sets.
   *
   * @example
   * await client.admin.settings.update({
   *   smtp: { url: 'smtps://user:pass@smtp.example.com', from: 'App <no-reply@example.com>' },
   *   auth: { methods: { anonymous: false } },
   * })
   */
  async update(patch: SettingsPatch): Promise<Settings> {
    return this.http.request('/api/admin/settings', { method: 'PATCH', body: patch, retry: false })
  }

  /**
   * Sends a real test mail to `to` through the SMTP settings in force. Throws a BastideError (`BAD_REQUEST`,
   * 400) carrying the SMTP server's own message when it is refused or unreachable.
   *
   * @example
   * await client.admin.settings.testSmtp('me@example.com')
   */
  async testSmtp(to: string): Promise<{ sent: true; to: string }> {
    return this.http.request('/api/admin/settings/smtp/test', { method: 'POST', body: { to }, retry: false })
  }
}
