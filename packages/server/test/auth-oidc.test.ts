import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose'
import Provider from 'oidc-provider'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/load-config.ts'
import { authCall } from './support/auth.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

/**
 * OAuth 2.0 / OpenID Connect sign-in against a real provider: oidc-provider on loopback, driven like a
 * browser would (manual redirects, cookies carried by hand), login and consent completed by a custom
 * interaction route through the provider's own interaction API.
 */

const CLIENT_ID = 'bastide'
const CLIENT_SECRET = 'bastide-client-secret-0123456789abcdef'
const OTHER_CLIENT_ID = 'other-app'
const OTHER_CLIENT_SECRET = 'other-app-secret-0123456789abcdef'

const ACCOUNTS: Record<string, { email: string; email_verified: boolean; name: string }> = {
  alice: { email: 'alice@idp.example', email_verified: true, name: 'Alice Idp' },
  bob: { email: 'bob@idp.example', email_verified: false, name: 'Bob Idp' },
  carol: { email: 'carol@idp.example', email_verified: true, name: 'Carol Idp' },
}

/** Who the provider's interaction logs in next. */
let nextAccount = 'alice'
/** Lifetime of the ID tokens the provider issues, in seconds. */
let idTokenTtl = 3600

interface Op {
  readonly issuer: string
  /** Replaces the provider (same issuer, keys and cookie keys) with one that knows `redirectUri`. */
  register(redirectUri: string): void
  close(): Promise<void>
}

async function startOp(): Promise<Op> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(privateKey)), kid: 'op-key-1', alg: 'RS256', use: 'sig' }
  const make = (redirectUri: string) =>
    new Provider(issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [redirectUri, `${issuer}/app`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
        {
          client_id: OTHER_CLIENT_ID,
          client_secret: OTHER_CLIENT_SECRET,
          redirect_uris: [`${issuer}/app`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: ['op-cookie-key-0123456789abcdef'] },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      // Like Keycloak or Google: the ID token carries the requested claims even in the code flow.
      conformIdTokenClaims: false,
      pkce: { required: () => true },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
      findAccount: async (_ctx: unknown, sub: string) =>
        ACCOUNTS[sub] ? { accountId: sub, claims: async () => ({ sub, ...ACCOUNTS[sub] }) } : undefined,
      ttl: {
        IdToken: () => idTokenTtl,
        AccessToken: 600,
        AuthorizationCode: 60,
        Grant: 3600,
        Interaction: 600,
        Session: 3600,
      },
    })
  let provider = make('http://localhost/not-yet')
  let handle = provider.callback()
  server.on('request', async (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return handle(req, res)
    try {
      // Login and consent in one go, as whoever the test picked.
      const details = await provider.interactionDetails(req, res)
      const accountId = nextAccount
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) })
      grant.addOIDCScope(String(details.params.scope))
      const grantId = await grant.save()
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      )
    } catch (err) {
      res.statusCode = 500
      res.end(String(err))
    }
  })
  return {
    issuer,
    register(redirectUri) {
      provider = make(redirectUri)
      handle = provider.callback()
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A browser without JavaScript: manual redirects, one cookie jar per host (paths ignored). */
class Browser {
  private readonly jars = new Map<string, Map<string, string>>()

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    // Bastide listens on 127.0.0.1 but names itself localhost.
    const u = new URL(url.replace('//localhost:', '//127.0.0.1:'))
    let jar = this.jars.get(u.host)
    if (!jar) this.jars.set(u.host, (jar = new Map()))
    const headers = new Headers(init.headers)
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
    const res = await fetch(u, { ...init, headers, redirect: 'manual' })
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const gone = attrs.some((a) => {
        const [k = '', v = ''] = a.trim().split('=')
        if (/^max-age$/i.test(k)) return Number(v) <= 0
        if (/^expires$/i.test(k)) return Date.parse(v) <= Date.now()
        return false
      })
      if (gone || !value) jar.delete(name)
      else jar.set(name, value)
    }
    return res
  }

  /** Follows redirects from `url` until one points under `prefix`, which is returned unfollowed. */
  async followUntil(url: string, prefix: string): Promise<string> {
    let next = url
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.fetch(next)
      const loc = res.headers.get('location')
      if (res.status < 300 || res.status >= 400 || !loc)
        throw new Error(`stopped at ${next}: ${res.status} ${await res.text()}`)
      next = new URL(loc, next).toString()
      if (next.startsWith(prefix)) return next
    }
    throw new Error(`too many redirects from ${url}`)
  }
}

