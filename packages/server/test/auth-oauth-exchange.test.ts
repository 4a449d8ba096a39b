import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall } from './support/auth.ts'
import { startTestServer, type TestServer } from './support/harness.ts'
import { CookieBrowser, OP_CLIENT_ID, OP_CLIENT_SECRET, type Op, startOp } from './support/oidc-op.ts'

/**
 * OAuth from apps (plugins/oauth-exchange.ts): the app starts the sign-in with a PKCE challenge, the system
 * browser walks a real provider (oidc-provider on loopback), the app's link receives a one-time code, and
 * only the holder of the verifier swaps it for the session.
 */

const APP = 'myapp://auth-callback'
const SPA = 'http://spa.example.test/auth/done'

let op: Op
let s: TestServer
let db: pg.Client
let base: string

beforeAll(async () => {
  op = await startOp({
    alice: { email: 'alice@idp.example', email_verified: true, name: 'Alice Idp' },
    dan: { email: 'dan@idp.example', email_verified: true, name: 'Dan Idp' },
  })
  s = await startTestServer({
    listen: true,
    env: {
      BASTIDE_OIDC_KC_ISSUER: op.issuer,
      BASTIDE_OIDC_KC_CLIENT_ID: OP_CLIENT_ID,
      BASTIDE_OIDC_KC_CLIENT_SECRET: OP_CLIENT_SECRET,
      BASTIDE_TRUSTED_ORIGINS: 'myapp://, http://spa.example.test',
    },
  })
  base = `http://localhost:${s.bastide.port}`
  op.register(`${base}/api/auth/callback/kc`)
  db = new pg.Client({ connectionString: s.dbUrl })
  await db.connect()
})
afterAll(async () => {
  await db?.end()
  await s?.close()
  await op?.close()
})

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** As the app: start the sign-in (no cookies, no Origin), then let a fresh system browser walk it back to us. */
async function appSignIn(
  o: { account?: string; callbackURL?: string } = {},
): Promise<{ verifier: string; url: string; back: URL; browser: CookieBrowser }> {
  const { verifier, challenge } = pkce()
  const callbackURL = o.callbackURL ?? APP
  op.nextAccount = o.account ?? 'alice'
  const r = await authCall(s, 'POST', '/sign-in/social', {
    provider: 'kc',
    callbackURL,
    errorCallbackURL: callbackURL,
    codeChallenge: challenge,
  })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  const url = r.body.url as string
  const browser = new CookieBrowser()
  const back = new URL(await browser.followUntil(url, callbackURL))
  return { verifier, url, back, browser }
}

const exchange = (code: string, codeVerifier: string) =>
  authCall(s, 'POST', '/oauth/exchange', { code, codeVerifier })

