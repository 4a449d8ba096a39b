import {
  CookieBrowser,
  OP_CLIENT_ID,
  OP_CLIENT_SECRET,
  type Op,
  startOp,
} from '@bastide/server/test/support/oidc-op.ts'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { codeChallenge, sha256 } from '../src/pkce.ts'
import { OAuthService } from '../src/services/oauth.ts'
import type { Session, SessionSink } from '../src/services/session.ts'
import { memoryStorage } from '../src/session-storage.ts'
import { clientFor, startServer, type TestServer } from './support/server.ts'

/**
 * OAuth from an app through the SDK, against a real OpenID Connect provider (oidc-provider on loopback):
 * signIn → the URL walked by a "system browser" (login and consent by HTTP) → the app link with a code →
 * exchangeCode → the session works on the records API.
 */

const APP = 'myapp://auth-callback'

let op: Op
let s: TestServer & { url: string }

beforeAll(async () => {
  op = await startOp({ olga: { email: 'olga@idp.example', email_verified: true, name: 'Olga Idp' } })
  s = await startServer({
    BASTIDE_OIDC_KC_ISSUER: op.issuer,
    BASTIDE_OIDC_KC_CLIENT_ID: OP_CLIENT_ID,
    BASTIDE_OIDC_KC_CLIENT_SECRET: OP_CLIENT_SECRET,
    BASTIDE_TRUSTED_ORIGINS: 'myapp://',
  })
  op.register(`${s.url}/api/auth/callback/kc`)
})
afterAll(async () => {
  await s?.close()
  await op?.close()
})

/** Stands in for the auth service: keeps the token it is given and reports the user the server knows. */
function recordingSink(): SessionSink & { tokens: string[] } {
  const tokens: string[] = []
  return {
    tokens,
    async setSessionFromToken(token: string): Promise<Session> {
      tokens.push(token)
      const r = await s.api('GET', '/api/auth/get-session', undefined, { as: token })
      return { token, accessToken: '', accessTokenExpiresAt: '', expiresAt: '', user: r.body.user }
    },
  }
}

/** The system browser: from the URL signIn answered to the app link, through login and consent. */
const walk = (url: string) => new CookieBrowser().followUntil(url, APP)

describe('OAuthService', () => {
  it('signs in through the provider and hands the session to the client (client.auth)', async () => {
    const client = clientFor(s)
    const oauth = new OAuthService(client.http, client.auth)
    const { url } = await oauth.signIn({ provider: 'kc', redirectTo: APP, scopes: ['profile'] })
    const back = await walk(url)
    expect(back).toMatch(/^myapp:\/\/auth-callback\?code=[\w-]+$/)
    const session = await oauth.exchangeCode(back)
    expect(session.user).toMatchObject({ email: 'olga@idp.example' })
    // The records API takes the client's credentials as this user.
    const me = await client.collection('users').list()
    expect(me.items.map((u) => u.id)).toEqual([session.user.id])
    await client.close()
  })

  it('exchanges the code once, for the client that holds the verifier', async () => {
    const sink = recordingSink()
    const client = clientFor(s)
    const oauth = new OAuthService(client.http, sink)
    const back = await walk((await oauth.signIn({ provider: 'kc', redirectTo: APP })).url)
    const code = new URL(back.replace(APP, 'http://app.invalid/')).searchParams.get('code')!

    // Another client (no verifier) cannot use the link; one with its own verifier neither.
    const thief = new OAuthService(client.http, recordingSink())
    await expect(thief.exchangeCode(back)).rejects.toMatchObject({ code: 'OAUTH_NOT_STARTED' })
    // The code alone works as well as the whole URL.
    const session = await oauth.exchangeCode(code)
    expect(sink.tokens).toHaveLength(1)
    expect(session.user).toMatchObject({ email: 'olga@idp.example' })
    const rec = await s.api('GET', `/api/collections/users/records/${session.user.id}`, undefined, {
      as: sink.tokens[0]!,
    })
    expect(rec.status).toBe(200)
    // Spent: the verifier is gone from the client and the code from the server.
    await expect(oauth.exchangeCode(back)).rejects.toMatchObject({ code: 'OAUTH_NOT_STARTED' })
    await client.close()
  })

  it('keeps the verifier in the given storage, so a restarted app can finish the sign-in', async () => {
    const storage = memoryStorage()
    const client = clientFor(s)
    const before = new OAuthService(client.http, recordingSink(), { storage, storageKey: 'app' })
    const back = await walk((await before.signIn({ provider: 'kc', redirectTo: APP })).url)
    expect(await storage.getItem('app.oauth')).toBeTruthy()
    const after = new OAuthService(client.http, recordingSink(), { storage, storageKey: 'app' })
    expect((await after.exchangeCode(back)).user).toMatchObject({ email: 'olga@idp.example' })
    expect(await storage.getItem('app.oauth')).toBe(null)
    await client.close()
  })

  it('throws the error the browser came back with, and refuses an untrusted link', async () => {
    const client = clientFor(s)
    const oauth = new OAuthService(client.http, recordingSink())
    await expect(
      oauth.exchangeCode(`${APP}?error=access_denied&error_description=The%20user%20said%20no`),
    ).rejects.toMatchObject({ code: 'ACCESS_DENIED', message: 'The user said no' })
    await expect(oauth.signIn({ provider: 'kc', redirectTo: 'evil://x' })).rejects.toMatchObject({
      status: 403,
      code: 'INVALID_CALLBACK_URL',
    })
    await client.close()
  })
})

describe('PKCE', () => {
  it('hashes like crypto.subtle, without it (React Native)', async () => {
    const { createHash, randomBytes } = await import('node:crypto')
    for (const n of [0, 1, 43, 55, 56, 63, 64, 65, 128, 1000]) {
      const data = randomBytes(n)
      expect(Buffer.from(sha256(data)).toString('hex'), String(n)).toBe(
        createHash('sha256').update(data).digest('hex'),
      )
    }
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
    // RFC 7636 appendix B.
    expect(await codeChallenge(verifier)).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')
    // Hermes: getRandomValues from a polyfill, no subtle.
    const real = globalThis.crypto
    vi.stubGlobal('crypto', { getRandomValues: (a: Uint8Array) => real.getRandomValues(a) })
    try {
      expect((globalThis.crypto as Crypto).subtle).toBe(undefined)
      expect(await codeChallenge(verifier)).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')
    } finally {
      vi.unstubAllGlobals()
    }
  })
})
