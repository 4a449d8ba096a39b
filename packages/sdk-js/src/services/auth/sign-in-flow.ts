import { BastideError, isBastideError } from '../../errors.ts'
import type { AuthMode, Http } from '../../http.ts'
import type { User } from '../../types.ts'
import type { Session } from '../session.ts'
import { invalidResponse, jwtExpiry, rawToken, toUser, unauthorized } from './session-codec.ts'
import type { SessionStore } from './session-store.ts'
import type { AuthUser, SignInBody, SignInResult } from './types.ts'

const TWO_FACTOR_HEADER = 'x-bastide-two-factor'
/** Providers better-auth signs in with an ID token through `/sign-in/social`; others are generic OIDC. */
const SOCIAL_PROVIDERS = new Set([
  'apple',
  'google',
  'github',
  'microsoft',
  'gitlab',
  'discord',
  'facebook',
  'twitter',
  'linkedin',
  'spotify',
  'twitch',
  'dropbox',
  'kakao',
  'naver',
  'line',
  'tiktok',
  'reddit',
  'roblox',
  'vk',
  'zoom',
])

/**
 * How a sign-in reaches a session: the `/api/auth` calls of each method, the second factor, and turning the
 * session token the server hands out into a stored {@link Session} (user, access JWT, expiry).
 */
export class SignInFlow {
  readonly #http: Http
  readonly #store: SessionStore

  constructor(http: Http, store: SessionStore) {
    this.#http = http
    this.#store = store
  }

  /** Anonymous users send their session with a sign-in, so that the server moves their records. */
  linkMode(): AuthMode {
    return this.#store.session?.user.anonymous ? 'session' : 'none'
  }

