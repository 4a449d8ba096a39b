import { sign as edSign, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createLocalJWKSet, type JWTPayload, jwtVerify, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { createJwtKeyring, ed25519PublicKey, parseJwt, verifyAccessJwt } from './verify-jwt.ts'

const ISSUER = 'https://api.example.com'
const NOW = 1_800_000_000

function edPair(): { privateKey: KeyObject; jwk: Record<string, unknown> } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> }
}

const a = edPair()
const b = edPair()
/** The set as loadJwks builds it: public JWK, kid = row id, alg EdDSA. */
const jwkA = { ...a.jwk, kid: 'kid-a', alg: 'EdDSA' }
const jwkB = { ...b.jwk, kid: 'kid-b', alg: 'EdDSA' }
const ring = createJwtKeyring([jwkA, jwkB])
const ringA = createJwtKeyring([jwkA])

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISSUER,
  aud: ISSUER,
  sub: 'user-1',
  sid: 'session-1',
  iat: NOW - 10,
  exp: NOW + 600,
  ...over,
})

async function sign(
  payload: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'EdDSA', kid: 'kid-a' },
  key: KeyObject = a.privateKey,
): Promise<string> {
  return new SignJWT(payload as JWTPayload).setProtectedHeader(header as { alg: string }).sign(key)
}

