import {
  DEV_OIDC_CLIENT_ID,
  DEV_OIDC_CLIENT_SECRET,
  devOidcRedirectUri,
  startDevOidcProvider,
} from './dev-oidc-provider.ts'

/**
 * `pnpm --filter @bastide/server dev:oidc`: a local OpenID Connect provider to try OIDC sign-in on
 * http://localhost:8787/account. OIDC_PORT (9400) moves it; BASTIDE_URL (http://localhost:8787) is the
 * Bastide it redirects back to (comma-separated for several).
 */
const port = Number(process.env.OIDC_PORT || 9400)
const bastideUrls = (process.env.BASTIDE_URL || 'http://localhost:8787')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)

const op = await startDevOidcProvider({ port, redirectUris: bastideUrls.map(devOidcRedirectUri) })

console.log(`Development OpenID Connect provider at ${op.issuer} (any login and password work).
Allowed callbacks: ${bastideUrls.map(devOidcRedirectUri).join(', ')}

Start Bastide against it (in another terminal, from the repository root):

  BASTIDE_OIDC_LOCAL_ISSUER=${op.issuer} BASTIDE_OIDC_LOCAL_CLIENT_ID=${DEV_OIDC_CLIENT_ID} BASTIDE_OIDC_LOCAL_CLIENT_SECRET=${DEV_OIDC_CLIENT_SECRET} npx -y pnpm@10 start

then open ${bastideUrls[0]}/account and choose "Sign in with local".
`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void op.close().then(() => process.exit(0))
  })
}
