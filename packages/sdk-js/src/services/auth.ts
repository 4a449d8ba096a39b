import { BastideError, ErrorCodes, isBastideError } from '../errors.ts'
import type { AuthMode, Http, TokenSource } from '../http.ts'
import { defaultStorage, type SessionStorage } from '../session-storage.ts'
import type { User } from '../types.ts'
import { OAuthService } from './oauth.ts'
import { PasskeyService } from './passkeys.ts'
import type { AuthEvent, Session, SessionSink } from './session.ts'

/** Called on every auth state change; `session` is the state after the event. */
export type AuthListener = (event: AuthEvent, session: Session | null) => void

/** What a sign-in that may stop for a second factor returns. */
export type SignInResult =
  | { readonly session: Session; readonly twoFactorRequired: false }
  | {
      readonly session: null
      /** Finish with `verifyTotp` or `verifyBackupCode` (within 10 minutes). */
      readonly twoFactorRequired: true
      /** The second factors the account has, e.g. `['totp']`. */
      readonly twoFactorMethods: readonly string[]
    }

/** What `signUp` returns. */
export interface SignUpResult {
  readonly user: User
  /** Null while the address must be confirmed first (the server requires verification), or 2FA is pending. */
  readonly session: Session | null
  /** The account has 2FA (the address was already yours): finish with `verifyTotp`. */
  readonly twoFactorRequired?: boolean
}

/** One of the user's sessions, as `listSessions` shows it (never its token). */
export interface SessionInfo {
  readonly id: string
  /** The session this client holds. */
  readonly current: boolean
  readonly createdAt: string
  readonly updatedAt: string
  readonly expiresAt: string
  readonly ipAddress: string | null
  readonly userAgent: string | null
  /** Started by an admin impersonating the user. */
  readonly impersonated: boolean
}

/** What TOTP setup hands out: show the URI as a QR code, and the backup codes once. */
export interface TotpSetup {
  /** `otpauth://totp/...`: for an authenticator app. */
  readonly totpURI: string
  /** Single-use codes that replace a TOTP code when the device is lost. */
  readonly backupCodes: readonly string[]
}

/** The user's own data (`GET /api/auth/account/export`). */
export interface AccountExport {
  readonly exportedAt: string
  readonly user: User
  readonly sessions: readonly Omit<SessionInfo, 'current'>[]
  readonly accounts: readonly { providerId: string; createdAt: string; updatedAt: string }[]
  readonly passkeys: readonly {
    name: string | null
    createdAt: string
    deviceType: string
    backedUp: boolean
  }[]
  /** Every record pointing at the user, by collection. */
  readonly records: Readonly<Record<string, readonly Record<string, unknown>[]>>
}

/** TOTP second factor for the signed-in user. */
export interface TotpMethods {
  /**
   * Starts TOTP setup; it is active once `verify` confirms a first code.
   *
   * @example
   * const { totpURI, backupCodes } = await client.auth.totp.enable({ password })
   * showQrCode(totpURI)
   */
  enable(opts: { password: string }): Promise<TotpSetup>
  /**
   * Confirms setup with a code from the authenticator app. The server starts a new session for it; the SDK
   * switches to it (USER_UPDATED).
   *
   * @example
   * await client.auth.totp.verify({ code: '123456' })
   */
  verify(opts: { code: string }): Promise<User>
  /**
   * Turns TOTP off.
   *
   * @example
   * await client.auth.totp.disable({ password })
   */
  disable(opts: { password: string }): Promise<User>
  /**
   * Replaces the backup codes (the old ones stop working).
   *
   * @example
   * const { backupCodes } = await client.auth.totp.regenerateBackupCodes({ password })
   */
  regenerateBackupCodes(opts: { password: string }): Promise<{ backupCodes: readonly string[] }>
}

export interface AuthServiceOptions {
  storage?: SessionStorage | undefined
  storageKey?: string | undefined
  apiKey?: string | undefined
  autoRefresh: boolean
}

/** better-auth's user as `/api/auth` answers it (before it is shaped like a `users` record). */
type AuthUser = Record<string, unknown> & { id: string }
interface SignInBody {
  token?: string | null
  user?: AuthUser
  twoFactorRedirect?: boolean
  twoFactorToken?: string
  twoFactorMethods?: string[]
}
interface RefreshBody {
  token: string
  accessToken: string
  accessTokenExpiresAt: string | null
  expiresAt: string
}

