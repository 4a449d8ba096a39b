import { BastideError, ErrorCodes } from '../../errors.ts'
import type { User } from '../../types.ts'
import type { Session } from '../session.ts'
import type { AuthUser, SessionInfo } from './types.ts'

// What the auth service reads from the server and from storage, turned into the SDK's shapes: pure functions.

export function parseSession(raw: string | null | undefined): Session | null {
  if (!raw) return null
  try {
    const s = JSON.parse(raw) as Partial<Session> | null
    if (
      s &&
      typeof s.token === 'string' &&
      typeof s.accessToken === 'string' &&
      typeof s.accessTokenExpiresAt === 'string' &&
      typeof s.expiresAt === 'string' &&
      s.user &&
      typeof s.user.id === 'string' &&
      Date.parse(s.expiresAt) > Date.now()
    )
      return s as Session
  } catch {}
  return null
}

/** The random part of a session token (the bearer plugin hands out `token.signature`, sign-ins `token`). */
export function rawToken(t: string): string {
  const decoded = t.includes('%') ? safeDecode(t) : t
  return decoded.split('.')[0] ?? decoded
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** better-auth's user shaped like a `users` record (the field names the records API uses). */
export function toUser(u: AuthUser): User {
  const {
    emailVerified,
    isAnonymous,
    phoneNumber,
    phoneNumberVerified,
    createdAt,
    updatedAt,
    version,
    ...rest
  } = u
  return {
    ...rest,
    id: u.id,
    email: String(u.email ?? ''),
    name: String(u.name ?? ''),
    verified: emailVerified === true,
    anonymous: isAnonymous === true,
    phone: typeof phoneNumber === 'string' ? phoneNumber : null,
    phoneVerified: phoneNumberVerified === true,
    created: String(createdAt ?? ''),
    updated: String(updatedAt ?? ''),
    // Not part of better-auth's view; a user just created is at version 1.
    version: typeof version === 'number' ? version : 1,
  }
}

export function unknownUser(opts: { email: string; name: string }): User {
  return { id: '', email: opts.email, name: opts.name, verified: false, created: '', updated: '', version: 1 }
}

export function unauthorized(message: string): BastideError {
  return new BastideError({ code: ErrorCodes.UNAUTHORIZED, status: 401, message })
}

export function invalidResponse(message = 'The server did not answer with a session.'): BastideError {
  return new BastideError({ code: ErrorCodes.INVALID_RESPONSE, status: 200, message })
}

export interface JwtClaims {
  readonly exp?: number
  readonly iat?: number
  readonly sid?: string
  readonly sub?: string
}

/** The claims of a JWT, unverified (the server checks them; the SDK only schedules refreshes with them). */
export function decodeJwt(jwt: string): JwtClaims | null {
  const part = jwt.split('.')[1]
  if (!part) return null
  try {
    return JSON.parse(base64UrlToText(part)) as JwtClaims
  } catch {
    return null
  }
}

export function jwtExpiry(jwt: string): string {
  const exp = decodeJwt(jwt)?.exp
  // Unknown expiry: refresh in 15 minutes, the server's default.
  return new Date(typeof exp === 'number' ? exp * 1000 : Date.now() + 900_000).toISOString()
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** base64url to UTF-8 text without atob/TextDecoder/Buffer, which not every React Native engine has. */
function base64UrlToText(s: string): string {
  let bits = 0
  let buffer = 0
  let hex = ''
  for (const ch of s.replace(/=+$/, '')) {
    const v = B64.indexOf(ch === '+' ? '-' : ch === '/' ? '_' : ch)
    if (v < 0) throw new SyntaxError('not base64url')
    buffer = ((buffer << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      hex += `%${((buffer >> bits) & 0xff).toString(16).padStart(2, '0')}`
    }
  }
  return decodeURIComponent(hex)
}

/** One row of `/api/auth/list-sessions` as `listSessions` shows it. */
export function toSessionInfo(r: Record<string, unknown>): SessionInfo {
  return {
    id: String(r.id),
    current: r.current === true,
    createdAt: String(r.createdAt),
    updatedAt: String(r.updatedAt),
    expiresAt: String(r.expiresAt),
    ipAddress: typeof r.ipAddress === 'string' ? r.ipAddress : null,
    userAgent: typeof r.userAgent === 'string' ? r.userAgent : null,
    impersonated: typeof r.impersonatedBy === 'string' && r.impersonatedBy !== '',
  }
}
