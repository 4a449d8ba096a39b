import { isBastideError } from '../../errors.ts'
import type { AuthMode, Http, TokenSource } from '../../http.ts'
import type { User } from '../../types.ts'
import { OAuthService } from '../oauth.ts'
import { PasskeyService } from '../passkeys.ts'
import type { Session, SessionSink } from '../session.ts'
import {
  decodeJwt,
  invalidResponse,
  rawToken,
  toSessionInfo,
  toUser,
  unauthorized,
  unknownUser,
} from './session-codec.ts'
import { SessionStore } from './session-store.ts'
import { SignInFlow } from './sign-in-flow.ts'
import type {
  AccountExport,
  AuthListener,
  AuthServiceOptions,
  AuthUser,
  SessionInfo,
  SignInBody,
  SignInResult,
  SignUpResult,
  TotpMethods,
} from './types.ts'

/**
 * Sign-in, sessions and tokens for app users (`/api/auth`). The session is kept in the client's storage
 * and survives restarts; the access JWT sent with every call is refreshed ahead of its expiry, one refresh
 * at a time. With an `apiKey`, every request carries the key and there is no session.
 *
 * @example
 * const { session } = await client.auth.signInWithPassword({ email, password })
 * client.auth.onAuthStateChange((event, session) => render(session?.user ?? null))
 */
export class AuthService implements TokenSource, SessionSink {
  /** Passkey sign-in and management. */
  readonly passkey: PasskeyService
  /** TOTP second factor for the signed-in user. */
  readonly totp: TotpMethods
  readonly #store: SessionStore
  readonly #flow: SignInFlow
  readonly #oauth: OAuthService

  constructor(
    readonly http: Http,
    opts: AuthServiceOptions,
  ) {
    this.#store = new SessionStore(http, opts)
    this.#flow = new SignInFlow(http, this.#store)
    // The user's own storage (AsyncStorage, SecureStore) also keeps the PKCE verifier of an OAuth flow in
    // progress; without one, the OAuth service picks its own default (the tab's sessionStorage in browsers).
    this.#oauth = new OAuthService(http, this, { storage: opts.storage, storageKey: this.#store.key })
    this.passkey = new PasskeyService(http, this)
    this.totp = {
      enable: async ({ password }) => {
        const path = '/two-factor/enable'
        const r = await this.#flow.sessionCall<{ totpURI: string; backupCodes: string[] }>(path, { password })
        return { totpURI: r.totpURI, backupCodes: r.backupCodes }
      },
      verify: async ({ code }) => {
        await this.#flow.sessionCall('/two-factor/verify-totp', { code })
        return this.#flow.requireUser()
      },
      disable: async ({ password }) => {
        await this.#flow.sessionCall('/two-factor/disable', { password })
        return this.#flow.requireUser()
      },
      regenerateBackupCodes: async ({ password }) => {
        const path = '/two-factor/generate-backup-codes'
        const r = await this.#flow.sessionCall<{ backupCodes: string[] }>(path, { password })
        return { backupCodes: r.backupCodes }
      },
    }
  }

  // ---------------------------------------------------------------- state

  /**
   * The current session, or null (signed out, or not loaded yet from an async storage: see `ready`).
   *
   * @example
   * if (client.auth.session) showApp()
   */
  get session(): Session | null {
    void this.#store.ensureLoaded()
    return this.#store.session
  }

  /**
   * The signed-in user, or null.
   *
   * @example
   * const name = client.auth.user?.name
   */
  get user(): User | null {
    return this.session?.user ?? null
  }

  /**
   * Resolves once the stored session is loaded (at once with a synchronous storage), with that session.
   *
   * @example
   * const session = await client.auth.ready()
   * navigate(session ? 'Home' : 'SignIn')
   */
  ready(): Promise<Session | null> {
    return this.#store.ensureLoaded()
  }

