import { createPrivateKey, sign } from 'node:crypto'
import { createHMAC } from '@better-auth/utils/hmac'
import { symmetricDecrypt } from 'better-auth/crypto'
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessToken, authCall, type SignedUp, signIn, signUp } from './support/auth.ts'
import { type ApiResponse, startTestServer, TEST_SECRET, type TestServer } from './support/harness.ts'

const ORIGIN = 'http://localhost:8787'

let s: TestServer
let me: SignedUp
let other: SignedUp
/** My session's id, as my access JWT carries it in `sid`. */
let mySid: string

beforeAll(async () => {
  s = await startTestServer({ env: { BASTIDE_PUBLIC_URL: ORIGIN } })
  me = await signUp(s, 'tokens-me@example.com')
  other = await signUp(s, 'tokens-other@example.com')
  mySid = decodeJwt(me.jwt).sid as string
})
afterAll(async () => {
  await s?.close()
})

const list = (token: string): Promise<ApiResponse> =>
  s.api('GET', '/api/collections/users/records', undefined, { as: token })

async function expectRejected(token: string): Promise<void> {
  const r = await list(token)
  expect(r.status, JSON.stringify(r.body)).toBe(401)
  expect(r.body.code).toBe('UNAUTHORIZED')
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const parts = (jwt: string) => jwt.split('.') as [string, string, string]

/** Signs a payload with the server's own current key, through better-auth's server-only API. */
async function serverSigned(payload: Record<string, unknown>): Promise<string> {
  const r = await s.bastide.auth.auth.api.signJWT({ body: { payload } })
  return r.token
}

/**
 * Signs any header and payload with the server's own private key `kid` (decrypted as better-auth does), so
 * that only the verifier's header and claim checks stand between the token and a 200.
 */
async function ownSigned(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  kid: unknown = header.kid,
): Promise<string> {
  const [row] = await sql<{ privateKey: string }>(
    `SELECT "privateKey" FROM bastide.auth_jwks WHERE id = $1`,
    [kid],
  )
  const ctx = (await s.bastide.auth.auth.$context) as unknown as {
    secretConfig: Parameters<typeof symmetricDecrypt>[0]['key']
  }
  const jwk = JSON.parse(await symmetricDecrypt({ key: ctx.secretConfig, data: JSON.parse(row!.privateKey) }))
  const input = `${b64(header)}.${b64(payload)}`
  const key = createPrivateKey({ key: jwk, format: 'jwk' })
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`
}

function validClaims(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    sub: me.id,
    sid: mySid,
    email: me.email,
    verified: false,
    role: 'user',
    anonymous: false,
    iat: now,
    exp: now + 600,
  }
}

async function jwks(): Promise<{ keys: Record<string, unknown>[] }> {
  const r = await authCall(s, 'GET', '/jwks')
  expect(r.status).toBe(200)
  return r.body
}

async function sql<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: s.dbUrl })
  await c.connect()
  try {
    return (await c.query(text, values)).rows as T[]
  } finally {
    await c.end()
  }
}

describe('valid credentials (the controls)', () => {
  it('accepts my session token, its signed form, my access JWT and a server-signed JWT', async () => {
    expect((await list(me.token)).status).toBe(200)
    const sig = await createHMAC('SHA-256', 'base64urlnopad').sign(TEST_SECRET, me.token)
    expect((await list(`${me.token}.${sig}`)).status).toBe(200)
    expect((await list(me.jwt)).status).toBe(200)
    expect((await list(await serverSigned(validClaims()))).status).toBe(200)
    const claims = decodeJwt(me.jwt)
    expect(claims).toMatchObject({ iss: ORIGIN, aud: ORIGIN, sub: me.id, sid: mySid, role: 'user' })
    expect(claims.exp! - claims.iat!).toBe(s.config.auth.accessTokenTtl)
    expect(decodeProtectedHeader(me.jwt).alg).toBe('EdDSA')
  })
})

describe('forged and invalid access tokens answer 401', () => {
  it('refuses alg "none", with or without a signature part', async () => {
    const [h, p, sig] = parts(me.jwt)
    const kid = decodeProtectedHeader(me.jwt).kid
    const none = b64({ alg: 'none', typ: 'JWT', kid })
    await expectRejected(`${none}.${p}.`)
    await expectRejected(`${none}.${p}.${sig}`)
    await expectRejected(`${b64({ alg: 'none' })}.${p}.`)
    // The original header with the signature dropped.
    await expectRejected(`${h}.${p}.`)
  })

  it('refuses HS256 tokens keyed with the public key bytes or the server secret', async () => {
    const { keys } = await jwks()
    const key = keys[0]!
    const claims = { ...validClaims(), iss: ORIGIN, aud: ORIGIN }
    const secrets = [
      new Uint8Array(Buffer.from(key.x as string, 'base64url')),
      new TextEncoder().encode(key.x as string),
      new TextEncoder().encode(JSON.stringify(key)),
      new TextEncoder().encode(TEST_SECRET),
    ]
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS512']) {
        const t = await new SignJWT(claims)
          .setProtectedHeader({ alg, kid: key.kid as string, typ: 'JWT' })
          .sign(secret)
        await expectRejected(t)
      }
    }
  })

  it('refuses a token signed by a fresh Ed25519 key that borrows a real kid', async () => {
    const kid = decodeProtectedHeader(me.jwt).kid!
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const t = await new SignJWT({ ...validClaims(), iss: ORIGIN, aud: ORIGIN })
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .sign(privateKey)
    await expectRejected(t)
    // And with a kid nobody knows.
    const u = await new SignJWT({ ...validClaims(), iss: ORIGIN, aud: ORIGIN })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'made-up-kid' })
      .sign(privateKey)
    await expectRejected(u)
  })

  it('refuses our own signature on the wrong audience, the wrong issuer, or past its expiry', async () => {
    await expectRejected(await serverSigned({ ...validClaims(), aud: 'https://elsewhere.example' }))
    await expectRejected(await serverSigned({ ...validClaims(), iss: 'https://elsewhere.example' }))
    const now = Math.floor(Date.now() / 1000)
    await expectRejected(await serverSigned({ ...validClaims(), iat: now - 7200, exp: now - 3600 }))
    // Missing claims the verifier requires.
    const { sid: _sid, ...noSid } = validClaims()
    await expectRejected(await serverSigned(noSid))
  })

  it('refuses our own signature on a crit header, a typ other than JWT, or alg relabelled', async () => {
    const kid = decodeProtectedHeader(me.jwt).kid
    const claims = { ...validClaims(), iss: ORIGIN, aud: ORIGIN }
    // The controls: the same signer with plain headers is accepted.
    expect((await list(await ownSigned({ alg: 'EdDSA', kid }, claims))).status).toBe(200)
    expect((await list(await ownSigned({ alg: 'EdDSA', kid, typ: 'JWT' }, claims))).status).toBe(200)
    await expectRejected(await ownSigned({ alg: 'EdDSA', kid, crit: ['b64'], b64: true }, claims))
    await expectRejected(await ownSigned({ alg: 'EdDSA', kid, crit: ['exp'], exp: 1 }, claims))
    await expectRejected(await ownSigned({ alg: 'EdDSA', kid, typ: 'at+jwt' }, claims))
    await expectRejected(await ownSigned({ alg: 'Ed25519', kid }, claims))
    await expectRejected(await ownSigned({ alg: 'EdDSA', kid: [kid] }, claims, kid))
  })

  it('checks nbf, exp past the 5 s tolerance, iat and an audience list like before', async () => {
    const now = Math.floor(Date.now() / 1000)
    await expectRejected(await serverSigned({ ...validClaims(), nbf: now + 3600 }))
    await expectRejected(await serverSigned({ ...validClaims(), exp: now - 30 }))
    const { iat: _iat, ...noIat } = validClaims()
    await expectRejected(await serverSigned(noIat))
    const { sub: _sub, ...noSub } = validClaims()
    await expectRejected(await serverSigned(noSub))
    await expectRejected(await serverSigned({ ...validClaims(), aud: ['https://elsewhere.example'] }))
    expect(
      (await list(await serverSigned({ ...validClaims(), aud: ['https://elsewhere.example', ORIGIN] })))
        .status,
    ).toBe(200)
    expect((await list(await serverSigned({ ...validClaims(), nbf: now - 60 }))).status).toBe(200)
  })

  it('refuses a real token whose payload was altered', async () => {
    const [h, p, sig] = parts(me.jwt)
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    await expectRejected(`${h}.${b64({ ...claims, role: 'admin' })}.${sig}`)
    await expectRejected(`${h}.${b64({ ...claims, sub: other.id })}.${sig}`)
    await expectRejected(`${h}.${b64({ ...claims, exp: claims.exp + 86_400 })}.${sig}`)
    // One flipped character in the signature.
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11)
    await expectRejected(`${h}.${p}.${flipped}`)
  })

  it("refuses another user's sub paired with my sid, even signed by us", async () => {
    await expectRejected(await serverSigned({ ...validClaims(), sub: other.id }))
    // Another user's sid with my sub: same answer.
    const otherSid = decodeJwt(other.jwt).sid
    await expectRejected(await serverSigned({ ...validClaims(), sid: otherSid }))
  })

  it('refuses a valid JWT once its session has ended (sign-out), and the session token too', async () => {
    const token = await signIn(s, me.email, me.password)
    const jwt = await accessToken(s, token)
    expect((await list(jwt)).status).toBe(200)
    const out = await authCall(s, 'POST', '/sign-out', undefined, { token })
    expect(out.status).toBe(200)
    await expectRejected(jwt)
    await expectRejected(token)
    // My other session is untouched.
    expect((await list(me.jwt)).status).toBe(200)
  })
})

describe('forged and invalid session tokens answer 401', () => {
  it('refuses a session token with a forged or foreign signature part', async () => {
    await expectRejected(`${me.token}.${Buffer.alloc(32, 7).toString('base64url')}`)
    await expectRejected(`${me.token}.`)
    const foreign = await createHMAC('SHA-256', 'base64urlnopad').sign(
      'another-secret-entirely-0123456789',
      me.token,
    )
    await expectRejected(`${me.token}.${foreign}`)
  })

  it('refuses random tokens and bst_sk_ garbage', async () => {
    await expectRejected(Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url'))
    await expectRejected('a'.repeat(32))
    await expectRejected('bst_sk_not_a_real_key_0123456789abcdef')
    await expectRejected('bst_sk_')
    await expectRejected('x.y.z')
    await expectRejected('...')
  })
})

describe('signing keys', () => {
  it('publishes only public keys at /api/auth/jwks', async () => {
    const { keys } = await jwks()
    expect(keys.length).toBeGreaterThan(0)
    for (const k of keys) {
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' })
      expect(typeof k.x).toBe('string')
      expect(typeof k.kid).toBe('string')
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'privateKey'])
        expect(k).not.toHaveProperty(secret)
    }
    expect(keys.map((k) => k.kid)).toContain(decodeProtectedHeader(me.jwt).kid)
  })

  it('rotates: new tokens carry a new kid that verifies at once, old tokens keep verifying', async () => {
    const oldJwt = me.jwt
    const oldKid = decodeProtectedHeader(oldJwt).kid!
    expect((await list(oldJwt)).status).toBe(200)
    // The current key reaches the end of its rotation interval: the next signature mints a new key.
    const changed = await sql(
      `UPDATE bastide.auth_jwks SET "createdAt" = now() - interval '31 days',
         "expiresAt" = now() - interval '1 day' WHERE id = $1 RETURNING id`,
      [oldKid],
    )
    expect(changed).toHaveLength(1)
    const newJwt = await accessToken(s, me.token)
    const newKid = decodeProtectedHeader(newJwt).kid!
    expect(newKid).not.toBe(oldKid)
    expect((await list(newJwt)).status).toBe(200)
    expect((await list(oldJwt)).status).toBe(200)
    const kids = (await jwks()).keys.map((k) => k.kid)
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]))
    // Tokens signed now all use the new key.
    expect(decodeProtectedHeader(await serverSigned(validClaims())).kid).toBe(newKid)
    // A forgery under the new kid is still a forgery.
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const forged = await new SignJWT({ ...validClaims(), iss: ORIGIN, aud: ORIGIN })
      .setProtectedHeader({ alg: 'EdDSA', kid: newKid })
      .sign(privateKey)
    await expectRejected(forged)
  })
})

describe('POST /api/auth/session/refresh', () => {
  const refresh = (token: string) => authCall(s, 'POST', '/session/refresh', undefined, { token })

  it('swaps the session token for a new one and hands out a fresh access JWT', async () => {
    const token = await signIn(s, me.email, me.password)
    const jwtBefore = await accessToken(s, token)
    const r = await refresh(token)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.headers.get('cache-control')).toBe('no-store')
    const { token: next, accessToken: jwt, accessTokenExpiresAt, expiresAt } = r.body
    expect(next).toMatch(/^[\w-]{32}$/)
    expect(next).not.toBe(token)
    // Cookie and header clients get the new token too (signed, as better-auth hands it out).
    expect(r.headers.get('set-auth-token')?.split('.')[0]).toBe(next)
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now())
    expect(new Date(accessTokenExpiresAt).getTime()).toBe((decodeJwt(jwt).exp as number) * 1000)
    // Same session: the JWT's sid does not change.
    expect(decodeJwt(jwt)).toMatchObject({ sub: me.id, sid: decodeJwt(jwtBefore).sid, iss: ORIGIN })

    await expectRejected(token)
    expect((await refresh(token)).status).toBe(401)
    expect((await list(next)).status).toBe(200)
    expect((await list(jwt)).status).toBe(200)
    // An access JWT of the same session lives on to its expiry: the session did not end.
    expect((await list(jwtBefore)).status).toBe(200)
    // The new token refreshes in turn, and gets an access JWT the usual way.
    expect((await accessToken(s, next)).split('.')).toHaveLength(3)
    const again = await refresh(next)
    expect(again.status).toBe(200)
    await expectRejected(next)
    expect((await list(again.body.token)).status).toBe(200)
  })

  it('needs a session token: no credential, an access JWT or a dead token get 401', async () => {
    expect((await authCall(s, 'POST', '/session/refresh')).status).toBe(401)
    expect((await refresh(me.jwt)).status).toBe(401)
    expect((await refresh('a'.repeat(32))).status).toBe(401)
  })

  it('lets exactly one of 50 concurrent refreshes with one token win', async () => {
    const token = await signIn(s, me.email, me.password)
    const results = await Promise.all(Array.from({ length: 50 }, () => refresh(token)))
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((x) => x === 200)).toHaveLength(1)
    expect(statuses.filter((x) => x === 401)).toHaveLength(49)
    const winner = results.find((r) => r.status === 200)!
    expect((await list(winner.body.token)).status).toBe(200)
    await expectRejected(token)
    const rows = await sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM bastide.auth_sessions WHERE token = $1`,
      [winner.body.token],
    )
    expect(rows[0]!.n).toBe(1)
  })
})
