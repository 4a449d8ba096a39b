import type { AuthMethod, EffectiveSettings } from './schema.ts'

/** better-auth endpoints (paths under /api/auth) that belong to a method an operator may switch off. */
const METHOD_OF: readonly [RegExp, AuthMethod][] = [
  [/^\/sign-up\/email$/, 'emailPasswordSignUp'],
  [/^\/(sign-in\/magic-link|magic-link\/)/, 'magicLink'],
  [/^\/(sign-in\/email-otp|email-otp\/|forget-password\/email-otp)/, 'emailOtp'],
  [/^\/(sign-in\/phone-number|phone-number\/)/, 'phoneOtp'],
  [/^\/sign-in\/anonymous$/, 'anonymous'],
  // Signing in with a passkey or registering a new one; listing and deleting one's passkeys stay open.
  [
    /^\/passkey\/(generate-authenticate-options|verify-authentication|generate-register-options|verify-registration)$/,
    'passkey',
  ],
]

const METHOD_NAMES: Readonly<Record<AuthMethod, string>> = {
  emailPasswordSignUp: 'Sign-up with email and password',
  magicLink: 'Sign-in with a magic link',
  emailOtp: 'Email one-time codes',
  phoneOtp: 'Phone one-time codes',
  anonymous: 'Anonymous sign-in',
  passkey: 'Passkeys',
}

/** Why a request to better-auth is refused, as the error it answers with. */
export interface Refusal {
  readonly status: 'FORBIDDEN' | 'NOT_FOUND'
  readonly code: 'METHOD_DISABLED' | 'PROVIDER_NOT_FOUND'
  readonly message: string
}

/**
 * Why a request to better-auth is refused under the current settings (a method or an OAuth provider switched
 * off or removed), or undefined. `path` is better-auth's endpoint path (`/callback/:id` as declared),
 * `params` its path parameters.
 */
export function disabledBy(
  s: EffectiveSettings,
  path: string,
  body: Readonly<Record<string, unknown>>,
  params: Readonly<Record<string, unknown>> | undefined,
): Refusal | undefined {
  const disabled = (message: string): Refusal => ({ status: 'FORBIDDEN', code: 'METHOD_DISABLED', message })
  for (const [re, method] of METHOD_OF)
    if (re.test(path) && !s.auth.methods[method])
      return disabled(`${METHOD_NAMES[method]} is disabled on this server.`)
  const provider =
    path === '/sign-in/social' || path === '/link-social'
      ? body.provider
      : path === '/sign-in/id-token' || path === '/sign-in/oauth2' || path === '/oauth2/link'
        ? body.providerId
        : path.startsWith('/callback/') || path.startsWith('/oauth2/callback/')
          ? (params?.id ?? params?.providerId ?? path.split('/').pop())
          : undefined
  if (typeof provider !== 'string') return undefined
  const p = s.oauth.providers.find((x) => x.id === provider)
  if (p && !p.enabled) return disabled(`Sign-in with ${provider} is disabled on this server.`)
  // Native ID-token sign-in keeps the providers the node started with: one removed since is gone here too.
  // (The other endpoints read better-auth's live provider list, see live-providers.ts.)
  if (!p && path === '/sign-in/id-token')
    return {
      status: 'NOT_FOUND',
      code: 'PROVIDER_NOT_FOUND',
      message: `No OpenID Connect provider "${provider}" is configured.`,
    }
  return undefined
}