  /**
   * Calls `cb` on every change: first INITIAL_SESSION (once the stored session is loaded), then SIGNED_IN,
   * SIGNED_OUT, TOKEN_REFRESHED and USER_UPDATED. Returns the function that unsubscribes.
   *
   * @example
   * const off = client.auth.onAuthStateChange((event, session) => {
   *   if (event === 'SIGNED_OUT') navigate('SignIn')
   * })
   * // later: off()
   */
  onAuthStateChange(cb: AuthListener): () => void {
    return this.#store.listen(cb)
  }

  /**
   * Stops the refresh timer (`client.close()` calls it). Tokens are still refreshed on demand.
   *
   * @example
   * client.auth.stop()
   */
  stop(): void {
    this.#store.stop()
  }

  // ---------------------------------------------------------------- TokenSource

  /**
   * The bearer for a request: the API key if there is one; else for `access` an access JWT (refreshed when it
   * expires within a minute), for `session` the session token. Null when signed out.
   *
   * @example
   * const jwt = await client.auth.getToken('access')
   * await fetch(`${myService}/things`, { headers: { authorization: `Bearer ${jwt}` } })
   */
  async getToken(kind: Exclude<AuthMode, 'none'>): Promise<string | null> {
    return this.#store.getToken(kind)
  }

  /**
   * After a 401 on a request that carried `token`: says whether to retry (with a new token). An access
   * JWT is refreshed once (shared with every other caller); if the refresh itself answers 401 the session
   * has ended: it is cleared and SIGNED_OUT emitted. A network failure leaves the session alone.
   *
   * @example
   * // Called by the HTTP layer; you do not call it yourself.
   * await client.auth.handleUnauthorized('access', staleJwt)
   */
  async handleUnauthorized(kind: Exclude<AuthMode, 'none'>, token: string): Promise<boolean> {
    return this.#store.handleUnauthorized(kind, token)
  }

  /**
   * Swaps the session token for a new one and gets a fresh access JWT (`POST /api/auth/session/refresh`).
   * Concurrent calls share one request. Throws (and signs out) when the session has ended.
   *
   * @example
   * const session = await client.auth.refresh()
   */
  refresh(): Promise<Session> {
    return this.#store.refresh()
  }

  // ---------------------------------------------------------------- sign-up and sign-in

  /**
   * Creates an account with an email and a password, then signs in (the server never signs in on sign-up:
   * its answer must not tell whether the address is taken). When the server requires a confirmed address,
   * `session` is null until the user follows the link in the mail.
   *
   * @example
   * const { user, session } = await client.auth.signUp({ email, password, name: 'Ada', locale: 'fr' })
   * if (!session) showCheckYourMail()
   */
  async signUp(
    opts: { email: string; password: string; name: string; callbackURL?: string } & Record<string, unknown>,
  ): Promise<SignUpResult> {
    await this.#store.ensureLoaded()
    const body = await this.http.request<SignInBody>('/api/auth/sign-up/email', {
      method: 'POST',
      body: opts,
      auth: 'none',
    })
    const signedUp = body.user ? toUser(body.user) : undefined
    try {
      const r = await this.signInWithPassword({ email: opts.email, password: opts.password })
      if (r.twoFactorRequired)
        return { user: signedUp ?? unknownUser(opts), session: null, twoFactorRequired: true }
      return { user: r.session.user, session: r.session }
    } catch (e) {
      if (isBastideError(e, 'EMAIL_NOT_VERIFIED') && signedUp) return { user: signedUp, session: null }
      throw e
    }
  }

  /**
   * Signs in with an email and a password. On an account with 2FA it stops half-way: finish with
   * `verifyTotp` or `verifyBackupCode`. While anonymous, the anonymous user's records move to the account.
   *
   * @example
   * const r = await client.auth.signInWithPassword({ email, password })
   * if (r.twoFactorRequired) await client.auth.verifyTotp({ code: prompt('Code?') })
   */
  async signInWithPassword(opts: { email: string; password: string }): Promise<SignInResult> {
    return this.#flow.signIn('/sign-in/email', { email: opts.email, password: opts.password })
  }

