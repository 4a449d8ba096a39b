import { BastideError } from '../../errors.ts'
import type { AuthMode, Http, TokenSource } from '../../http.ts'
import { defaultStorage, type SessionStorage } from '../../session-storage.ts'
import {
  type AuthenticatorTransportJSON,
  browserCreateCredential,
  browserGetCredential,
  type CreateCredential,
  type GetCredential,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '../../webauthn.ts'
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

/** A passkey that signs a console admin in (no key material: the public key stays on the server). */
export interface ConsolePasskey {
  readonly id: string
  /** The name given when it was added, e.g. "Work laptop". */
  readonly name: string | null
  /** `singleDevice`, or `multiDevice` (synced by a password manager or the platform). */
  readonly deviceType: string
  readonly backedUp: boolean
  readonly transports: readonly AuthenticatorTransportJSON[]
  /** ISO 8601. */
  readonly createdAt: string
  /** The authenticator model (AAGUID), when it tells. */
  readonly aaguid: string | null
}

/** One of the signed-in admin's sessions (a browser, a script), never its token. */
export interface ConsoleSessionInfo {
  readonly id: string
  /** The session this client holds. */
  readonly current: boolean
  /** ISO 8601. */
  readonly createdAt: string
  /** ISO 8601. */
  readonly expiresAt: string
  readonly ipAddress: string | null
  readonly userAgent: string | null
}

interface PasskeyRow {
  readonly id: string
  readonly name?: string | null
  readonly deviceType: string
  readonly backedUp: boolean
  readonly transports?: string | null
  readonly createdAt: string
  readonly aaguid?: string | null
}

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
   * Signs an admin in with a passkey (no email, no password, no TOTP: the passkey is both factors). The browser
   * shows its account picker; `getCredential` replaces it outside a browser. Cancelling throws a BastideError
   * with code `PASSKEY_CANCELLED`.
   *
   * @example
   * try { await client.admin.auth.signInWithPasskey() }
   * catch (e) { if (isBastideError(e, 'PASSKEY_CANCELLED')) return; throw e }
   */
  async signInWithPasskey(
    opts: { getCredential?: GetCredential; signal?: AbortSignal } = {},
  ): Promise<ConsoleSession> {
    await this.load()
    const options = await this.#http.request<PublicKeyCredentialRequestOptionsJSON>(
      `${BASE}/passkey/generate-authenticate-options`,
      { auth: 'none', signal: opts.signal },
    )
    const response = await (opts.getCredential ?? browserGetCredential)(options)
    // The challenge rides a cookie the server set on the options answer; a same-origin page carries it back.
    const r = await this.#http.request<{ session?: { token?: string }; user?: ConsoleAdmin }>(
      `${BASE}/passkey/verify-authentication`,
      { method: 'POST', body: { response }, auth: 'none', retry: false, signal: opts.signal },
    )
    this.#twoFactorToken = undefined
    return this.#adopt({ token: r.session?.token, user: r.user })
  }

  /**
   * Adds a passkey to the signed-in admin's account (the browser asks to create one; `createCredential`
   * replaces it outside a browser). A session younger than a day is required.
   *
   * @example
   * const passkey = await client.admin.auth.addPasskey('Work laptop')
   */
  async addPasskey(
    name?: string,
    opts: {
      createCredential?: CreateCredential
      /** `platform` (this device's Touch ID, Windows Hello…) or `cross-platform` (a security key, a phone). */
      authenticatorAttachment?: 'platform' | 'cross-platform'
      signal?: AbortSignal
    } = {},
  ): Promise<ConsolePasskey> {
    const options = await this.#http.request<PublicKeyCredentialCreationOptionsJSON>(
      `${BASE}/passkey/generate-register-options`,
      {
        auth: 'session',
        query: { authenticatorAttachment: opts.authenticatorAttachment },
        signal: opts.signal,
      },
    )
    const response = await (opts.createCredential ?? browserCreateCredential)(options)
    const row = await this.#http.request<PasskeyRow>(`${BASE}/passkey/verify-registration`, {
      method: 'POST',
      auth: 'session',
      body: { response, ...(name ? { name } : {}) },
      retry: false,
      signal: opts.signal,
    })
    return toPasskey(row)
  }

  /**
   * The signed-in admin's passkeys.
   *
   * @example
   * const passkeys = await client.admin.auth.listPasskeys()
   */
  async listPasskeys(opts: { signal?: AbortSignal } = {}): Promise<ConsolePasskey[]> {
    const rows = await this.#http.request<PasskeyRow[]>(`${BASE}/passkey/list-user-passkeys`, {
      auth: 'session',
      signal: opts.signal,
    })
    return (rows ?? []).map(toPasskey)
  }

  /**
   * Removes one of the signed-in admin's passkeys: it no longer signs anyone in (the authenticator keeps it).
   *
   * @example
   * await client.admin.auth.removePasskey(passkey.id)
   */
  async removePasskey(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#http.request(`${BASE}/passkey/delete-passkey`, {
      method: 'POST',
      auth: 'session',
      body: { id },
      signal: opts.signal,
    })
    await this.refresh()
  }

  /**
   * The signed-in admin's sessions, newest first; `current` marks this client's.
   *
   * @example
   * for (const s of await client.admin.auth.listSessions()) console.log(s.userAgent, s.current)
   */
  async listSessions(opts: { signal?: AbortSignal } = {}): Promise<ConsoleSessionInfo[]> {
    const rows = await this.#http.request<Record<string, unknown>[]>(`${BASE}/list-sessions`, {
      auth: 'session',
      signal: opts.signal,
    })
    return (rows ?? [])
      .map(
        (r): ConsoleSessionInfo => ({
          id: String(r.id),
          current: r.current === true,
          createdAt: iso(r.createdAt),
          expiresAt: iso(r.expiresAt),
          ipAddress: typeof r.ipAddress === 'string' && r.ipAddress ? r.ipAddress : null,
          userAgent: typeof r.userAgent === 'string' && r.userAgent ? r.userAgent : null,
        }),
      )
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
  }

  /**
   * Ends one of the signed-in admin's sessions by id (this client's included: then it is signed out here too).
   *
   * @example
   * await client.admin.auth.revokeSession(oldLaptop.id)
   */
  async revokeSession(id: string): Promise<void> {
    await this.#http.request(`${BASE}/revoke-session`, {
      method: 'POST',
      auth: 'session',
      body: { id },
      retry: false,
    })
    // Signed out here when it was this client's session.
    await this.refresh()
  }

  /**
   * Ends every session of the signed-in admin, on every device (this one included), then forgets it here.
   *
   * @example
   * await client.admin.auth.signOutEverywhere()
   */
  async signOutEverywhere(): Promise<void> {
    await this.load()
    if (!this.#session) return
    await this.#http.request(`${BASE}/revoke-sessions`, {
      method: 'POST',
      auth: 'session',
      retry: false,
      body: {},
    })
    this.#set(null, 'SIGNED_OUT')
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
    await this.#rotating('/two-factor/verify-totp', { code })
  }

  /**
   * Turns TOTP off (needs the password).
   *
   * @example
   * await client.admin.auth.disableTotp(password)
   */
  async disableTotp(password: string): Promise<void> {
    await this.#rotating('/two-factor/disable', { password })
  }

  /**
   * New backup codes for the signed-in admin (needs the password); the old ones stop working. Show them once.
   *
   * @example
   * const { backupCodes } = await client.admin.auth.generateBackupCodes(password)
   */
  async generateBackupCodes(password: string): Promise<{ backupCodes: string[] }> {
    const r = await this.#http.request<{ backupCodes: string[] }>(
      `${BASE}/two-factor/generate-backup-codes`,
      {
        method: 'POST',
        body: { password },
        auth: 'session',
        retry: false,
      },
    )
    return { backupCodes: r.backupCodes }
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

  /**
   * A 401 with the session's token: forget the session when it ended (expired, revoked), never retry. Some
   * calls answer 401 to a live session (a wrong TOTP code while confirming it): the server is asked whether the
   * session still stands, so a typo does not sign the admin out.
   */
  async handleUnauthorized(_kind: Exclude<AuthMode, 'none'>, token: string): Promise<boolean> {
    if (this.#session?.token !== token) return false
    const alive = await this.#http
      .request<{ user?: unknown } | null>(`${BASE}/get-session`, {
        auth: 'none',
        headers: { authorization: `Bearer ${token}` },
        retry: false,
      })
      .then(
        (r) => !!r?.user,
        // Unreachable: keep the session; the next call tells.
        (e: unknown) => !(e instanceof BastideError && e.status === 401),
      )
    if (!alive && this.#session?.token === token) this.#set(null, 'SIGNED_OUT')
    return false
  }

  /**
   * Turning TOTP on or off ends the session it was done with and starts a new one (better-auth's two-factor
   * plugin): the new token comes in the `set-auth-token` header, and is kept in place of the old one.
   */
  async #rotating(path: string, body: Record<string, unknown>): Promise<void> {
    const res = await this.#http.send(`${BASE}${path}`, {
      method: 'POST',
      body,
      auth: 'session',
      retry: false,
    })
    const token = res.headers.get('set-auth-token')
    const s = this.#session
    if (token && s) this.#set({ token, admin: s.admin }, 'TOKEN_REFRESHED')
    await this.refresh()
  }

  async #adopt(r: Pick<SignInBody, 'token' | 'user'>): Promise<ConsoleSession> {
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

const iso = (v: unknown): string => (typeof v === 'string' ? v : new Date(v as number).toISOString())

function toPasskey(r: PasskeyRow): ConsolePasskey {
  return {
    id: r.id,
    name: r.name ?? null,
    deviceType: r.deviceType,
    backedUp: r.backedUp,
    transports: (r.transports ? r.transports.split(',').filter(Boolean) : []) as AuthenticatorTransportJSON[],
    createdAt: typeof r.createdAt === 'string' ? r.createdAt : new Date(r.createdAt).toISOString(),
    aaguid: r.aaguid ?? null,
  }
}
