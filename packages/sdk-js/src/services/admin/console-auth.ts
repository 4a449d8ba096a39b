import { BastideError } from '../../errors.ts'
import type { AuthMode, Http, TokenSource } from '../../http.ts'
import { defaultStorage, type SessionStorage } from '../../session-storage.ts'
import type { AuthEvent } from '../session.ts'

const BASE = '/api/admin/auth'
/** Carries a pending two-factor sign-in when cookies cannot (the server's two-factor-pending plugin). */
const TWO_FACTOR_HEADER = 'x-bastide-two-factor'

/** A console admin (a population apart from app users). */
export interface ConsoleAdmin {
  readonly id: string
  readonly email: string
  readonly name: string
  readonly twoFactorEnabled?: boolean | null
  readonly [field: string]: unknown
}

/** A console admin's session: the bearer token every console call carries. */
export interface ConsoleSession {
  readonly token: string
  readonly admin: ConsoleAdmin
}

/** The answer to a password sign-in: a session, or a second factor to give to `verifyTotp`. */
export type ConsoleSignIn =
  | { readonly session: ConsoleSession; readonly twoFactorRequired: false }
  | { readonly session: null; readonly twoFactorRequired: true }

interface SignInBody {
  token?: string
  user?: ConsoleAdmin
  twoFactorRedirect?: boolean
  twoFactorToken?: string
}

/**
 * Console admins' sign-in (`/api/admin/auth`): password, then TOTP when the admin has enabled it. The session
 * token is kept in the client's storage (under `<storageKey>.console`) and sent as the bearer token of every
 * request when the client was created with `console: true`.
 */
export class ConsoleAuth implements TokenSource {
  readonly #http: Http
  readonly #storage: SessionStorage
  readonly #key: string
  #session: ConsoleSession | null = null
  #twoFactorToken: string | undefined
  #loaded: Promise<void> | undefined
  readonly #listeners = new Set<(event: AuthEvent, session: ConsoleSession | null) => void>()

  constructor(
    http: Http,
    opts: { storage?: SessionStorage | undefined; storageKey?: string | undefined } = {},
  ) {
    this.#http = http
    this.#storage = opts.storage ?? defaultStorage()
    this.#key = `${opts.storageKey ?? 'bastide.session'}.console`
  }

  /** The signed-in admin's session, once loaded from storage (see `load`). */
  get session(): ConsoleSession | null {
    return this.#session
  }

