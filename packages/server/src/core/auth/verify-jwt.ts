import { isUtf8 } from 'node:buffer'
import { createPublicKey, type KeyObject, verify } from 'node:crypto'

/**
 * Synchronous EdDSA (Ed25519) verification of compact access JWTs with node:crypto. It replaces jose's
 * `jwtVerify` over a `createLocalJWKSet` (WebCrypto: async, and several allocations and promises per call)
 * on the hot path of every request that carries an access JWT, and keeps what that call accepted for our
 * options (`algorithms: ['EdDSA']`, `issuer`, `audience`, `requiredClaims: exp iat sub sid`,
 * `clockTolerance: 5`), with two refusals jose did not make: any `crit` header, and a `typ` other than JWT.
 * A token verified once is remembered by its ring (see `JwtKeyring.verified`).
 */

/** Seconds of clock skew allowed on `exp` and `nbf`, as `clockTolerance: 5` was. */
export const JWT_CLOCK_TOLERANCE_SECONDS = 5

/** The verification keys of one JWKS read. */
export interface JwtKeyring {
  /** Usable EdDSA keys by kid. */
  readonly byKid: ReadonlyMap<string, KeyObject>
  /**
   * The key a token without a kid is checked with: set only when exactly one key of the set is an EdDSA
   * candidate (jose's local set threw "multiple matching keys" otherwise, and no key means no match).
   */
  readonly lone: KeyObject | undefined
  /**
   * Tokens this ring verified, by their exact text, with their claims: an app sends the same access JWT
   * for its whole lifetime, so the signature (about 100 µs of Ed25519) is checked once per token and key
   * read. Only tokens that passed every check enter; a hit still checks exp and nbf against the clock.
   * The map goes with the ring, so a key removed from the table stops verifying at the next read, as
   * before. Bounded: the oldest entry leaves first.
   */
  readonly verified: Map<string, { issuer: string; claims: Readonly<Record<string, unknown>> }>
}

/** How many verified tokens a ring remembers (a token is under a kilobyte). */
export const VERIFIED_JWT_CACHE_SIZE = 10_000

/**
 * Whether jose's local JWKS would pick this JWK for an `EdDSA` JWS: an OKP Ed25519 key whose `alg` is EdDSA
 * (the set always names one), used for signatures, allowing `verify` when it lists its operations.
 */
function isEdDsaCandidate(jwk: Record<string, unknown>): boolean {
  const { kty, crv, alg, use, ext, key_ops: ops } = jwk
  if (kty !== 'OKP' || crv !== 'Ed25519' || alg !== 'EdDSA') return false
  if (use !== undefined && use !== 'sig') return false
  if (ext !== undefined && typeof ext !== 'boolean') return false
  if (ops !== undefined) {
    if (!Array.isArray(ops) || !ops.includes('verify')) return false
    if (ops.some((o, i) => typeof o !== 'string' || ops.indexOf(o) !== i)) return false
  }
  return true
}

/** The public KeyObject of an Ed25519 JWK (only its public part is read), or undefined if it is not one. */
export function ed25519PublicKey(jwk: Record<string, unknown>): KeyObject | undefined {
  if (typeof jwk.x !== 'string') return undefined
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' })
    return key.asymmetricKeyType === 'ed25519' ? key : undefined
  } catch {
    return undefined
  }
}

/**
 * Builds the keyring of a JWKS once per read. A key that cannot be imported is left out (tokens naming it
 * then fail, as they failed in jose), and still counts as a candidate for tokens without a kid.
 */
export function createJwtKeyring(jwks: readonly Record<string, unknown>[]): JwtKeyring {
  const byKid = new Map<string, KeyObject>()
  const candidates: (KeyObject | undefined)[] = []
  for (const jwk of jwks) {
    if (!isEdDsaCandidate(jwk)) continue
    const key = ed25519PublicKey(jwk)
    candidates.push(key)
    if (key && typeof jwk.kid === 'string' && !byKid.has(jwk.kid)) byKid.set(jwk.kid, key)
  }
  return { byKid, lone: candidates.length === 1 ? candidates[0] : undefined, verified: new Map() }
}

const B64URL = /^[A-Za-z0-9_-]*$/
/** What `requiredClaims` plus the issuer and audience options made jose require. */
const REQUIRED_CLAIMS = ['exp', 'iat', 'sub', 'sid', 'aud', 'iss'] as const

/** Strict base64url (no padding, no stray characters, no impossible length), or undefined. */
function b64url(part: string): Buffer | undefined {
  if (part.length % 4 === 1 || !B64URL.test(part)) return undefined
  return Buffer.from(part, 'base64url')
}