let op: Op
let s: TestServer
let db: pg.Client
/** Bastide's own idea of its origin (BASTIDE_PUBLIC_URL unset: http://localhost:<port>). */
let base: string

beforeAll(async () => {
  op = await startOp()
  s = await startTestServer({
    listen: true,
    env: {
      BASTIDE_OIDC_KC_ISSUER: op.issuer,
      BASTIDE_OIDC_KC_CLIENT_ID: CLIENT_ID,
      BASTIDE_OIDC_KC_CLIENT_SECRET: CLIENT_SECRET,
      BASTIDE_AUTH_RATE_LIMIT: '1000',
      ...Object.fromEntries(
        ['GOOGLE', 'GITHUB', 'MICROSOFT', 'GITLAB', 'DISCORD', 'APPLE'].flatMap((p) => [
          [`BASTIDE_OAUTH_${p}_CLIENT_ID`, `${p.toLowerCase()}-client-id`],
          // Apple's secret is a JWT the operator signs with their Apple key (better-auth sends it as is).
          [`BASTIDE_OAUTH_${p}_CLIENT_SECRET`, `${p.toLowerCase()}-client-secret`],
        ]),
      ),
    },
  })
  base = `http://localhost:${s.bastide.port}`
  // better-auth 1.7 routes generic OIDC providers through the core callback, /callback/:id.
  op.register(`${base}/api/auth/callback/kc`)
  db = new pg.Client({ connectionString: s.dbUrl })
  await db.connect()
})
afterAll(async () => {
  await db?.end()
  await s?.close()
  await op?.close()
})

const CALLBACK = () => `${base}/api/auth/callback/kc`

/** Starts a sign-in at Bastide and walks the provider up to (not into) Bastide's callback. */
async function toCallback(b: Browser, account: string): Promise<{ authorize: URL; callback: string }> {
  nextAccount = account
  const start = await b.fetch(`${base}/api/auth/sign-in/social`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ provider: 'kc', callbackURL: `${base}/done`, disableRedirect: true }),
  })
  expect(start.status, await start.clone().text()).toBe(200)
  const { url } = (await start.json()) as { url: string }
  return { authorize: new URL(url), callback: await b.followUntil(url, CALLBACK()) }
}

async function sessionsOf(userId: string): Promise<number> {
  const r = await db.query('SELECT count(*)::int AS n FROM bastide.auth_sessions WHERE "userId" = $1', [
    userId,
  ])
  return r.rows[0].n
}

async function userOf(token: string): Promise<{ id: string; email: string }> {
  const r = await authCall(s, 'GET', '/get-session', undefined, { token })
  expect(r.status).toBe(200)
  expect(r.body?.user?.id).toBeTruthy()
  return r.body.user
}