  /**
   * Finishes a password sign-in on a 2FA account with a code from the authenticator app.
   * `trustDevice` only takes effect for clients that keep cookies.
   *
   * @example
   * await client.auth.verifyTotp({ code: '123456' })
   */
  async verifyTotp(opts: { code: string; trustDevice?: boolean }): Promise<Session> {
    return this.#flow.secondFactor('/two-factor/verify-totp', {
      code: opts.code,
      ...(opts.trustDevice !== undefined ? { trustDevice: opts.trustDevice } : {}),
    })
  }

  /**
   * Finishes a password sign-in on a 2FA account with one of its backup codes (each works once).
   *
   * @example
   * await client.auth.verifyBackupCode({ code: 'Xk3p9-2mQa7' })
   */
  async verifyBackupCode(opts: { code: string }): Promise<Session> {
    return this.#flow.secondFactor('/two-factor/verify-backup-code', { code: opts.code })
  }

  /**
   * Mails a sign-in link (it also creates the account on first use). The link opens the server, which
   * signs in a browser and redirects to `callbackURL`; an app that intercepts the link (universal/app link)
   * passes it to `signInWithMagicLink` instead.
   *
   * @example
   * await client.auth.sendMagicLink({ email, callbackURL: '/welcome' })
   */
  async sendMagicLink(opts: { email: string; callbackURL?: string; name?: string }): Promise<void> {
    await this.http.request('/api/auth/sign-in/magic-link', { method: 'POST', body: opts, auth: 'none' })
  }

  /**
   * Signs in with a magic link's token, or the whole link.
   *
   * @example
   * Linking.addEventListener('url', ({ url }) => client.auth.signInWithMagicLink(url))
   */
  async signInWithMagicLink(tokenOrUrl: string): Promise<Session> {
    return this.#flow.magicLink(tokenOrUrl)
  }

  /**
   * Mails a 6-digit sign-in code (valid 10 minutes, 3 attempts).
   *
   * @example
   * await client.auth.sendEmailOtp({ email })
   */
  async sendEmailOtp(opts: { email: string }): Promise<void> {
    await this.http.request('/api/auth/email-otp/send-verification-otp', {
      method: 'POST',
      body: { email: opts.email, type: 'sign-in' },
      auth: 'none',
    })
  }

  /**
   * Signs in (or up) with the code `sendEmailOtp` mailed.
   *
   * @example
   * const session = await client.auth.signInWithEmailOtp({ email, otp: '123456' })
   */
  async signInWithEmailOtp(opts: { email: string; otp: string }): Promise<Session> {
    return this.#flow.direct('/sign-in/email-otp', { email: opts.email, otp: opts.otp })
  }

  /**
   * Texts a 6-digit code to a phone number in E.164 form (`+33612345678`).
   *
   * @example
   * await client.auth.sendPhoneOtp({ phoneNumber: '+33612345678' })
   */
  async sendPhoneOtp(opts: { phoneNumber: string }): Promise<void> {
    await this.http.request('/api/auth/phone-number/send-otp', {
      method: 'POST',
      body: { phoneNumber: opts.phoneNumber },
      auth: 'none',
    })
  }

  /**
   * Signs in (or up) with the code `sendPhoneOtp` texted.
   *
   * @example
   * const session = await client.auth.signInWithPhoneOtp({ phoneNumber, code: '123456' })
   */
  async signInWithPhoneOtp(opts: { phoneNumber: string; code: string }): Promise<Session> {
    return this.#flow.direct('/phone-number/verify', { phoneNumber: opts.phoneNumber, code: opts.code })
  }

  /**
   * Signs in as a new anonymous user (or returns the anonymous session already held). Signing in later
   * with any method moves the anonymous user's records to the real account.
   *
   * @example
   * const session = await client.auth.signInAnonymously()
   * await client.collection('drafts').create({ text, owner: session.user.id })
   */
  async signInAnonymously(): Promise<Session> {
    await this.#store.ensureLoaded()
    if (this.#store.session?.user.anonymous) return this.#store.session
    const body = await this.http.request<SignInBody>('/api/auth/sign-in/anonymous', {
      method: 'POST',
      auth: 'none',
    })
    if (!body.token) throw invalidResponse()
    return this.#flow.finish(body.token)
  }

  /**
   * Signs in with an ID token from a provider's native SDK (Sign in with Apple, Google Sign-In…).
   * Built-in providers go through `/sign-in/social`; generic OIDC providers (`BASTIDE_OIDC_<ID>_*`) through
   * `/sign-in/id-token`. Pass the raw `nonce` you gave the provider, if any.
   *
   * @example
   * const { identityToken, nonce } = await AppleAuthentication.signInAsync({ nonce: hashed })
   * await client.auth.signInWithIdToken({ provider: 'apple', idToken: identityToken, nonce: raw })
   */
  async signInWithIdToken(opts: {
    provider: string
    idToken: string
    nonce?: string
    accessToken?: string
  }): Promise<Session> {
    return this.#flow.idToken(opts)
  }

  /**
   * Starts an OAuth/OIDC sign-in (PKCE): open the returned URL in a browser; the provider comes back to
   * `redirectTo`, whose URL you pass to `exchangeCodeForSession`.
   *
   * @example
   * const { url } = await client.auth.signInWithOAuth({ provider: 'github', redirectTo: 'myapp://auth' })
   * const result = await WebBrowser.openAuthSessionAsync(url, 'myapp://auth')
   * if (result.type === 'success') await client.auth.exchangeCodeForSession(result.url)
   */
  signInWithOAuth(opts: Parameters<OAuthService['signIn']>[0]): Promise<{ url: string }> {
    return this.#oauth.signIn(opts)
  }

  /**
   * Finishes an OAuth sign-in with the URL the provider redirected to (or its code).
   *
   * @example
   * await client.auth.exchangeCodeForSession(window.location.href)
   */
  exchangeCodeForSession(urlOrCode: string): Promise<Session> {
    return this.#oauth.exchangeCode(urlOrCode)
  }

  /**
   * Adopts a session token a sign-in returned: fetches the user and an access JWT, stores the session and
   * emits SIGNED_IN. Sign-in flows in other modules (OAuth, passkeys) end here.
   *
   * @example
   * const session = await client.auth.setSessionFromToken(tokenFromMyBackend)
   */
  async setSessionFromToken(token: string): Promise<Session> {
    return this.#flow.setSessionFromToken(token)
  }

  // ---------------------------------------------------------------- passwords

  /**
   * Mails a password reset link; `redirectTo` is where the link lands with `?token=…`.
   *
   * @example
   * await client.auth.requestPasswordReset({ email, redirectTo: 'https://app.example.com/reset' })
   */
  async requestPasswordReset(opts: { email: string; redirectTo?: string }): Promise<void> {
    await this.http.request('/api/auth/request-password-reset', { method: 'POST', body: opts, auth: 'none' })
  }

  /**
   * Sets a new password with the token from the reset link. Every session of the user ends.
   *
   * @example
   * await client.auth.resetPassword({ token: params.get('token')!, newPassword })
   */
  async resetPassword(opts: { token: string; newPassword: string }): Promise<void> {
    await this.http.request('/api/auth/reset-password', { method: 'POST', body: opts, auth: 'none' })
  }

  /**
   * Changes the signed-in user's password; `revokeOtherSessions` signs out every other device (the
   * server then starts a new session for this one, which the SDK switches to).
   *
   * @example
   * await client.auth.changePassword({ currentPassword, newPassword, revokeOtherSessions: true })
   */
  async changePassword(opts: {
    currentPassword: string
    newPassword: string
    revokeOtherSessions?: boolean
  }): Promise<void> {
    const body = await this.#flow.sessionCall<{ token?: string | null }>('/change-password', opts)
    const current = this.#store.session
    if (body.token && current && rawToken(body.token) !== rawToken(current.token))
      await this.#flow.adopt(body.token)
  }

  // ---------------------------------------------------------------- sessions

  /**
   * The user's sessions (devices), by id; `current` marks this one.
   *
   * @example
   * for (const s of await client.auth.listSessions()) console.log(s.userAgent, s.current)
   */
  async listSessions(): Promise<SessionInfo[]> {
    const rows = await this.http.request<Record<string, unknown>[]>('/api/auth/list-sessions', {
      auth: 'session',
    })
    return rows.map(toSessionInfo)
  }

  /**
   * Ends one of the user's sessions by id (this one included: then this client signs out).
   *
   * @example
   * await client.auth.revokeSession(lostPhone.id)
   */
  async revokeSession(id: string): Promise<void> {
    const current = this.#store.session ? decodeJwt(this.#store.session.accessToken)?.sid : undefined
    await this.http.request('/api/auth/revoke-session', { method: 'POST', body: { id }, auth: 'session' })
    if (current === id) await this.#store.clear()
  }

  /**
   * Ends every session of the user but this one.
   *
   * @example
   * await client.auth.revokeOtherSessions()
   */
  async revokeOtherSessions(): Promise<void> {
    await this.http.request('/api/auth/revoke-other-sessions', { method: 'POST', auth: 'session' })
  }

  /**
   * Signs out: ends the session on the server, then forgets it here, even when the server cannot be
   * reached (the session then expires on its own).
   *
   * @example
   * await client.auth.signOut()
   */
  async signOut(): Promise<void> {
    await this.#store.ensureLoaded()
    if (!this.#store.session || this.#store.apiKey !== undefined) return
    try {
      await this.http.request('/api/auth/sign-out', { method: 'POST', auth: 'session', retry: false })
    } catch {
      // Offline or already ended: forgetting it locally is what matters to the user.
    }
    await this.#store.clear()
  }

  // ---------------------------------------------------------------- the user

  /**
   * The signed-in user, fresh from the server (the `users` record); emits USER_UPDATED when it changed.
   * Null when signed out.
   *
   * @example
   * const me = await client.auth.getUser()
   */
  async getUser(): Promise<User | null> {
    await this.#store.ensureLoaded()
    const s = this.#store.session
    if (!s) return null
    let user: User
    try {
      user = await this.http.request<User>(`/api/collections/users/records/${encodeURIComponent(s.user.id)}`)
    } catch (e) {
      // The app may have locked the users collection: better-auth's view of the user still works.
      if (!isBastideError(e) || (e.status !== 403 && e.status !== 404)) throw e
      const r = await this.http.request<{ user: AuthUser } | null>('/api/auth/get-session', {
        auth: 'session',
      })
      if (!r) throw unauthorized('The session has ended.')
      user = toUser(r.user)
    }
    const now = this.#store.session
    if (now && now.token === s.token && JSON.stringify(now.user) !== JSON.stringify(user)) {
      await this.#store.set({ ...now, user }, 'USER_UPDATED')
    }
    return user
  }

  /**
   * Everything the server holds about the user (GDPR access): profile, sessions, linked providers,
   * passkeys and every record pointing at them.
   *
   * @example
   * const data = await client.auth.exportData()
   * share(JSON.stringify(data))
   */
  async exportData(): Promise<AccountExport> {
    return this.http.request<AccountExport>('/api/auth/account/export', { auth: 'session' })
  }

  /**
   * Deletes the account and everything that cascades from it, then signs out here. Pass the password
   * (accounts without one must have signed in recently). Answers 409 ACCOUNT_HAS_RESTRICTED_RECORDS while
   * records that must not lose their owner still point at the user.
   *
   * @example
   * await client.auth.deleteAccount({ password })
   */
  async deleteAccount(opts: { password?: string } = {}): Promise<void> {
    await this.http.request('/api/auth/delete-user', { method: 'POST', body: opts, auth: 'session' })
    await this.#store.clear()
  }
}