const DEFAULT_KEY = 'bastide.session'
const TWO_FACTOR_HEADER = 'x-bastide-two-factor'
/** Refresh this long before the access JWT expires (at most; a quarter of its lifetime for short ones). */
const REFRESH_MARGIN_MS = 60_000
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2_147_483_647
const RETRY_MIN_MS = 5_000
const RETRY_MAX_MS = 300_000
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

interface Entry {
  readonly cb: AuthListener
  /** Has had its INITIAL_SESSION: only then does it get the other events. */
  initial: boolean
}

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
  readonly #storage: SessionStorage
  readonly #key: string
  readonly #apiKey: string | undefined
  readonly #autoRefresh: boolean
  readonly #oauth: OAuthService
  readonly #listeners = new Set<Entry>()
  #session: Session | null = null
  #loaded = false
  #loading: Promise<Session | null> | undefined
  #writes: Promise<void> = Promise.resolve()
  #refreshing: Promise<Session> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #retryMs = RETRY_MIN_MS
  #stopped = false
  /** Server time minus local time (ms), learnt from each JWT's `iat`, so a wrong device clock does no harm. */
  #skew = 0
  /** The pending 2FA sign-in's token (`twoFactorToken`), in memory only: it lives 10 minutes. */
  #twoFactorToken: string | undefined

  constructor(
    readonly http: Http,
    opts: AuthServiceOptions,
  ) {
    this.#storage = opts.storage ?? defaultStorage()
    this.#key = opts.storageKey ?? DEFAULT_KEY
    this.#apiKey = opts.apiKey
    this.#autoRefresh = opts.autoRefresh
    // The user's own storage (AsyncStorage, SecureStore) also keeps the PKCE verifier of an OAuth flow in
    // progress; without one, the OAuth service picks its own default (the tab's sessionStorage in browsers).
    this.#oauth = new OAuthService(http, this, { storage: opts.storage, storageKey: this.#key })
    this.passkey = new PasskeyService(http, this)
    this.totp = {
      enable: async ({ password }) => {
        const r = await this.#sessionCall<{ totpURI: string; backupCodes: string[] }>('/two-factor/enable', {
          password,
        })
        return { totpURI: r.totpURI, backupCodes: r.backupCodes }
      },
      verify: async ({ code }) => {
        await this.#sessionCall('/two-factor/verify-totp', { code })
        return this.#requireUser()
      },
      disable: async ({ password }) => {
        await this.#sessionCall('/two-factor/disable', { password })
        return this.#requireUser()
      },
      regenerateBackupCodes: async ({ password }) => {
        const r = await this.#sessionCall<{ backupCodes: string[] }>('/two-factor/generate-backup-codes', {
          password,
        })
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
    void this.#ensureLoaded()
    return this.#session
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
    return this.#ensureLoaded()
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
    const entry: Entry = { cb, initial: false }
    this.#listeners.add(entry)
    void this.#ensureLoaded()
    // Always after this call returns, so that the caller holds its unsubscribe function first.
    if (this.#loaded) queueMicrotask(() => this.#announce())
    return () => {
      this.#listeners.delete(entry)
    }
  }

  /**
   * Stops the refresh timer (`client.close()` calls it). Tokens are still refreshed on demand.
   *
   * @example
   * client.auth.stop()
   */
  stop(): void {
    this.#stopped = true
    this.#clearTimer()
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
    if (this.#apiKey !== undefined) return this.#apiKey
    await this.#ensureLoaded()
    if (kind === 'session') {
      // A request sent with the token being rotated would fail: wait for the new one.
      if (this.#refreshing) await this.#refreshing.catch(() => {})
      return this.#session?.token ?? null
    }
    const s = this.#session
    if (!s) return null
    if (this.#msLeft(s) > this.#margin(s)) return s.accessToken
    try {
      return (await this.#refresh()).accessToken
    } catch (e) {
      // Offline or the server is struggling: a token that has not expired yet still works.
      if (this.#session === s && this.#msLeft(s) > 0) return s.accessToken
      throw e
    }
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
    if (this.#apiKey !== undefined) return false
    if (this.#refreshing) await this.#refreshing.catch(() => {})
    const s = this.#session
    if (!s) return false
    if (kind === 'session') return s.token !== token
    if (s.accessToken !== token) return true
    try {
      await this.#refresh()
      return true
    } catch {
      return false
    }
  }

  /**
   * Swaps the session token for a new one and gets a fresh access JWT (`POST /api/auth/session/refresh`).
   * Concurrent calls share one request. Throws (and signs out) when the session has ended.
   *
   * @example
   * const session = await client.auth.refresh()
   */
  refresh(): Promise<Session> {
    return this.#refresh()
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
    await this.#ensureLoaded()
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
    return this.#signIn('/sign-in/email', { email: opts.email, password: opts.password })
  }

  /**
   * Finishes a password sign-in on a 2FA account with a code from the authenticator app.
   * `trustDevice` only takes effect for clients that keep cookies.
   *
   * @example
   * await client.auth.verifyTotp({ code: '123456' })
   */
  async verifyTotp(opts: { code: string; trustDevice?: boolean }): Promise<Session> {
    return this.#secondFactor('/two-factor/verify-totp', {
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
    return this.#secondFactor('/two-factor/verify-backup-code', { code: opts.code })
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
    await this.#ensureLoaded()
    const token = /^[a-z][a-z0-9+.-]*:\/\/|^\//i.test(tokenOrUrl)
      ? new URL(tokenOrUrl, this.http.baseUrl).searchParams.get('token')
      : tokenOrUrl
    if (!token)
      throw new BastideError({ code: 'INVALID_TOKEN', status: 400, message: 'The link has no token.' })
    // Without a callbackURL the server answers JSON. On failure it redirects to errorCallbackURL with
    // `?error=CODE`: better-auth's own `/ok` (a 200), so the code can be read from the final URL.
    const res = await this.http.send('/api/auth/magic-link/verify', {
      query: { token, errorCallbackURL: '/api/auth/ok' },
      auth: this.#linkMode(),
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
    return this.#finishSignIn(body.token)
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
    return this.#signInDirect('/sign-in/email-otp', { email: opts.email, otp: opts.otp })
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
    return this.#signInDirect('/phone-number/verify', { phoneNumber: opts.phoneNumber, code: opts.code })
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
    await this.#ensureLoaded()
    if (this.#session?.user.anonymous) return this.#session
    const body = await this.http.request<SignInBody>('/api/auth/sign-in/anonymous', {
      method: 'POST',
      auth: 'none',
    })
    if (!body.token) throw invalidResponse()
    return this.#finishSignIn(body.token)
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
    const generic = () =>
      this.#signInDirect('/sign-in/id-token', {
        providerId: opts.provider,
        idToken: opts.idToken,
        ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
      })
    if (!SOCIAL_PROVIDERS.has(opts.provider)) return generic()
    try {
      return await this.#signInDirect('/sign-in/social', {
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
    await this.#ensureLoaded()
    const next = await this.#fetchSession(token)
    await this.#set(next, 'SIGNED_IN')
    return next
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
    const body = await this.#sessionCall<{ token?: string | null }>('/change-password', opts)
    const current = this.#session
    if (body.token && current && rawToken(body.token) !== rawToken(current.token))
      await this.#adopt(body.token)
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
    return rows.map((r) => ({
      id: String(r.id),
      current: r.current === true,
      createdAt: String(r.createdAt),
      updatedAt: String(r.updatedAt),
      expiresAt: String(r.expiresAt),
      ipAddress: typeof r.ipAddress === 'string' ? r.ipAddress : null,
      userAgent: typeof r.userAgent === 'string' ? r.userAgent : null,
      impersonated: typeof r.impersonatedBy === 'string' && r.impersonatedBy !== '',
    }))
  }

  /**
   * Ends one of the user's sessions by id (this one included: then this client signs out).
   *
   * @example
   * await client.auth.revokeSession(lostPhone.id)
   */
  async revokeSession(id: string): Promise<void> {
    const current = this.#session ? decodeJwt(this.#session.accessToken)?.sid : undefined
    await this.http.request('/api/auth/revoke-session', { method: 'POST', body: { id }, auth: 'session' })
    if (current === id) await this.#clear()
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
    await this.#ensureLoaded()
    if (!this.#session || this.#apiKey !== undefined) return
    try {
      await this.http.request('/api/auth/sign-out', { method: 'POST', auth: 'session', retry: false })
    } catch {
      // Offline or already ended: forgetting it locally is what matters to the user.
    }
    await this.#clear()
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
    await this.#ensureLoaded()
    const s = this.#session
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
    const now = this.#session
    if (now && now.token === s.token && JSON.stringify(now.user) !== JSON.stringify(user)) {
      await this.#set({ ...now, user }, 'USER_UPDATED')
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
    await this.#clear()
  }

  // ---------------------------------------------------------------- internals: sign-in

  /** Anonymous users send their session with a sign-in, so that the server moves their records. */
  #linkMode(): AuthMode {
    return this.#session?.user.anonymous ? 'session' : 'none'
  }

  async #signIn(path: string, body: Record<string, unknown>): Promise<SignInResult> {
    await this.#ensureLoaded()
    const r = await this.http.request<SignInBody>(`/api/auth${path}`, {
      method: 'POST',
      body,
      auth: this.#linkMode(),
    })
    if (r.twoFactorRedirect) {
      if (!r.twoFactorToken) throw invalidResponse('The server did not send a two-factor token.')
      this.#twoFactorToken = r.twoFactorToken
      return { session: null, twoFactorRequired: true, twoFactorMethods: r.twoFactorMethods ?? ['totp'] }
    }
    if (!r.token) throw invalidResponse()
    return { session: await this.#finishSignIn(r.token), twoFactorRequired: false }
  }

  async #signInDirect(path: string, body: Record<string, unknown>): Promise<Session> {
    const r = await this.#signIn(path, body)
    if (r.twoFactorRequired) throw invalidResponse('This sign-in method does not ask for a second factor.')
    return r.session
  }

  async #secondFactor(path: string, body: Record<string, unknown>): Promise<Session> {
    await this.#ensureLoaded()
    const pending = this.#twoFactorToken
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
      r = await this.http.request<SignInBody>(`/api/auth${path}`, {
        method: 'POST',
        body,
        auth: 'none',
        headers: { [TWO_FACTOR_HEADER]: pending },
      })
    } catch (e) {
      if (isBastideError(e, 'INVALID_TWO_FACTOR_COOKIE') && this.#twoFactorToken === pending)
        this.#twoFactorToken = undefined
      throw e
    }
    if (!r.token) throw invalidResponse()
    this.#twoFactorToken = undefined
    return this.#finishSignIn(r.token)
  }

  async #finishSignIn(token: string): Promise<Session> {
    const previous = this.#session
    const session = await this.setSessionFromToken(token)
    // A session replaced by another sign-in is still valid on the server: end it rather than leak it.
    // (An anonymous one is gone already: the server deleted it with its user when it moved the records.)
    if (previous && !previous.user.anonymous && rawToken(previous.token) !== rawToken(token)) {
      void this.http
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
  async #fetchSession(token: string): Promise<Session> {
    const bearer = { authorization: `Bearer ${token}` }
    const res = await this.http.send('/api/auth/get-session', { auth: 'none', headers: bearer })
    const data = (await res.json().catch(() => null)) as {
      session: { expiresAt: string }
      user: AuthUser
    } | null
    if (!data?.user) throw unauthorized('The session token is not valid.')
    const accessToken =
      res.headers.get('set-auth-jwt') ??
      (await this.http.request<{ token: string }>('/api/auth/token', { auth: 'none', headers: bearer })).token
    this.#learnSkew(accessToken)
    let user: User
    try {
      user = await this.http.request<User>(
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
  async #sessionCall<T = unknown>(path: string, body: Record<string, unknown>): Promise<T> {
    await this.#ensureLoaded()
    if (!this.#session) throw unauthorized('Sign in first.')
    const res = await this.http.send(`/api/auth${path}`, { method: 'POST', body, auth: 'session' })
    const text = await res.text()
    const parsed = (text ? JSON.parse(text) : undefined) as T
    const rotated = res.headers.get('set-auth-token')
    const current = this.#session
    if (rotated && current && rawToken(rotated) !== rawToken(current.token)) await this.#adopt(rotated)
    return parsed
  }

  /** Switches to a session the server started in place of the current one (same user). */
  async #adopt(token: string): Promise<void> {
    const before = this.#session
    const next = await this.#fetchSession(token)
    const changed = !before || JSON.stringify(before.user) !== JSON.stringify(next.user)
    await this.#set(next, changed ? 'USER_UPDATED' : 'TOKEN_REFRESHED')
  }

  #requireUser(): User {
    const s = this.#session
    if (!s) throw unauthorized('The session has ended.')
    return s.user
  }

  // ---------------------------------------------------------------- internals: refresh

  #refresh(): Promise<Session> {
    this.#refreshing ??= this.#doRefresh().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  async #doRefresh(): Promise<Session> {
    await this.#ensureLoaded()
    const s = this.#session
    if (!s) throw unauthorized('Not signed in.')
    let r: RefreshBody
    try {
      // Never retried: a refresh that reached the server has already killed the token it was sent with.
      r = await this.http.request<RefreshBody>('/api/auth/session/refresh', {
        method: 'POST',
        auth: 'none',
        headers: { authorization: `Bearer ${s.token}` },
        retry: false,
      })
    } catch (e) {
      if (isBastideError(e) && e.status === 401 && this.#session?.token === s.token) {
        // Another client on the same storage (a second tab) may have refreshed first: take its session.
        const stored = await this.#readStored()
        if (stored && stored.token !== s.token && stored.user.id === s.user.id) {
          this.#learnSkew(stored.accessToken)
          await this.#set(stored, 'TOKEN_REFRESHED', false)
          return stored
        }
        await this.#clear()
      }
      throw e
    }
    const current = this.#session
    if (!current || current.token !== s.token) {
      throw unauthorized('The session changed while it was being refreshed.')
    }
    this.#learnSkew(r.accessToken)
    const next: Session = {
      ...current,
      token: r.token,
      accessToken: r.accessToken,
      accessTokenExpiresAt: r.accessTokenExpiresAt ?? jwtExpiry(r.accessToken),
      expiresAt: r.expiresAt,
    }
    // Stored before anyone uses it: the old token is already dead on the server.
    await this.#set(next, 'TOKEN_REFRESHED')
    return next
  }

  /** Milliseconds before the access JWT expires, by the server's clock. */
  #msLeft(s: Session): number {
    return Date.parse(s.accessTokenExpiresAt) - (Date.now() + this.#skew)
  }

  /** A minute, or a quarter of the token's lifetime when that is shorter (a short BASTIDE_ACCESS_TOKEN_TTL). */
  #margin(s: Session): number {
    const c = decodeJwt(s.accessToken)
    if (typeof c?.exp !== 'number' || typeof c.iat !== 'number') return REFRESH_MARGIN_MS
    return Math.min(REFRESH_MARGIN_MS, ((c.exp - c.iat) * 1000) / 4)
  }

  #learnSkew(jwt: string): void {
    const iat = decodeJwt(jwt)?.iat
    // `iat` is whole seconds: only a clearly wrong clock is worth correcting.
    if (typeof iat === 'number') {
      const skew = iat * 1000 - Date.now()
      this.#skew = Math.abs(skew) > 5_000 ? skew : 0
    }
  }

  #schedule(): void {
    this.#clearTimer()
    const s = this.#session
    if (!this.#autoRefresh || this.#stopped || !s || this.#apiKey !== undefined) return
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, this.#msLeft(s) - this.#margin(s)))
    this.#arm(delay)
  }

  #arm(delay: number): void {
    const t = setTimeout(() => {
      this.#timer = undefined
      this.#refresh().then(
        () => {
          this.#retryMs = RETRY_MIN_MS
        },
        () => {
          // Signed out (401): nothing to do. Offline: try again later, backing off.
          if (!this.#session || this.#stopped) return
          const wait = this.#retryMs
          this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2)
          this.#clearTimer()
          this.#arm(wait)
        },
      )
    }, delay)
    // Node: a pending refresh must not keep a script alive.
    ;(t as { unref?: () => void }).unref?.()
    this.#timer = t
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  // ---------------------------------------------------------------- internals: state and storage

  #ensureLoaded(): Promise<Session | null> {
    if (this.#loading) return this.#loading
    if (this.#apiKey !== undefined) {
      this.#loading = Promise.resolve(this.#applyStored(null))
      return this.#loading
    }
    let raw: ReturnType<SessionStorage['getItem']>
    try {
      raw = this.#storage.getItem(this.#key)
    } catch {
      raw = null
    }
    this.#loading = isThenable(raw)
      ? Promise.resolve(raw).then(
          (v) => this.#applyStored(v),
          () => this.#applyStored(null),
        )
      : // A synchronous storage (localStorage) is read at once: `session` is right from the first access.
        Promise.resolve(this.#applyStored(raw))
    return this.#loading
  }

  #applyStored(raw: string | null | undefined): Session | null {
    if (this.#loaded) return this.#session
    this.#loaded = true
    this.#session ??= parseSession(raw)
    this.#schedule()
    queueMicrotask(() => this.#announce())
    return this.#session
  }

  async #readStored(): Promise<Session | null> {
    await this.#writes
    try {
      return parseSession(await this.#storage.getItem(this.#key))
    } catch {
      return null
    }
  }

  /** Sets the session in memory, stores it (awaited), re-arms the timer and tells the listeners. */
  async #set(next: Session, event: AuthEvent, persist = true): Promise<void> {
    this.#session = next
    this.#retryMs = RETRY_MIN_MS
    this.#schedule()
    if (persist) await this.#persist(next)
    this.#emit(event)
  }

  async #clear(): Promise<void> {
    const had = this.#session !== null
    this.#session = null
    this.#twoFactorToken = undefined
    this.#clearTimer()
    await this.#persist(null)
    if (had) this.#emit('SIGNED_OUT')
  }

  /** Writes run one after the other, so that a slow async storage never ends up with an older session. */
  #persist(s: Session | null): Promise<void> {
    const write = () =>
      s ? this.#storage.setItem(this.#key, JSON.stringify(s)) : this.#storage.removeItem(this.#key)
    // A storage that fails (full, locked keychain) must not break the session held in memory.
    this.#writes = this.#writes.then(write).then(
      () => {},
      () => {},
    )
    return this.#writes
  }

  /** INITIAL_SESSION to every listener that has not had it yet. */
  #announce(): void {
    if (!this.#loaded) return
    for (const e of this.#listeners) {
      if (e.initial) continue
      e.initial = true
      call(e, 'INITIAL_SESSION', this.#session)
    }
  }

  #emit(event: AuthEvent): void {
    for (const e of this.#listeners) if (e.initial) call(e, event, this.#session)
  }
}

function call(e: Entry, event: AuthEvent, session: Session | null): void {
  try {
    e.cb(event, session)
  } catch (err) {
    // One listener's bug must not stop the others, nor the sign-in that triggered it.
    console.error('bastide: an onAuthStateChange listener threw', err)
  }
}

function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function'
}

function parseSession(raw: string | null | undefined): Session | null {
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
function rawToken(t: string): string {
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
function toUser(u: AuthUser): User {
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

function unknownUser(opts: { email: string; name: string }): User {
  return { id: '', email: opts.email, name: opts.name, verified: false, created: '', updated: '', version: 1 }
}

function unauthorized(message: string): BastideError {
  return new BastideError({ code: ErrorCodes.UNAUTHORIZED, status: 401, message })
}

function invalidResponse(message = 'The server did not answer with a session.'): BastideError {
  return new BastideError({ code: ErrorCodes.INVALID_RESPONSE, status: 200, message })
}

interface JwtClaims {
  readonly exp?: number
  readonly iat?: number
  readonly sid?: string
  readonly sub?: string
}

/** The claims of a JWT, unverified (the server checks them; the SDK only schedules refreshes with them). */
function decodeJwt(jwt: string): JwtClaims | null {
  const part = jwt.split('.')[1]
  if (!part) return null
  try {
    return JSON.parse(base64UrlToText(part)) as JwtClaims
  } catch {
    return null
  }
}

function jwtExpiry(jwt: string): string {
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