describe('authorization code flow with a generic OIDC provider', () => {
  let aliceId: string
  let used: { b: Browser; callback: string }

  it('signs in with PKCE (S256), creates the user and links the kc account', async () => {
    const b = new Browser()
    const { authorize, callback } = await toCallback(b, 'alice')
    expect(authorize.origin).toBe(op.issuer)
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256')
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/)
    expect(authorize.searchParams.get('redirect_uri')).toBe(CALLBACK())
    expect(authorize.searchParams.get('nonce')).toBeTruthy()
    const cb = new URL(callback)
    expect(cb.searchParams.get('code')).toBeTruthy()
    expect(cb.searchParams.get('state')).toBe(authorize.searchParams.get('state'))

    const res = await b.fetch(callback)
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe(`${base}/done`)
    const token = res.headers.get('set-auth-token')
    expect(token).toBeTruthy()
    expect(res.headers.getSetCookie().some((c) => c.startsWith('bastide.session_token='))).toBe(true)

    const user = await userOf(token!)
    aliceId = user.id
    const rec = await s.api('GET', `/api/collections/users/records/${user.id}`, undefined, { as: token! })
    expect(rec.status).toBe(200)
    expect(rec.body).toMatchObject({ id: user.id, email: 'alice@idp.example', verified: true })
    const accounts = await db.query(
      'SELECT "providerId", "accountId" FROM bastide.auth_accounts WHERE "userId" = $1',
      [user.id],
    )
    expect(accounts.rows).toEqual([{ providerId: 'kc', accountId: 'alice' }])
    used = { b, callback }
  })

  it('reuses the same user on a second sign-in', async () => {
    const b = new Browser()
    const { callback } = await toCallback(b, 'alice')
    const res = await b.fetch(callback)
    const token = res.headers.get('set-auth-token')
    expect(token).toBeTruthy()
    expect((await userOf(token!)).id).toBe(aliceId)
    const n = await db.query(`SELECT count(*)::int AS n FROM data.users WHERE email = 'alice@idp.example'`)
    expect(n.rows[0].n).toBe(1)
  })

  it('never makes a second session from a replayed callback (the code and the state are single-use)', async () => {
    const before = await sessionsOf(aliceId)
    const res = await used.b.fetch(used.callback)
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toMatch(/[?&]error=/)
    expect(res.headers.get('set-auth-token')).toBe(null)
    // The old code with a fresh, valid state (and its own PKCE verifier): the provider refuses it.
    const b = new Browser()
    const { callback } = await toCallback(b, 'alice')
    const fresh = new URL(callback)
    fresh.searchParams.set('code', new URL(used.callback).searchParams.get('code')!)
    const replay = await b.fetch(fresh.toString())
    expect(replay.headers.get('location')).toMatch(/[?&]error=invalid_code/)
    expect(replay.headers.get('set-auth-token')).toBe(null)
    expect(await sessionsOf(aliceId)).toBe(before)
  })

  it('refuses a tampered state', async () => {
    const before = await sessionsOf(aliceId)
    const b = new Browser()
    const { callback } = await toCallback(b, 'alice')
    const u = new URL(callback)
    u.searchParams.set('state', `${u.searchParams.get('state')}x`)
    const res = await b.fetch(u.toString())
    expect(res.headers.get('location')).toMatch(/[?&]error=/)
    expect(res.headers.get('set-auth-token')).toBe(null)
    expect(await sessionsOf(aliceId)).toBe(before)
    // Only the state was wrong: the untouched callback from the same browser still signs in.
    const ok = await b.fetch(callback)
    expect(ok.headers.get('set-auth-token')).toBeTruthy()
  })

  it('refuses a callback without the browser that started it (state cookie missing)', async () => {
    const before = await sessionsOf(aliceId)
    const { callback } = await toCallback(new Browser(), 'alice')
    const res = await new Browser().fetch(callback)
    expect(res.headers.get('location')).toMatch(/[?&]error=/)
    expect(res.headers.get('set-auth-token')).toBe(null)
    expect(await sessionsOf(aliceId)).toBe(before)
  })
})

/** A real ID token from the provider, through its code flow as a native app would run it. */
async function providerIdToken(
  account: string,
  o: { clientId?: string; clientSecret?: string; nonce?: string } = {},
): Promise<string> {
  nextAccount = account
  const clientId = o.clientId ?? CLIENT_ID
  const verifier = randomBytes(32).toString('base64url')
  const redirectUri = `${op.issuer}/app`
  const q = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid email profile',
    redirect_uri: redirectUri,
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...(o.nonce ? { nonce: o.nonce } : {}),
  })
  const back = new URL(await new Browser().followUntil(`${op.issuer}/auth?${q}`, redirectUri))
  const res = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code')!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_id: clientId,
      client_secret: o.clientSecret ?? CLIENT_SECRET,
    }),
  })
  const body = (await res.json()) as { id_token?: string }
  if (!body.id_token) throw new Error(`no id_token: ${JSON.stringify(body)}`)
  return body.id_token
}