/** Signs any header, even one jose refuses to produce. */
function rawSign(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key = a.privateKey,
): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${edSign(null, Buffer.from(input), key).toString('base64url')}`
}

const verify = (token: string, keys = ring) => verifyAccessJwt(token, keys, { issuer: ISSUER, now: NOW })

/** What the previous code (jose over a local JWKS, same options) answered: claims or undefined. */
async function joseVerify(token: string, jwks = [jwkA, jwkB]): Promise<Record<string, unknown> | undefined> {
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: jwks }), {
      issuer: ISSUER,
      audience: ISSUER,
      algorithms: ['EdDSA'],
      requiredClaims: ['exp', 'iat', 'sub', 'sid'],
      clockTolerance: 5,
      currentDate: new Date(NOW * 1000),
    })
    return payload as Record<string, unknown>
  } catch {
    return undefined
  }
}

describe('verifyAccessJwt', () => {
  it('accepts a token signed by a key of the set, by kid, and returns its claims', async () => {
    const t = await sign(claims({ role: 'user' }))
    expect(verify(t)).toEqual(claims({ role: 'user' }))
    const u = await sign(claims(), { alg: 'EdDSA', kid: 'kid-b' }, b.privateKey)
    expect(verify(u)).toEqual(claims())
    // Parsed once by the caller (to read the kid) and handed over: same answer.
    expect(verifyAccessJwt(parseJwt(t)!, ring, { issuer: ISSUER, now: NOW })).toEqual(
      claims({ role: 'user' }),
    )
  })

  it('refuses alg none, HS256 keyed with the public key, and algorithms other than EdDSA', async () => {
    const [, p] = (await sign(claims())).split('.')
    expect(verify(`${b64({ alg: 'none', kid: 'kid-a' })}.${p}.`)).toBeUndefined()
    expect(verify(`${b64({ alg: 'none' })}.${p}.`)).toBeUndefined()
    for (const secret of [Buffer.from(a.jwk.x as string, 'base64url'), Buffer.from(a.jwk.x as string)]) {
      const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'kid-a' }).sign(secret)
      expect(verify(hs)).toBeUndefined()
    }
    // The same valid signature relabelled: only "EdDSA" names our algorithm.
    const [, q, s] = (await sign(claims())).split('.')
    for (const alg of ['Ed25519', 'eddsa', 'ES256', '', null, ['EdDSA']]) {
      const h = b64({ alg, kid: 'kid-a' })
      expect(verify(`${h}.${q}.${s}`)).toBeUndefined()
    }
  })

  it('refuses a token signed by another Ed25519 key under a real kid, or under an unknown kid', async () => {
    const mallory = edPair()
    expect(verify(await sign(claims(), { alg: 'EdDSA', kid: 'kid-a' }, mallory.privateKey))).toBeUndefined()
    expect(verify(await sign(claims(), { alg: 'EdDSA', kid: 'kid-b' }, a.privateKey))).toBeUndefined()
    expect(verify(await sign(claims(), { alg: 'EdDSA', kid: 'kid-z' }))).toBeUndefined()
    expect(verify(await sign(claims(), { alg: 'EdDSA', kid: 7 }))).toBeUndefined()
  })

  it('refuses tampered payloads, headers and signatures', async () => {
    const [h, p, s] = (await sign(claims())).split('.') as [string, string, string]
    expect(verify(`${h}.${b64(claims({ sub: 'user-2' }))}.${s}`)).toBeUndefined()
    expect(verify(`${h}.${b64(claims({ exp: NOW + 86_400 }))}.${s}`)).toBeUndefined()
    expect(verify(`${b64({ alg: 'EdDSA', kid: 'kid-a', x: 1 })}.${p}.${s}`)).toBeUndefined()
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11)
    expect(verify(`${h}.${p}.${flipped}`)).toBeUndefined()
    // Another encoding of the same 64 bytes (non-zero trailing bits), padding, or a truncated signature.
    const last = s.at(-1)!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const sibling = s.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1]
    expect(Buffer.from(sibling, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true)
    expect(verify(`${h}.${p}.${sibling}`)).toBeUndefined()
    expect(verify(`${h}.${p}.${s}==`)).toBeUndefined()
    expect(verify(`${h}.${p}.${s.slice(0, -2)}`)).toBeUndefined()
    expect(verify(`${h}.${p}.${s}A`)).toBeUndefined()
  })

  it('checks iss, aud (a string or a list holding it), exp and nbf with 5 s of tolerance', async () => {
    const ok = async (c: Record<string, unknown>) => verify(await sign(c)) !== undefined
    expect(await ok(claims({ iss: 'https://elsewhere.example' }))).toBe(false)
    expect(await ok(claims({ aud: 'https://elsewhere.example' }))).toBe(false)
    expect(await ok(claims({ aud: ['https://elsewhere.example'] }))).toBe(false)
    expect(await ok(claims({ aud: ['https://elsewhere.example', ISSUER] }))).toBe(true)
    expect(await ok(claims({ iss: [ISSUER] }))).toBe(false)
    expect(await ok(claims({ exp: NOW - 3600 }))).toBe(false)
    expect(await ok(claims({ exp: NOW - 5 }))).toBe(false)
    expect(await ok(claims({ exp: NOW - 4 }))).toBe(true)
    expect(await ok(claims({ exp: String(NOW + 600) }))).toBe(false)
    expect(await ok(claims({ nbf: NOW + 5 }))).toBe(true)
    expect(await ok(claims({ nbf: NOW + 6 }))).toBe(false)
    expect(await ok(claims({ nbf: 'soon' }))).toBe(false)
    expect(await ok(claims({ iat: String(NOW) }))).toBe(false)
    // iat is not bounded (no maxTokenAge), as before.
    expect(await ok(claims({ iat: NOW + 3600 }))).toBe(true)
  })

  it('requires exp, iat, sub, sid, iss and aud', async () => {
    for (const name of ['exp', 'iat', 'sub', 'sid', 'iss', 'aud']) {
      const { [name]: _gone, ...rest } = claims()
      expect(verify(await sign(rest)), name).toBeUndefined()
    }
  })

  it('refuses crit headers and a typ other than JWT', async () => {
    const c = claims()
    expect(verify(rawSign({ alg: 'EdDSA', kid: 'kid-a' }, c))).toEqual(c)
    expect(verify(rawSign({ alg: 'EdDSA', kid: 'kid-a', crit: ['exp'], exp: 1 }, c))).toBeUndefined()
    expect(verify(rawSign({ alg: 'EdDSA', kid: 'kid-a', crit: ['b64'], b64: true }, c))).toBeUndefined()
    expect(verify(rawSign({ alg: 'EdDSA', kid: 'kid-a', crit: [] }, c))).toBeUndefined()
    expect(verify(await sign(c, { alg: 'EdDSA', kid: 'kid-a', typ: 'JWT' }))).toEqual(c)
    expect(verify(await sign(c, { alg: 'EdDSA', kid: 'kid-a', typ: 'application/jwt' }))).toEqual(c)
    expect(verify(await sign(c, { alg: 'EdDSA', kid: 'kid-a', typ: 'at+jwt' }))).toBeUndefined()
    expect(verify(await sign(c, { alg: 'EdDSA', kid: 'kid-a', typ: 1 }))).toBeUndefined()
  })

  it('without a kid, uses the only key of the set, and refuses when there are several', async () => {
    const t = await sign(claims(), { alg: 'EdDSA' })
    expect(verify(t, ringA)).toEqual(claims())
    expect(verify(t, ring)).toBeUndefined()
    expect(await joseVerify(t, [jwkA])).toEqual(claims())
    expect(await joseVerify(t, [jwkA, jwkB])).toBeUndefined()
    // Keys that are not EdDSA candidates do not count.
    const other = { ...jwkB, use: 'enc' }
    expect(verify(t, createJwtKeyring([jwkA, other]))).toEqual(claims())
    expect(verify(t, createJwtKeyring([]))).toBeUndefined()
  })

  it('never throws on malformed input', () => {
    const junk = [
      '',
      '.',
      '..',
      '...',
      'a.b.c',
      'x.y.z.w',
      `${b64({ alg: 'EdDSA', kid: 'kid-a' })}.${b64(claims())}`,
      `${b64({ alg: 'EdDSA', kid: 'kid-a' })}.%%%.${'A'.repeat(86)}`,
      `${b64({ alg: 'EdDSA', kid: 'kid-a' })}.${b64('a string')}.${'A'.repeat(86)}`,
      `${b64([1, 2])}.${b64(claims())}.${'A'.repeat(86)}`,
      `${b64(null)}.${b64(claims())}.${'A'.repeat(86)}`,
      `${Buffer.from('{"alg":"EdDSA",').toString('base64url')}.e30.${'A'.repeat(86)}`,
      `${Buffer.from([0xff, 0xfe]).toString('base64url')}.e30.${'A'.repeat(86)}`,
      `${b64({ alg: 'EdDSA', kid: 'kid-a' })}.e30.${'A'.repeat(86)}`,
      `${b64({ alg: 'EdDSA', kid: '__proto__' })}.e30.${'A'.repeat(86)}`,
      `${b64({ alg: 'EdDSA', kid: 'kid-a' })}.e30.${'_'.repeat(86)}`,
    ]
    for (const t of junk) expect(verify(t), t).toBeUndefined()
    expect(verifyAccessJwt(undefined as unknown as string, ring, { issuer: ISSUER })).toBeUndefined()
  })

  it('agrees with jose (the previous verifier) on valid and rejected tokens', async () => {
    const [h, p, s] = (await sign(claims())).split('.') as [string, string, string]
    const cases = [
      await sign(claims()),
      await sign(claims(), { alg: 'EdDSA', kid: 'kid-b' }, b.privateKey),
      await sign(claims(), { alg: 'EdDSA', kid: 'kid-b' }, a.privateKey),
      await sign(claims({ aud: [ISSUER] })),
      await sign(claims({ aud: 'x' })),
      await sign(claims({ exp: NOW - 5 })),
      await sign(claims({ exp: NOW - 4 })),
      await sign(claims({ nbf: NOW + 5 })),
      await sign(claims({ nbf: NOW + 6 })),
      await sign(claims({ iat: 'x' })),
      await sign({ ...claims(), sid: undefined }),
      `${h}.${b64(claims({ sub: 'u2' }))}.${s}`,
      `${h}.${p}.`,
      `${b64({ alg: 'none' })}.${p}.`,
    ]
    for (const t of cases) expect(verify(t), t).toEqual(await joseVerify(t))
  })
})

describe('the verified-token cache', () => {
  it('answers a token again from the cache, still checking expiry and the issuer', async () => {
    const keys = createJwtKeyring([jwkA])
    const t = await sign(claims({ exp: NOW + 60 }))
    expect(verifyAccessJwt(t, keys, { issuer: ISSUER, now: NOW })).toEqual(claims({ exp: NOW + 60 }))
    expect(keys.verified.has(t)).toBe(true)
    expect(verifyAccessJwt(t, keys, { issuer: ISSUER, now: NOW + 30 })).toEqual(claims({ exp: NOW + 60 }))
    expect(verifyAccessJwt(t, keys, { issuer: 'https://other.example', now: NOW })).toBeUndefined()
    expect(verifyAccessJwt(t, keys, { issuer: ISSUER, now: NOW + 65 })).toBeUndefined()
    expect(keys.verified.has(t)).toBe(false)
  })

  it('never holds a token that failed, and a new ring (a key read) starts empty', async () => {
    const keys = createJwtKeyring([jwkA])
    const [h, p, s] = (await sign(claims())).split('.') as [string, string, string]
    const forged = `${h}.${b64(claims({ sub: 'user-2' }))}.${s}`
    expect(verifyAccessJwt(forged, keys, { issuer: ISSUER, now: NOW })).toBeUndefined()
    expect(keys.verified.size).toBe(0)
    expect(verifyAccessJwt(`${h}.${p}.${s}`, keys, { issuer: ISSUER, now: NOW })).toBeDefined()
    // The key is gone from the next read: the token no longer verifies.
    expect(
      verifyAccessJwt(`${h}.${p}.${s}`, createJwtKeyring([jwkB]), { issuer: ISSUER, now: NOW }),
    ).toBeUndefined()
  })
})

describe('createJwtKeyring', () => {
  it('imports only the public part of a JWK, and leaves out keys that are not Ed25519', () => {
    const { privateKey } = generateKeyPairSync('ed25519')
    const priv = {
      ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>),
      kid: 'p',
      alg: 'EdDSA',
    }
    const k = createJwtKeyring([priv]).byKid.get('p')
    expect(k?.type).toBe('public')
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    const r = createJwtKeyring([
      { ...ec, kid: 'ec', alg: 'ES256' },
      { kty: 'OKP', crv: 'Ed25519', x: 'not-a-key', kid: 'bad', alg: 'EdDSA' },
      { ...jwkA, kid: 'ops', key_ops: ['sign'] },
    ])
    expect([...r.byKid.keys()]).toEqual([])
    expect(ed25519PublicKey({ kty: 'OKP', crv: 'Ed25519' })).toBeUndefined()
  })
})