  async signIn(path: string, body: Record<string, unknown>): Promise<SignInResult> {
    await this.#store.ensureLoaded()
    const r = await this.#http.request<SignInBody>(`/api/auth${path}`, {
      method: 'POST',
      body,
      auth: this.linkMode(),
    })
    if (r.twoFactorRedirect) {
      if (!r.twoFactorToken) throw invalidResponse('The server did not send a two-factor token.')
      this.#store.twoFactorToken = r.twoFactorToken
      return { session: null, twoFactorRequired: true, twoFactorMethods: r.twoFactorMethods ?? ['totp'] }
    }
    if (!r.token) throw invalidResponse()
    return { session: await this.finish(r.token), twoFactorRequired: false }
  }

  async direct(path: string, body: Record<string, unknown>): Promise<Session> {
    const r = await this.signIn(path, body)
    if (r.twoFactorRequired) throw invalidResponse('This sign-in method does not ask for a second factor.')
    return r.session
  }

  async secondFactor(path: string, body: Record<string, unknown>): Promise<Session> {
    await this.#store.ensureLoaded()
    const pending = this.#store.twoFactorToken
    if (!pending) {
      throw new BastideError({
        code: 'NO_TWO_FACTOR_PENDING',
        status: 400,
        message: 'No sign-in is waiting for a second factor: sign in with the password first.',
      })
    }
    let r: SignInBody
    try {
      // No bearer: the server reads the pending sign-in only when no session comes with the request.
      r = await this.#http.request<SignInBody>(`/api/auth${path}`, {
        method: 'POST',
        body,
        auth: 'none',
        headers: { [TWO_FACTOR_HEADER]: pending },
      })
    } catch (e) {
      if (isBastideError(e, 'INVALID_TWO_FACTOR_COOKIE') && this.#store.twoFactorToken === pending)
        this.#store.twoFactorToken = undefined
      throw e
    }
    if (!r.token) throw invalidResponse()
    this.#store.twoFactorToken = undefined
    return this.finish(r.token)
  }

  async finish(token: string): Promise<Session> {
    const previous = this.#store.session
    const session = await this.setSessionFromToken(token)
    // A session replaced by another sign-in is still valid on the server: end it rather than leak it.
    // (An anonymous one is gone already: the server deleted it with its user when it moved the records.)
    if (previous && !previous.user.anonymous && rawToken(previous.token) !== rawToken(token)) {
      void this.#http
        .request('/api/auth/sign-out', {
          method: 'POST',
          auth: 'none',
          headers: { authorization: `Bearer ${previous.token}` },
          retry: false,
        })
        .catch(() => {})
    }
    return session
  }

  /** The session behind a session token: the user, an access JWT, the session's expiry. */
  async fetchSession(token: string): Promise<Session> {
    const bearer = { authorization: `Bearer ${token}` }
    const res = await this.#http.send('/api/auth/get-session', { auth: 'none', headers: bearer })
    const data = (await res.json().catch(() => null)) as {
      session: { expiresAt: string }
      user: AuthUser
    } | null
    if (!data?.user) throw unauthorized('The session token is not valid.')
    const accessToken =
      res.headers.get('set-auth-jwt') ??
      (await this.#http.request<{ token: string }>('/api/auth/token', { auth: 'none', headers: bearer }))
        .token
    this.#store.learnSkew(accessToken)
    let user: User
    try {
      user = await this.#http.request<User>(
        `/api/collections/users/records/${encodeURIComponent(data.user.id)}`,
        {
          auth: 'none',
          headers: { authorization: `Bearer ${accessToken}` },
        },
      )
    } catch (e) {
      if (!isBastideError(e) || e.status === 0) throw e
      user = toUser(data.user)
    }
    return {
      token,
      accessToken,
      accessTokenExpiresAt: jwtExpiry(accessToken),
      expiresAt: new Date(data.session.expiresAt).toISOString(),
      user,
    }
  }

  /**
   * A call to `/api/auth` with the session token, for endpoints after which the server may have swapped the
   * session (2FA on/off, password change): a new `set-auth-token` is adopted.
   */
  async sessionCall<T = unknown>(path: string, body: Record<string, unknown>): Promise<T> {
    await this.#store.ensureLoaded()
    if (!this.#store.session) throw unauthorized('Sign in first.')
    const res = await this.#http.send(`/api/auth${path}`, { method: 'POST', body, auth: 'session' })
    const text = await res.text()
    const parsed = (text ? JSON.parse(text) : undefined) as T
    const rotated = res.headers.get('set-auth-token')
    const current = this.#store.session
    if (rotated && current && rawToken(rotated) !== rawToken(current.token)) await this.adopt(rotated)
    return parsed
  }

  /** Switches to a session the server started in place of the current one (same user). */
  async adopt(token: string): Promise<void> {
    const before = this.#store.session
    const next = await this.fetchSession(token)
    const changed = !before || JSON.stringify(before.user) !== JSON.stringify(next.user)
    await this.#store.set(next, changed ? 'USER_UPDATED' : 'TOKEN_REFRESHED')
  }

  requireUser(): User {
    const s = this.#store.session
    if (!s) throw unauthorized('The session has ended.')
    return s.user
  }

  /** Adopts a session token a sign-in returned (`setSessionFromToken`). */
  async setSessionFromToken(token: string): Promise<Session> {
    await this.#store.ensureLoaded()
    const next = await this.fetchSession(token)
    await this.#store.set(next, 'SIGNED_IN')
    return next
  }

  /** `signInWithMagicLink`. */
  async magicLink(tokenOrUrl: string): Promise<Session> {
    await this.#store.ensureLoaded()
    const token = /^[a-z][a-z0-9+.-]*:\/\/|^\//i.test(tokenOrUrl)
      ? new URL(tokenOrUrl, this.#http.baseUrl).searchParams.get('token')
      : tokenOrUrl
    if (!token)
      throw new BastideError({ code: 'INVALID_TOKEN', status: 400, message: 'The link has no token.' })
    // Without a callbackURL the server answers JSON. On failure it redirects to errorCallbackURL with
    // `?error=CODE`: better-auth's own `/ok` (a 200), so the code can be read from the final URL.
    const res = await this.#http.send('/api/auth/magic-link/verify', {
      query: { token, errorCallbackURL: '/api/auth/ok' },
      auth: this.linkMode(),
      retry: false,
    })
    const error = res.url ? new URL(res.url).searchParams.get('error') : null
    const body = error ? undefined : ((await res.json().catch(() => undefined)) as SignInBody | undefined)
    if (!body?.token) {
      throw new BastideError({
        code: (error ?? 'INVALID_TOKEN').toUpperCase(),
        status: 401,
        message: 'The magic link is invalid or has expired.',
      })
    }
    return this.finish(body.token)
  }

  /** `signInWithIdToken`. */
  async idToken(opts: {
    provider: string
    idToken: string
    nonce?: string
    accessToken?: string
  }): Promise<Session> {
    const generic = () =>
      this.direct('/sign-in/id-token', {
        providerId: opts.provider,
        idToken: opts.idToken,
        ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      })
    if (!SOCIAL_PROVIDERS.has(opts.provider)) return generic()
    try {
      return await this.direct('/sign-in/social', {
        provider: opts.provider,
        idToken: {
          token: opts.idToken,
          ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
          ...(opts.accessToken !== undefined ? { accessToken: opts.accessToken } : {}),
        },
      })
    } catch (e) {
      // A generic OIDC provider that happens to share a built-in's name.
      if (isBastideError(e, 'USE_ID_TOKEN_ENDPOINT')) return generic()
      throw e
    }
  }
}