const idTokenSignIn = (body: unknown) => authCall(s, 'POST', '/sign-in/id-token', body)

describe('native ID-token sign-in (POST /sign-in/id-token)', () => {
  it('signs in with a provider ID token, creating a verified user and a kc account', async () => {
    const idToken = await providerIdToken('carol')
    expect(decodeJwt(idToken)).toMatchObject({ iss: op.issuer, aud: CLIENT_ID, email: 'carol@idp.example' })
    const r = await idTokenSignIn({ providerId: 'kc', idToken })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.user).toMatchObject({ email: 'carol@idp.example', emailVerified: true, name: 'Carol Idp' })
    expect(r.headers.get('set-auth-token')).toBeTruthy()
    const token = r.body.token as string
    const rec = await s.api('GET', `/api/collections/users/records/${r.body.user.id}`, undefined, {
      as: token,
    })
    expect(rec.body).toMatchObject({ email: 'carol@idp.example', verified: true })
    const acc = await db.query(
      'SELECT "providerId", "accountId" FROM bastide.auth_accounts WHERE "userId" = $1',
      [r.body.user.id],
    )
    expect(acc.rows).toEqual([{ providerId: 'kc', accountId: 'carol' }])
  })

  it('finds the user the redirect flow created (same provider account)', async () => {
    const r = await idTokenSignIn({ providerId: 'kc', idToken: await providerIdToken('alice') })
    expect(r.status).toBe(200)
    const users = await db.query(`SELECT id FROM data.users WHERE email = 'alice@idp.example'`)
    expect(users.rows).toHaveLength(1)
    expect(r.body.user.id).toBe(users.rows[0].id)
  })

  it('keeps email_verified=false from the provider', async () => {
    const r = await idTokenSignIn({ providerId: 'kc', idToken: await providerIdToken('bob') })
    expect(r.status).toBe(200)
    expect(r.body.user).toMatchObject({ email: 'bob@idp.example', emailVerified: false })
  })

  it('checks the nonce when the token has one: raw value or its SHA-256', async () => {
    const nonce = randomBytes(16).toString('hex')
    const idToken = await providerIdToken('alice', { nonce })
    for (const body of [{}, { nonce: 'other-nonce' }]) {
      const r = await idTokenSignIn({ providerId: 'kc', idToken, ...body })
      expect(r.status).toBe(401)
      expect(r.body).toMatchObject({ code: 'INVALID_ID_TOKEN', status: 401 })
    }
    expect((await idTokenSignIn({ providerId: 'kc', idToken, nonce })).status).toBe(200)
    const raw = randomBytes(16).toString('hex')
    const hashed = await providerIdToken('alice', {
      nonce: createHash('sha256').update(raw).digest('hex'),
    })
    expect((await idTokenSignIn({ providerId: 'kc', idToken: hashed, nonce: raw })).status).toBe(200)
    // A nonce the token does not carry is refused too.
    const plain = await providerIdToken('alice')
    expect((await idTokenSignIn({ providerId: 'kc', idToken: plain, nonce: raw })).status).toBe(401)
  })

  it('refuses a token signed by another key, even with the right kid, and an HS256 one', async () => {
    const { privateKey } = await generateKeyPair('RS256')
    const claims = { email: 'alice@idp.example', email_verified: true }
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'op-key-1' })
      .setIssuer(op.issuer)
      .setAudience(CLIENT_ID)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey)
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: 'op-key-1' })
      .setIssuer(op.issuer)
      .setAudience(CLIENT_ID)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(CLIENT_SECRET))
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${forged.split('.')[1]}.`
    for (const idToken of [forged, hs, unsigned, 'not-a-jwt']) {
      const r = await idTokenSignIn({ providerId: 'kc', idToken })
      expect(r.status, idToken).toBe(401)
      expect(r.body).toMatchObject({ code: 'INVALID_ID_TOKEN', status: 401 })
      expect(r.headers.get('set-auth-token')).toBe(null)
    }
  })

  it('refuses a token issued to another client', async () => {
    const idToken = await providerIdToken('alice', {
      clientId: OTHER_CLIENT_ID,
      clientSecret: OTHER_CLIENT_SECRET,
    })
    expect(decodeJwt(idToken).aud).toBe(OTHER_CLIENT_ID)
    const r = await idTokenSignIn({ providerId: 'kc', idToken })
    expect(r.status).toBe(401)
    expect(r.body).toMatchObject({ code: 'INVALID_ID_TOKEN', status: 401 })
  })

  it('refuses an expired token', { timeout: 30_000 }, async () => {
    idTokenTtl = 1
    let idToken: string
    try {
      idToken = await providerIdToken('alice')
    } finally {
      idTokenTtl = 3600
    }
    const exp = decodeJwt(idToken).exp!
    // Past exp and the verifier's 5 s clock tolerance.
    while (Date.now() / 1000 <= exp + 6) await new Promise((r) => setTimeout(r, 250))
    const r = await idTokenSignIn({ providerId: 'kc', idToken })
    expect(r.status).toBe(401)
    expect(r.body).toMatchObject({ code: 'INVALID_ID_TOKEN', message: 'The ID token has expired.' })
  })

  it("refuses better-auth's /sign-in/social ID-token path for generic providers (it skips an unsent nonce)", async () => {
    const idToken = await providerIdToken('alice')
    const r = await authCall(s, 'POST', '/sign-in/social', { provider: 'kc', idToken: { token: idToken } })
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ code: 'USE_ID_TOKEN_ENDPOINT', status: 400 })
    expect(r.headers.get('set-auth-token')).toBe(null)
  })

  it('answers an unknown provider with 404 in the error shape', async () => {
    const r = await idTokenSignIn({ providerId: 'nope', idToken: await providerIdToken('alice') })
    expect(r.status).toBe(404)
    expect(r.body).toEqual({
      code: 'PROVIDER_NOT_FOUND',
      message: 'No OpenID Connect provider "nope" is configured.',
      status: 404,
    })
  })
})

describe('built-in social providers', () => {
  const AUTHORIZE: Record<string, string> = {
    google: 'https://accounts.google.com/o/oauth2/v2/auth',
    github: 'https://github.com/login/oauth/authorize',
    microsoft: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
    gitlab: 'https://gitlab.com/oauth/authorize',
    discord: 'https://discord.com/api/oauth2/authorize',
    apple: 'https://appleid.apple.com/auth/authorize',
  }

  it('answers the provider authorization URL with state, PKCE and our callback', async () => {
    for (const [provider, endpoint] of Object.entries(AUTHORIZE)) {
      const r = await authCall(s, 'POST', '/sign-in/social', { provider, callbackURL: `${base}/` })
      expect(r.status, `${provider}: ${JSON.stringify(r.body)}`).toBe(200)
      const u = new URL(r.body.url)
      expect(`${u.origin}${u.pathname}`, provider).toBe(endpoint)
      expect(u.searchParams.get('client_id'), provider).toBe(`${provider}-client-id`)
      expect(u.searchParams.get('redirect_uri'), provider).toBe(`${base}/api/auth/callback/${provider}`)
      expect(u.searchParams.get('state'), provider).toMatch(/^[\w-]{16,}$/)
      if (provider === 'discord') {
        // better-auth's Discord provider sends no code_challenge (state only).
        expect(u.searchParams.get('code_challenge'), provider).toBe(null)
      } else {
        expect(u.searchParams.get('code_challenge_method'), provider).toBe('S256')
        expect(u.searchParams.get('code_challenge'), provider).toMatch(/^[\w-]{43}$/)
      }
    }
  })

  it('will not start with an Apple client id but no client secret', () => {
    expect(() =>
      loadConfig({ BASTIDE_OAUTH_APPLE_CLIENT_ID: 'com.example.app', BASTIDE_OAUTH_GOOGLE_CLIENT_ID: 'g' }),
    ).toThrow(/BASTIDE_OAUTH_APPLE_CLIENT_SECRET/)
  })
})
