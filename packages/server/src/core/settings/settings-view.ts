import type { Config } from '../../config/load-config.ts'
import { AUTH_METHODS, type AuthMethod, type EffectiveSettings, ENV_OF } from './schema.ts'
import type { StoredSettings } from './settings-service.ts'

export type SettingSource = 'env' | 'database' | 'default'

/** One setting as GET /api/admin/settings shows it. */
export interface SettingField<T> {
  /** The value in force; a secret shows only whether it is set. */
  readonly value: T
  readonly source: SettingSource
  /** Set by the environment, which wins: read-only here. */
  readonly locked: boolean
  /** The environment variable that can set it. */
  readonly env?: string
}

export interface ProviderView {
  readonly id: string
  readonly type: 'social' | 'oidc'
  readonly clientId: string
  readonly clientSecret: { readonly set: boolean }
  readonly issuer?: string
  readonly scopes: readonly string[]
  readonly enabled: boolean
  readonly source: 'env' | 'database'
  readonly locked: boolean
  readonly env?: string
}

export interface SettingsView {
  readonly smtp: {
    readonly url: SettingField<{ readonly set: boolean }>
    readonly from: SettingField<string>
  }
  readonly cors: { readonly origins: SettingField<readonly string[]> }
  readonly rateLimits: { readonly authPerMinute: SettingField<number> }
  readonly auth: { readonly methods: Readonly<Record<AuthMethod, SettingField<boolean>>> }
  readonly oauth: {
    readonly providers: readonly ProviderView[]
    /**
     * True when an OIDC provider was added or reconfigured since this node started: sign-in through the
     * provider's page uses it at once, native ID-token sign-in (/sign-in/id-token) after a restart.
     */
    readonly restartRequired: boolean
  }
}

/** The API's view of the settings: values in force, where each comes from, and secrets redacted. */
export function viewOf(
  config: Config,
  stored: StoredSettings,
  effective: EffectiveSettings,
  restartRequired: boolean,
): SettingsView {
  const field = <T>(key: keyof typeof ENV_OF, value: T, inDb: boolean): SettingField<T> => {
    const env = ENV_OF[key]
    const locked = config.env[env] !== undefined
    return { value, source: locked ? 'env' : inDb ? 'database' : 'default', locked, env }
  }
  return {
    smtp: {
      url: field('smtp.url', { set: effective.smtp.url !== undefined }, stored.smtp.url !== undefined),
      from: field('smtp.from', effective.smtp.from, stored.smtp.from !== undefined),
    },
    cors: { origins: field('cors.origins', [...effective.cors.origins], stored.cors.origins !== undefined) },
    rateLimits: {
      authPerMinute: field(
        'rateLimits.authPerMinute',
        effective.rateLimits.authPerMinute,
        stored.rateLimits.authPerMinute !== undefined,
      ),
    },
    auth: {
      methods: Object.fromEntries(
        AUTH_METHODS.map((m) => [
          m,
          {
            value: effective.auth.methods[m],
            source: stored.auth.methods[m] !== undefined ? 'database' : 'default',
            locked: false,
          },
        ]),
      ) as Record<AuthMethod, SettingField<boolean>>,
    },
    oauth: {
      providers: effective.oauth.providers.map((p) => ({
        id: p.id,
        type: p.type,
        clientId: p.clientId,
        clientSecret: { set: p.clientSecret !== undefined },
        ...(p.issuer ? { issuer: p.issuer } : {}),
        scopes: [...p.scopes],
        enabled: p.enabled,
        source: p.source,
        locked: p.source === 'env',
        ...(p.source === 'env'
          ? {
              env:
                p.type === 'social'
                  ? `BASTIDE_OAUTH_${p.id.toUpperCase()}_CLIENT_ID`
                  : `BASTIDE_OIDC_${p.id.toUpperCase()}_ISSUER`,
            }
          : {}),
      })),
      restartRequired,
    },
  }
}