describe('OAuth from apps: one-time code exchange with PKCE', () => {
  it('signs in through the system browser and hands the session to the verifier holder only', async () => {
    const { verifier, url, back, browser } = await appSignIn()
    // The browser goes through Bastide first (it must hold the OAuth state cookie), then to the provider.
    expect(url.startsWith(`${base}/api/auth/oauth/continue?state=`)).toBe(true)
    expect(`${back.protocol}//${back.host}${back.pathname}`).toBe(APP)
    const code = back.searchParams.get('code')!
    expect(code).toMatch(/^[\w-]{32}$/)
    expect([...back.searchParams.keys()]).toEqual(['code'])
    // The system browser keeps no session of the app's.
    expect(browser.cookieNames(base).filter((n) => n.includes('session'))).toEqual([])

    const r = await exchange(code, verifier)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.headers.get('cache-control')).toBe('no-store')
    expect(r.headers.get('set-cookie')).toBe(null)
    expect(r.body.user).toMatchObject({ email: 'alice@idp.example', emailVerified: true })
    const token = r.body.token as string
    const me = await s.api('GET', `/api/collections/users/records/${r.body.user.id}`, undefined, {
      as: token,
    })
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ email: 'alice@idp.example' })

    // Once only.
    const again = await exchange(code, verifier)
    expect(again.status).toBe(400)
    expect(again.body).toMatchObject({ code: 'INVALID_OAUTH_CODE', status: 400 })
  })

  it('refuses a wrong verifier, and the code is then spent', async () => {
    const { verifier, back } = await appSignIn({ account: 'dan' })
    const code = back.searchParams.get('code')!
    const wrong = await exchange(code, pkce().verifier)
    expect(wrong.status).toBe(400)
    expect(wrong.body).toMatchObject({ code: 'INVALID_OAUTH_CODE' })
    expect((await exchange(code, verifier)).status).toBe(400)
    expect((await exchange('made-up-code', verifier)).status).toBe(400)
  })

  it('lets exactly one of 20 concurrent exchanges win (single-page app on another origin)', async () => {
    const { verifier, back } = await appSignIn({ callbackURL: SPA })
    expect(`${back.origin}${back.pathname}`).toBe(SPA)
    const code = back.searchParams.get('code')!
    const results = await Promise.all(Array.from({ length: 20 }, () => exchange(code, verifier)))
    const won = results.filter((r) => r.status === 200)
    expect(won).toHaveLength(1)
    expect(results.filter((r) => r.status === 400)).toHaveLength(19)
    expect(won[0]!.body.token).toMatch(/^[\w-]{20,}$/)
  })

  it('refuses an expired code', async () => {
    const { verifier, back } = await appSignIn()
    const code = back.searchParams.get('code')!
    const n = await db.query(
      `UPDATE bastide.auth_verifications SET "expiresAt" = now() - interval '1 second'
       WHERE identifier LIKE 'bastide-oauth-code:%'`,
    )
    expect(n.rowCount).toBeGreaterThanOrEqual(1)
    const r = await exchange(code, verifier)
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ code: 'INVALID_OAUTH_CODE' })
  })

  it('refuses untrusted app links and malformed challenges', async () => {
    const { challenge } = pkce()
    const bad = await authCall(s, 'POST', '/sign-in/social', {
      provider: 'kc',
      callbackURL: 'evilapp://auth-callback',
      codeChallenge: challenge,
    })
    expect(bad.status).toBe(403)
    for (const codeChallenge of ['short', 42, `${challenge}x`]) {
      const r = await authCall(s, 'POST', '/sign-in/social', {
        provider: 'kc',
        callbackURL: APP,
        codeChallenge,
      })
      expect(r.status, String(codeChallenge)).toBe(400)
      expect(r.body.code).toBe('VALIDATION_FAILED')
    }
    const relative = await authCall(s, 'POST', '/sign-in/social', {
      provider: 'kc',
      callbackURL: '/account',
      codeChallenge: challenge,
    })
    expect(relative.status).toBe(400)
    const unknown = await s.api('GET', '/api/auth/oauth/continue?state=nope', undefined, { as: 'anon' })
    expect(unknown.status).toBe(400)
    expect(unknown.body.code).toBe('OAUTH_FLOW_NOT_FOUND')
  })

  it('sends sign-in errors back to the app link, with no code, and spends the flow', async () => {
    const { challenge } = pkce()
    op.nextAccount = 'alice'
    const r = await authCall(s, 'POST', '/sign-in/social', {
      provider: 'kc',
      callbackURL: APP,
      errorCallbackURL: APP,
      codeChallenge: challenge,
    })
    const browser = new CookieBrowser()
    const callback = new URL(await browser.followUntil(r.body.url, `${base}/api/auth/callback/kc`))
    callback.searchParams.set('code', 'not-the-provider-code')
    const res = await browser.fetch(callback.toString())
    const loc = res.headers.get('location')!
    expect(loc.startsWith(`${APP}?`)).toBe(true)
    expect(loc).toMatch(/[?&]error=/)
    expect(loc).not.toMatch(/[?&]code=/)
    const again = await browser.fetch(r.body.url)
    expect(again.status).toBe(400)
    expect(((await again.json()) as { code: string }).code).toBe('OAUTH_FLOW_NOT_FOUND')
  })

  it('leaves the browser cookie flow as it was without a challenge', async () => {
    op.nextAccount = 'alice'
    const b = new CookieBrowser()
    const start = await b.fetch(`${base}/api/auth/sign-in/social`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ provider: 'kc', callbackURL: `${base}/done`, disableRedirect: true }),
    })
    const { url } = (await start.json()) as { url: string }
    expect(new URL(url).origin).toBe(op.issuer)
    const callback = await b.followUntil(url, `${base}/api/auth/callback/kc`)
    const res = await b.fetch(callback)
    expect(res.headers.get('location')).toBe(`${base}/done`)
    expect(res.headers.get('set-auth-token')).toBeTruthy()
    expect(b.cookieNames(base)).toContain('bastide.session_token')
  })
})
