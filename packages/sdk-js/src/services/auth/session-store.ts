import { isBastideError } from '../../errors.ts'
import type { AuthMode, Http, TokenSource } from '../../http.ts'
import { defaultStorage, type SessionStorage } from '../../session-storage.ts'
import type { AuthEvent, Session } from '../session.ts'
import { decodeJwt, jwtExpiry, parseSession, unauthorized } from './session-codec.ts'
import type { AuthListener, AuthServiceOptions, RefreshBody } from './types.ts'

const DEFAULT_KEY = 'bastide.session'
/** Refresh this long before the access JWT expires (at most; a quarter of its lifetime for short ones). */
const REFRESH_MARGIN_MS = 60_000
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2_147_483_647
const RETRY_MIN_MS = 5_000
const RETRY_MAX_MS = 300_000

interface Entry {
  readonly cb: AuthListener
  /** Has had its INITIAL_SESSION: only then does it get the other events. */
  initial: boolean
}

/**
 * The session the auth service holds: loaded from and written to the client's storage, handed out as bearer
 * tokens, refreshed ahead of its expiry (one refresh at a time), announced to `onAuthStateChange` listeners.
 * Sign-in flows ({@link SignInFlow}) end by {@link set}ting a session here.
 */
export class SessionStore implements TokenSource {
  /** With an API key, every request carries it and there is no session. */
  readonly apiKey: string | undefined
  /** The pending 2FA sign-in's token (`twoFactorToken`), in memory only: it lives 10 minutes. */
  twoFactorToken: string | undefined
  readonly #http: Http
  readonly #storage: SessionStorage
  readonly #key: string
  readonly #autoRefresh: boolean
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

  constructor(http: Http, opts: AuthServiceOptions) {
    this.#http = http
    this.#storage = opts.storage ?? defaultStorage()
    this.#key = opts.storageKey ?? DEFAULT_KEY
    this.apiKey = opts.apiKey
    this.#autoRefresh = opts.autoRefresh
  }

  /** The storage key (the OAuth flow keeps its PKCE verifier beside it). */
  get key(): string {
    return this.#key
  }

  /** The session held now, without waiting for the stored one to load. */
  get session(): Session | null {
    return this.#session
  }

  /** Stops the refresh timer. Tokens are still refreshed on demand. */
  stop(): void {
    this.#stopped = true
    this.#clearTimer()
  }

  /** The bearer for a request (see `AuthService.getToken`). */
  async getToken(kind: Exclude<AuthMode, 'none'>): Promise<string | null> {
    if (this.apiKey !== undefined) return this.apiKey
    await this.ensureLoaded()
    if (kind === 'session') {
      // A request sent with the token being rotated would fail: wait for the new one.
      if (this.#refreshing) await this.#refreshing.catch(() => {})
      return this.#session?.token ?? null
    }
    const s = this.#session
    if (!s) return null
    if (this.#msLeft(s) > this.#margin(s)) return s.accessToken
    try {
      return (await this.refresh()).accessToken
    } catch (e) {
      // Offline or the server is struggling: a token that has not expired yet still works.
      if (this.#session === s && this.#msLeft(s) > 0) return s.accessToken
      throw e
    }
  }

  /** After a 401 on a request that carried `token`: whether to retry (see `AuthService.handleUnauthorized`). */
  async handleUnauthorized(kind: Exclude<AuthMode, 'none'>, token: string): Promise<boolean> {
    if (this.apiKey !== undefined) return false
    if (this.#refreshing) await this.#refreshing.catch(() => {})
    const s = this.#session
    if (!s) return false
    if (kind === 'session') return s.token !== token
    if (s.accessToken !== token) return true
    try {
      await this.refresh()
      return true
    } catch {
      return false
    }
  }

  /** `onAuthStateChange`: INITIAL_SESSION first (once loaded), then every change. */
  listen(cb: AuthListener): () => void {
    const entry: Entry = { cb, initial: false }
    this.#listeners.add(entry)
    void this.ensureLoaded()
    // Always after this call returns, so that the caller holds its unsubscribe function first.
    if (this.#loaded) queueMicrotask(() => this.#announce())
    return () => {
      this.#listeners.delete(entry)
    }
  }

  /** Concurrent calls share one refresh. */
  refresh(): Promise<Session> {
    this.#refreshing ??= this.#doRefresh().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  async #doRefresh(): Promise<Session> {
    await this.ensureLoaded()
    const s = this.#session
    if (!s) throw unauthorized('Not signed in.')
    let r: RefreshBody
    try {
      // Never retried: a refresh that reached the server has already killed the token it was sent with.
      r = await this.#http.request<RefreshBody>('/api/auth/session/refresh', {
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
          this.learnSkew(stored.accessToken)
          await this.set(stored, 'TOKEN_REFRESHED', false)
          return stored
        }
        await this.clear()
      }
      throw e
    }
    const current = this.#session
    if (!current || current.token !== s.token) {
      throw unauthorized('The session changed while it was being refreshed.')
    }
    this.learnSkew(r.accessToken)
    const next: Session = {
      ...current,
      token: r.token,
      accessToken: r.accessToken,
      accessTokenExpiresAt: r.accessTokenExpiresAt ?? jwtExpiry(r.accessToken),
      expiresAt: r.expiresAt,
    }
    // Stored before anyone uses it: the old token is already dead on the server.
    await this.set(next, 'TOKEN_REFRESHED')
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

  /** Learns the server's clock from a JWT's `iat`. */
  learnSkew(jwt: string): void {
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
    if (!this.#autoRefresh || this.#stopped || !s || this.apiKey !== undefined) return
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, this.#msLeft(s) - this.#margin(s)))
    this.#arm(delay)
  }

  #arm(delay: number): void {
    const t = setTimeout(() => {
      this.#timer = undefined
      this.refresh().then(
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

  /** The stored session, read once (at once from a synchronous storage). */
  ensureLoaded(): Promise<Session | null> {
    if (this.#loading) return this.#loading
    if (this.apiKey !== undefined) {
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
  async set(next: Session, event: AuthEvent, persist = true): Promise<void> {
    this.#session = next
    this.#retryMs = RETRY_MIN_MS
    this.#schedule()
    if (persist) await this.#persist(next)
    this.#emit(event)
  }

  /** Forgets the session (stored too); SIGNED_OUT if there was one. */
  async clear(): Promise<void> {
    const had = this.#session !== null
    this.#session = null
    this.twoFactorToken = undefined
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
