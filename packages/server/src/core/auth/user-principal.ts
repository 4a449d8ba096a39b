import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { JWKS_GRACE_SECONDS } from './create-auth.ts'
import type { Principal } from './principal.ts'
import type { LiveSession, SessionCache } from './session-cache.ts'
import { sessionTokenValue } from './session-token.ts'
import { createJwtKeyring, type JwtKeyring, parseJwt, verifyAccessJwt } from './verify-jwt.ts'

/** Columns of data.users that rules never see as @request.auth (the console reads them as admin). */
const PRIVATE_USER_COLUMNS = new Set(['banned', 'banReason', 'banExpires'])
/** Keys are read again after this long anyway, so a key an operator deletes stops verifying. */
const JWKS_MAX_AGE_MS = 5 * 60_000

export interface UserAuthenticator {
  /** A session token (raw, or `token.signature` as better-auth's bearer plugin hands it out). */
  fromSessionToken(token: string): Promise<Principal | undefined>
  /** An access JWT signed with one of our keys, whose session still exists. */
  fromJwt(token: string): Promise<Principal | undefined>
}

/**
 * Turns user credentials into a Principal with one indexed query (the session joined with its user), or
 * none while the node's session cache holds it. A JWT's signature, issuer, audience and expiry are checked
 * locally first, then its session (`sid`) must still be live, so signing out, a password reset, a ban or a
 * deletion ends access tokens at once too (see session-cache.ts for how the cache learns of those).
 */
export function createUserAuthenticator(deps: {
  db: Db
  secret: string
  issuer: string
  sessions: SessionCache
}): UserAuthenticator {
  const { db, secret, issuer, sessions } = deps
  /** One read of the keys: node:crypto public keys built once per read, and every row's kid. */
  type Jwks = { ring: JwtKeyring; kids: Set<string>; at: number }
  let jwks: Jwks | undefined
  let loading: Promise<Jwks> | undefined
  /** One read at a time: concurrent callers share it. */
  const reloadJwks = () => {
    loading ??= loadJwks().finally(() => {
      loading = undefined
    })
    return loading
  }

  /** A key is usable from its creation to the end of its grace period (while /api/auth/jwks publishes it). */
  const usable = (expiresAt: unknown) =>
    !expiresAt || new Date(expiresAt as string).getTime() + JWKS_GRACE_SECONDS * 1000 > Date.now()

  const loadJwks = async (): Promise<Jwks> => {
    const rows = await db
      .selectFrom('bastide.auth_jwks')
      .select(['id', 'publicKey', 'alg', 'crv', 'expiresAt'])
      .execute()
    const keys = rows
      .filter((r) => usable(r.expiresAt))
      .map((r) => ({
        ...JSON.parse(r.publicKey),
        kid: r.id,
        alg: r.alg ?? 'EdDSA',
        ...(r.crv ? { crv: r.crv } : {}),
      }))
    jwks = { ring: createJwtKeyring(keys), kids: new Set(keys.map((k) => k.kid)), at: Date.now() }
    return jwks
  }

  /** The session and its user, when the session is live and the user not banned. */
  const loadSession = async (where: 'token' | 'id', value: string): Promise<LiveSession | undefined> => {
    const row = (
      await sql<Record<string, unknown>>`
        SELECT u.*, s.id AS "__sid", s."expiresAt" AS "__expires", s."impersonatedBy" AS "__impersonatedBy"
        FROM bastide.auth_sessions s JOIN data.users u ON u.id = s."userId"
        WHERE ${where === 'token' ? sql`s.token = ${value}` : sql`s.id = ${value}`}`.execute(db)
    ).rows[0]
    if (!row) return undefined
    const expiresAt = new Date(row.__expires as string).getTime()
    if (expiresAt <= Date.now()) return undefined
    if (row.banned === true && (!row.banExpires || new Date(row.banExpires as string) > new Date()))
      return undefined
    const record: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(row)) {
      if (!k.startsWith('__') && !PRIVATE_USER_COLUMNS.has(k)) record[k] = v
    }
    const sid = row.__sid as string
    const principal = Object.freeze({
      kind: 'user' as const,
      id: row.id as string,
      sessionId: sid,
      ...(row.__impersonatedBy ? { impersonatedBy: row.__impersonatedBy as string } : {}),
      record: Object.freeze(record),
    })
    return { sid, principal, expiresAt }
  }

  return {
    async fromSessionToken(token) {
      const raw = await sessionTokenValue(token, secret)
      return raw ? sessions.byToken(raw, () => loadSession('token', raw)) : undefined
    },
    async fromJwt(token) {
      let keys = jwks && Date.now() - jwks.at < JWKS_MAX_AGE_MS ? jwks : await reloadJwks()
      // A token this key set verified before: its claims (exp rechecked) without parsing it again.
      if (keys.ring.verified.has(token)) return live(verifyAccessJwt(token, keys.ring, { issuer }))
      const parsed = parseJwt(token)
      if (!parsed) return undefined
      const { kid } = parsed.header
      if (typeof kid === 'string' && !keys.kids.has(kid)) {
        // A kid we have not seen: a key rotation minted since the last read, or a made-up one. One lookup
        // by primary key tells (no dearer than a session lookup); only a real, usable key reloads the set,
        // so a stream of made-up kids never does, and a new key works at once.
        if (kid.length > 128) return undefined
        if (loading) keys = await loading
        if (!keys.kids.has(kid)) {
          const row = await db
            .selectFrom('bastide.auth_jwks')
            .select(['expiresAt'])
            .where('id', '=', kid)
            .executeTakeFirst()
          if (!row || !usable(row.expiresAt)) return undefined
          keys = await reloadJwks()
        }
      }
      // Signature (EdDSA only), issuer, audience, exp/nbf (5 s of tolerance) and the required claims,
      // synchronously with node:crypto: see verify-jwt.ts.
      return live(verifyAccessJwt(parsed, keys.ring, { issuer }))
    },
  }

  /** The principal of a verified JWT's session, if that session is live and is its subject's. */
  async function live(
    payload: Readonly<Record<string, unknown>> | undefined,
  ): Promise<Principal | undefined> {
    if (!payload || typeof payload.sid !== 'string') return undefined
    const sid = payload.sid
    const p = await sessions.bySid(sid, () => loadSession('id', sid))
    return p && p.id === payload.sub ? p : undefined
  }
}
