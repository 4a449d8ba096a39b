import type { ApiResponse, TestServer } from './harness.ts'
import type { Mailbox } from './mailbox.ts'
import { linkIn } from './mailbox.ts'

export interface SignedUp {
  readonly id: string
  readonly email: string
  readonly password: string
  /** The session token (raw, as sign-in returns it): the long-lived credential. */
  readonly token: string
  /** A short-lived access JWT for the same session. */
  readonly jwt: string
}

/** Calls /api/auth/... with no credential, or with a bearer token. */
export function authCall(
  s: TestServer,
  method: string,
  path: string,
  body?: unknown,
  o: { token?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  return s.api(method, `/api/auth${path}`, body, {
    as: o.token ?? 'anon',
    ...(o.headers ? { headers: o.headers } : {}),
  })
}

/** The origin the app users' auth trusts first: the server's public URL. */
export function appOrigin(s: TestServer): string {
  return new URL(String(s.bastide.auth.auth.options.baseURL)).origin
}

/**
 * The headers of a request a page at the server's own origin makes with a cookie: better-auth refuses a
 * request that carries cookies from an origin it does not trust, or from none (CSRF).
 */
export function pageHeaders(s: TestServer, cookie: string): Record<string, string> {
  return { cookie, origin: appOrigin(s) }
}

/** An access JWT for a session token. */
export async function accessToken(s: TestServer, token: string): Promise<string> {
  const r = await authCall(s, 'GET', '/token', undefined, { token })
  if (r.status !== 200 || typeof r.body?.token !== 'string')
    throw new Error(`token failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.token
}

/** Signs a user up by email and password; with a mailbox, follows the verification link first. */
export async function signUp(
  s: TestServer,
  email: string,
  o: { password?: string; name?: string; mailbox?: Mailbox } = {},
): Promise<SignedUp> {
  const password = o.password ?? 'a long and unusual passphrase'
  const r = await authCall(s, 'POST', '/sign-up/email', {
    email,
    password,
    name: o.name ?? email.split('@')[0],
  })
  if (r.status !== 200) throw new Error(`sign-up failed: ${r.status} ${JSON.stringify(r.body)}`)
  if (o.mailbox) {
    const link = linkIn(await o.mailbox.next(email, /confirm/i))
    const v = await s.api('GET', `${link.pathname}${link.search}`, undefined, { as: 'anon' })
    if (v.status >= 400) throw new Error(`verification failed: ${v.status} ${JSON.stringify(v.body)}`)
  }
  // Sign-up never hands out a session (it would tell whether the address was taken): sign in after it.
  const token = await signIn(s, email, password)
  return { id: r.body.user.id, email: email.toLowerCase(), password, token, jwt: await accessToken(s, token) }
}

/** Signs in by email and password and returns the session token. */
export async function signIn(s: TestServer, email: string, password: string): Promise<string> {
  const r = await authCall(s, 'POST', '/sign-in/email', { email, password })
  if (r.status !== 200 || typeof r.body?.token !== 'string')
    throw new Error(`sign-in failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.token
}