/** A base64url segment holding a UTF-8 JSON object, or undefined. */
function jsonObject(part: string): Record<string, unknown> | undefined {
  const bytes = b64url(part)
  if (!bytes || !isUtf8(bytes)) return undefined
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}

const isJwtTyp = (typ: unknown) =>
  typeof typ === 'string' && (typ.toLowerCase() === 'jwt' || typ.toLowerCase() === 'application/jwt')

/** A compact JWS split in its three parts, with its protected header parsed (nothing verified yet): see parseJwt. */
export interface ParsedJwt {
  readonly token: string
  readonly header: Record<string, unknown>
  readonly parts: readonly [string, string, string]
}

/** Splits a compact JWS and parses its header; undefined unless it has exactly three parts and a JSON header. */
export function parseJwt(token: string): ParsedJwt | undefined {
  if (typeof token !== 'string') return undefined
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const header = jsonObject(parts[0]!)
  return header ? { token, header, parts: parts as [string, string, string] } : undefined
}

/**
 * The claims of an access JWT whose EdDSA signature verifies with a key of the ring and whose iss, aud,
 * exp, nbf and iat hold, with exp, iat, sub and sid present. Undefined for anything else: never throws.
 */
export function verifyAccessJwt(
  token: string | ParsedJwt,
  keyring: JwtKeyring,
  opts: { issuer: string; now?: number },
): Readonly<Record<string, unknown>> | undefined {
  const now = opts.now ?? Math.floor(Date.now() / 1000)
  const text = typeof token === 'string' ? token : token?.token
  const hit = typeof text === 'string' ? keyring.verified.get(text) : undefined
  if (hit && hit.issuer === opts.issuer) {
    if (inTime(hit.claims, now)) return hit.claims
    keyring.verified.delete(text!)
    return undefined
  }
  const parsed = typeof token === 'string' ? parseJwt(token) : token
  if (!parsed) return undefined
  const { header } = parsed
  const [h, p, s] = parsed.parts
  if (header.alg !== 'EdDSA') return undefined
  if (header.crit !== undefined) return undefined
  if (header.typ !== undefined && !isJwtTyp(header.typ)) return undefined
  // jose's local set: a kid must be a string naming a key; no kid means the set's only candidate.
  const { kid } = header
  const key = kid === undefined ? keyring.lone : typeof kid === 'string' ? keyring.byKid.get(kid) : undefined
  if (!key) return undefined
  // 64 bytes are 86 base64url characters; the round trip refuses non-zero trailing bits (one encoding only).
  if (s.length !== 86) return undefined
  const signature = b64url(s)
  if (signature?.length !== 64 || signature.toString('base64url') !== s) return undefined
  if (!B64URL.test(p)) return undefined
  let ok = false
  try {
    // Both parts are base64url (ASCII), so latin1 is their exact bytes.
    ok = verify(null, Buffer.from(`${h}.${p}`, 'latin1'), key, signature)
  } catch {
    return undefined
  }
  if (!ok) return undefined

  const claims = jsonObject(p)
  if (!claims) return undefined
  for (const name of REQUIRED_CLAIMS) if (!Object.hasOwn(claims, name)) return undefined
  const { issuer } = opts
  if (claims.iss !== issuer) return undefined
  const { aud } = claims
  if (!(typeof aud === 'string' ? aud === issuer : Array.isArray(aud) && aud.includes(issuer)))
    return undefined
  // Numbers, as jose wants them; iat is not bounded (no maxTokenAge).
  if (typeof claims.iat !== 'number') return undefined
  if (claims.nbf !== undefined && typeof claims.nbf !== 'number') return undefined
  if (typeof claims.exp !== 'number') return undefined
  if (!inTime(claims, now)) return undefined
  const cache = keyring.verified
  if (cache.size >= VERIFIED_JWT_CACHE_SIZE) cache.delete(cache.keys().next().value!)
  const frozen = Object.freeze(claims)
  // Keyed by the text that was verified (not by `parsed.token`, which a caller could pair with other parts).
  cache.set(`${h}.${p}.${s}`, { issuer, claims: frozen })
  return frozen
}

/** exp (required) and nbf (if any), numbers already, against the clock with the tolerance. */
function inTime(claims: Readonly<Record<string, unknown>>, now: number): boolean {
  const tolerance = JWT_CLOCK_TOLERANCE_SECONDS
  if (claims.nbf !== undefined && (claims.nbf as number) > now + tolerance) return false
  return (claims.exp as number) > now - tolerance
}