  /**
   * Reads the stored session (once); later calls share the first read.
   *
   * @example
   * await client.admin.auth.load()
   * if (!client.admin.auth.session) showSignIn()
   */
  load(): Promise<void> {
    this.#loaded ??= (async () => {
      try {
        const raw = await this.#storage.getItem(this.#key)
        const parsed = raw ? (JSON.parse(raw) as ConsoleSession) : null
        if (parsed && typeof parsed.token === 'string' && parsed.admin) this.#session = parsed
      } catch {
        this.#session = null
      }
      this.#emit('INITIAL_SESSION')
    })()
    return this.#loaded
  }

  /**
   * Signs an admin in with email and password. When the admin has TOTP on, the answer says so and
   * `verifyTotp(code)` finishes the sign-in.
   *
   * @example
   * const r = await client.admin.auth.signIn({ email, password })
   * if (r.twoFactorRequired) await client.admin.auth.verifyTotp(prompt('Code')!)
   */
  async signIn(input: { email: string; password: string }): Promise<ConsoleSignIn> {
    await this.load()
    const r = await this.#http.request<SignInBody>(`${BASE}/sign-in/email`, {
      method: 'POST',
      body: { email: input.email, password: input.password },
      auth: 'none',
      retry: false,
    })
    if (r.twoFactorRedirect) {
      this.#twoFactorToken = r.twoFactorToken
      return { session: null, twoFactorRequired: true }
    }
    return { session: await this.#adopt(r), twoFactorRequired: false }
  }

  /**
   * Finishes a sign-in that asked for a second factor, with a code from the authenticator app (or a backup code
   * with `{ backupCode: true }`).
   *
   * @example
   * await client.admin.auth.verifyTotp('123456')
   */
  async verifyTotp(code: string, opts: { backupCode?: boolean } = {}): Promise<ConsoleSession> {
    const path = opts.backupCode ? '/two-factor/verify-backup-code' : '/two-factor/verify-totp'
    const headers: Record<string, string> = this.#twoFactorToken
      ? { [TWO_FACTOR_HEADER]: this.#twoFactorToken }
      : {}
    const r = await this.#http.request<SignInBody>(`${BASE}${path}`, {
      method: 'POST',
      body: { code },
      auth: 'none',
      headers,
      retry: false,
    })
    this.#twoFactorToken = undefined
    return this.#adopt(r)
  }

  /**
   * Re-reads the admin behind the stored session (after enabling TOTP, say); signs out locally when it ended.
   *
   * @example
   * const admin = (await client.admin.auth.refresh())?.admin
   */
  async refresh(): Promise<ConsoleSession | null> {
    await this.load()
    const s = this.#session
    if (!s) return null
    const r = await this.#http.request<{ user?: ConsoleAdmin } | null>(`${BASE}/get-session`, {
      auth: 'session',
    })
    if (!r?.user) {
      this.#set(null, 'SIGNED_OUT')
      return null
    }
    this.#set({ token: s.token, admin: r.user }, 'USER_UPDATED')
    return this.#session
  }

  /**
   * Ends the session on the server and forgets it here (also when the server cannot be reached).
   *
   * @example
   * await client.admin.auth.signOut()
   */
  async signOut(): Promise<void> {
    await this.load()
    if (!this.#session) return
    try {
      await this.#http.request(`${BASE}/sign-out`, {
        method: 'POST',
        auth: 'session',
        retry: false,
        body: {},
      })
    } finally {
      this.#set(null, 'SIGNED_OUT')
    }
  }

  /**
   * Turns TOTP on for the signed-in admin: returns the `otpauth://` URI to show as a QR code and backup codes;
   * it is active once `confirmTotp(code)` succeeds.
   *
   * @example
   * const { totpURI, backupCodes } = await client.admin.auth.enableTotp(password)
   */
  async enableTotp(password: string): Promise<{ totpURI: string; backupCodes: string[] }> {
    return this.#http.request(`${BASE}/two-factor/enable`, {
      method: 'POST',
      body: { password },
      auth: 'session',
    })
  }

  /**
   * Confirms TOTP set-up with a first code from the app.
   *
   * @example
   * await client.admin.auth.confirmTotp('123456')
   */
  async confirmTotp(code: string): Promise<void> {
    await this.#http.request(`${BASE}/two-factor/verify-totp`, {
      method: 'POST',
      body: { code },
      auth: 'session',
    })
    await this.refresh()
  }

  /**
   * Turns TOTP off (needs the password).
   *
   * @example
   * await client.admin.auth.disableTotp(password)
   */
  async disableTotp(password: string): Promise<void> {
    await this.#http.request(`${BASE}/two-factor/disable`, {
      method: 'POST',
      body: { password },
      auth: 'session',
    })
    await this.refresh()
  }

  /**
   * Called with `INITIAL_SESSION` once the stored session is read, then on every sign-in and sign-out.
   *
   * @example
   * const off = client.admin.auth.onAuthStateChange((event, session) => render(session))
   */
  onAuthStateChange(fn: (event: AuthEvent, session: ConsoleSession | null) => void): () => void {
    this.#listeners.add(fn)
    if (this.#loaded)
      void this.#loaded.then(() => this.#listeners.has(fn) && fn('INITIAL_SESSION', this.#session))
    else void this.load()
    return () => this.#listeners.delete(fn)
  }

  /** The HTTP layer asks for the bearer token: the admin's session token, whatever the kind. */
  async getToken(_kind: Exclude<AuthMode, 'none'>): Promise<string | null> {
    await this.load()
    return this.#session?.token ?? null
  }

  /** A 401 with the session's token means the session ended (expired, revoked): forget it, do not retry. */
  async handleUnauthorized(_kind: Exclude<AuthMode, 'none'>, token: string): Promise<boolean> {
    if (this.#session?.token === token) this.#set(null, 'SIGNED_OUT')
    return false
  }

  async #adopt(r: SignInBody): Promise<ConsoleSession> {
    if (!r.token || !r.user) {
      throw new BastideError({
        code: 'INVALID_RESPONSE',
        status: 502,
        message: 'The server did not answer a console sign-in with a session.',
      })
    }
    this.#set({ token: r.token, admin: r.user }, 'SIGNED_IN')
    return this.#session as ConsoleSession
  }

  #set(session: ConsoleSession | null, event: AuthEvent): void {
    this.#session = session
    const write = session
      ? this.#storage.setItem(this.#key, JSON.stringify(session))
      : this.#storage.removeItem(this.#key)
    void Promise.resolve(write).catch(() => {})
    this.#emit(event)
  }

  #emit(event: AuthEvent): void {
    for (const fn of this.#listeners) {
      try {
        fn(event, this.#session)
      } catch {}
    }
  }
}
