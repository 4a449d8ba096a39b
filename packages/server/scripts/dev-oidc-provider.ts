import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'

/**
 * A local OpenID Connect provider for trying "sign in with OIDC" without an account anywhere:
 * oidc-provider with its built-in development login and consent pages (any login and password work).
 * Development only: in-memory storage, a fresh signing key at every start, plain http.
 */

export const DEV_OIDC_CLIENT_ID = 'bastide-local'
export const DEV_OIDC_CLIENT_SECRET = 'bastide-local-secret'
/** The provider id Bastide knows it by: `BASTIDE_OIDC_LOCAL_*` → `local`. */
export const DEV_OIDC_PROVIDER_ID = 'local'

export interface DevOidcProvider {
  /** `http://localhost:<port>`: what BASTIDE_OIDC_LOCAL_ISSUER must be. */
  readonly issuer: string
  readonly port: number
  close(): Promise<void>
}

/** The callback a Bastide at `bastideUrl` gives this provider (better-auth's core `/callback/:id`). */
export function devOidcRedirectUri(bastideUrl: string): string {
  return `${bastideUrl.replace(/\/+$/, '')}/api/auth/callback/${DEV_OIDC_PROVIDER_ID}`
}

/** The claims of whoever typed `login` in the development login form. */
export function devOidcClaims(login: string) {
  const email = login.includes('@') ? login.toLowerCase() : `${login.toLowerCase()}@example.test`
  const local = email.split('@')[0] ?? login
  return {
    sub: login,
    email,
    email_verified: true,
    name: local.charAt(0).toUpperCase() + local.slice(1),
  }
}

/**
 * Starts the provider on `localhost:<port>` (0: any free port), with one confidential client
 * (`bastide-local` / `bastide-local-secret`) allowed to redirect to `redirectUris`, PKCE required.
 */
export async function startDevOidcProvider(opts: {
  port?: number
  host?: string
  redirectUris: readonly string[]
}): Promise<DevOidcProvider> {
  const server = http.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 9400, opts.host ?? '127.0.0.1', resolve)
  })
  const port = (server.address() as AddressInfo).port
  // localhost, not 127.0.0.1: the browser then sends the provider's cookies on the same host name it
  // shows, and the issuer matches what Bastide is configured with.
  const issuer = `http://localhost:${port}`
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(privateKey)), kid: 'dev-oidc-key', alg: 'RS256', use: 'sig' }
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: DEV_OIDC_CLIENT_ID,
        client_secret: DEV_OIDC_CLIENT_SECRET,
        redirect_uris: [...opts.redirectUris],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['bastide-dev-oidc-cookie-key-0123456789'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // Like Keycloak or Google: the ID token carries the requested claims even in the code flow.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // oidc-provider's own login and consent pages: any login, any password.
    features: { devInteractions: { enabled: true } },
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => devOidcClaims(sub),
    }),
    ttl: {
      IdToken: 3600,
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
    },
  })
  server.on('request', provider.callback())
  return {
    issuer,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
