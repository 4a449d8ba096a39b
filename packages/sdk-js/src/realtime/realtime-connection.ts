import type { Ack } from '@bastide/protocol'
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client'
import { BastideError, ErrorCodes } from '../errors.ts'
import type { Http, TokenSource } from '../http.ts'
import type { AuthEvent } from '../services/session.ts'
import { ACK_TIMEOUT_MS, asError, safely, unref } from './socket-request.ts'
import type { RealtimeIdentity, RealtimeStatus } from './types.ts'

/**
 * With no subscription and no channel left, the connection closes after this delay: long enough that a UI that
 * unsubscribes and subscribes again in the same render (React effects) keeps it.
 */
const IDLE_CLOSE_MS = 3_000
/** Our own retries (refused handshakes, server-side disconnections): from 1 s, doubling, up to 30 s. */
const RETRY_BASE_MS = 1_000
const RETRY_MAX_MS = 30_000
/** A connection that lived this long resets the retry backoff. */
const STABLE_MS = 30_000

/** What the connection serves: record subscriptions and channels (see RealtimeService). */
export interface ConnectionUsers {
  /** Something is left to deliver (a subscription, a joined channel). */
  wanted(): boolean
  /** A connection is up (again): subscribe and join on it. */
  connected(so: Socket): void
  /** The connection dropped. */
  disconnected(): void
  /** Another identity: what the subscriptions may see changed. */
  identityChanged(): void
  /** Registers the handlers of what the server pushes, on a new socket. */
  listen(so: Socket): void
}

/**
 * The one socket.io connection of a client: opened on first use, authenticated with the current access token at
 * each (re)connection, reconnected with backoff and jitter, closed when idle, replaced when the identity changes.
 */
export class RealtimeConnection {
  readonly #http: Http
  readonly #auth: RealtimeIdentity
  readonly #tokens: TokenSource
  #socket: Socket | undefined
  #loading: Promise<void> | undefined
  /** The token the current connection was opened with (null: anonymous). */
  #token: string | null = null
  #status: RealtimeStatus = 'disconnected'
  /** connect() was called: stay connected even with nothing to deliver. */
  #pinned = false
  /** disconnect() was called: nothing reopens the connection until the next use. */
  #stopped = false
  /**
   * No automatic reconnection until the auth state changes or connect() is called: the server refused this
   * identity, retrying the same credential would only loop.
   */
  #halted = false
  /** Bumped on every connection, so that acknowledgements of an older one are ignored. */
  #epoch = 0
  #retries = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  #connectedAt = 0
  /** Set while we close the socket ourselves to reopen it: that close is not the app's. */
  #cycling = false
  #offAuth: (() => void) | undefined
  readonly #users: ConnectionUsers
  readonly #statusListeners = new Set<(status: RealtimeStatus) => void>()
  readonly #errorListeners = new Set<(error: BastideError) => void>()

  constructor(http: Http, auth: RealtimeIdentity, users: ConnectionUsers) {
    this.#http = http
    this.#auth = auth
    this.#tokens = auth
    this.#users = users
  }

  get status(): RealtimeStatus {
    return this.#status
  }

  /** The socket when connected. */
  get socket(): Socket | undefined {
    return this.#socket?.connected ? this.#socket : undefined
  }

  /** Bumped on every connection, so that acknowledgements of an older one are ignored. */
  get epoch(): number {
    return this.#epoch
  }

  /** A fresh connection: the way out of a stuck one. */
  recycle(): void {
    this.#cycle(() => this.#open())
  }

  /** Opens now and stays open until disconnect(); resolves when connected, rejects on a refusal. */
  connect(): Promise<void> {
    this.#pinned = true
    this.#halted = false
    this.use()
    if (this.#socket?.connected) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const off = this.onStatusChange((s) => {
        if (s !== 'connected') return
        off()
        offErr()
        resolve()
      })
      const offErr = this.onError((e) => {
        if (e.code !== ErrorCodes.UNAUTHORIZED && e.code !== ErrorCodes.SESSION_ENDED) return
        off()
        offErr()
        reject(e)
      })
    })
  }

  /** Closes and stops reconnecting until the next use. */
  disconnect(): void {
    this.#pinned = false
    this.#stopped = true
    this.#clearTimers()
    this.#offAuth?.()
    this.#offAuth = undefined
    const so = this.#socket
    if (so) {
      so.disconnect()
      this.#setStatus('disconnected')
    }
  }

  onStatusChange(cb: (status: RealtimeStatus) => void): () => void {
    this.#statusListeners.add(cb)
    return () => this.#statusListeners.delete(cb)
  }

  onError(cb: (error: BastideError) => void): () => void {
    this.#errorListeners.add(cb)
    return () => this.#errorListeners.delete(cb)
  }

  /** Something needs the connection: open it (loading socket.io-client the first time). */
  use(): void {
    this.#stopped = false
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
    this.#offAuth ??= this.#auth.onAuthStateChange((event) => this.#onAuthEvent(event))
    const so = this.#socket
    if (so) {
      if (!so.active && !this.#halted && this.#retryTimer === undefined) this.#open()
      return
    }
    this.#loading ??= import('socket.io-client').then(
      ({ io }) => {
        this.#socket = this.#create(io)
        if (this.#wanted() && !this.#halted && !this.#stopped) this.#open()
      },
      (cause: unknown) => {
        this.#loading = undefined
        this.report(
          new BastideError({
            code: ErrorCodes.UNAVAILABLE,
            status: 0,
            message: `socket.io-client could not be loaded (${(cause as Error)?.message ?? String(cause)}).`,
            cause,
          }),
        )
      },
    )
  }

  #wanted(): boolean {
    return this.#pinned || this.#users.wanted()
  }

  #open(): void {
    const so = this.#socket
    if (!so || so.active) return
    this.#setStatus('connecting')
    so.connect()
  }

  /** Nothing left to deliver: close after a short grace period. */
  maybeIdle(): void {
    if (this.#wanted() || this.#idleTimer || !this.#socket) return
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined
      if (this.#wanted()) return
      this.#clearTimers()
      this.#socket?.disconnect()
      this.#setStatus('disconnected')
    }, IDLE_CLOSE_MS)
    unref(this.#idleTimer)
  }

  #create(io: (uri: string, opts: Partial<ManagerOptions & SocketOptions>) => Socket): Socket {
    // A base URL with a path (behind a proxy at /bastide) is not a socket.io namespace: it prefixes the path.
    const base = new URL(this.#http.baseUrl)
    const so = io(base.origin, {
      path: `${base.pathname.replace(/\/+$/, '')}/realtime`,
      // WebSocket first: one connection to one node, so several nodes behind a round-robin proxy need no sticky
      // sessions (long-polling's requests would land on different nodes). Long-polling only where WebSocket is
      // blocked, and then the proxy must be sticky (docs/self-hosting.md).
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: RETRY_BASE_MS,
      reconnectionDelayMax: RETRY_MAX_MS,
      randomizationFactor: 0.5,
      timeout: 20_000,
      // Called at every (re)connection, so each one carries the current access token.
      auth: (cb) => {
        this.#tokens.getToken('access').then(
          (token) => {
            this.#token = token
            cb(token ? { token } : {})
          },
          (cause: unknown) => {
            // Without a credential we do not connect at all: an anonymous connection would be a silent downgrade.
            this.report(asError(cause, ErrorCodes.UNAUTHORIZED))
            this.#cycle(() => this.#retryLater())
          },
        )
      },
    })

    so.on('connect', () => {
      this.#epoch++
      this.#connectedAt = Date.now()
      this.#halted = false
      if (this.#retryTimer) clearTimeout(this.#retryTimer)
      this.#retryTimer = undefined
      this.#setStatus('connected')
      this.#users.connected(so)
      if (!this.#wanted()) this.maybeIdle()
    })

    so.on('disconnect', (reason) => {
      this.#users.disconnected()
      if (Date.now() - this.#connectedAt > STABLE_MS) this.#retries = 0
      if (this.#cycling) return
      this.#setStatus(so.active ? 'connecting' : 'disconnected')
      // socket.io reconnects by itself after network failures, not when the server closed the connection
      // (expired token, rate limit, slow consumer): we do, with backoff, unless the identity was refused.
      if (reason === 'io server disconnect' && !this.#halted && this.#wanted()) this.#retryLater()
    })

    so.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
      if (this.#cycling) return
      if (err.data?.code === ErrorCodes.UNAUTHORIZED) {
        this.#setStatus('disconnected')
        this.report(
          new BastideError({
            code: ErrorCodes.UNAUTHORIZED,
            status: 401,
            message: err.data.message ?? 'The server refused the credential.',
          }),
        )
        void this.#afterRefusal()
        return
      }
      // A network failure: socket.io retries on its own (status stays "connecting" while it does).
      this.#setStatus(so.active ? 'connecting' : 'disconnected')
    })

    so.io.on('reconnect_attempt', () => this.#setStatus('connecting'))

    so.on('auth_error', (e: { code?: string; message?: string }) => {
      const code = e?.code ?? ErrorCodes.UNAUTHORIZED
      if (code === ErrorCodes.TOKEN_EXPIRED) return // the close that follows reconnects with a fresh token
      this.#halted = true
      this.report(
        new BastideError({ code, status: 401, message: e?.message ?? 'The realtime session ended.' }),
      )
      if (code === ErrorCodes.UNAUTHORIZED) void this.#afterRefusal()
    })

    so.on('error', (e: { code?: string; message?: string }) => {
      this.report(
        new BastideError({
          code: e?.code ?? ErrorCodes.INTERNAL,
          status: e?.code === ErrorCodes.RATE_LIMITED ? 429 : 0,
          message: e?.message ?? 'Realtime error.',
        }),
      )
    })

    this.#users.listen(so)
    return so
  }

  /** The server refused the credential: retry only with a different one, else wait for the auth state. */
  async #afterRefusal(): Promise<void> {
    this.#halted = true
    const used = this.#token
    let fresh: string | null
    try {
      fresh = await this.#tokens.getToken('access')
    } catch {
      return
    }
    if (fresh !== used && this.#wanted()) {
      this.#halted = false
      this.#retryLater()
    }
  }

  #retryLater(): void {
    if (this.#retryTimer) return
    const base = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.#retries++)
    // Jitter on the upper half, so that many clients kicked at once come back spread out.
    const delay = base / 2 + Math.random() * (base / 2)
    this.#setStatus('connecting')
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      if (this.#wanted() && !this.#halted) this.#open()
      else this.#setStatus('disconnected')
    }, delay)
    unref(this.#retryTimer)
  }

  /** Closes the socket without it counting as the app's disconnect, then runs `then` (e.g. reopens). */
  #cycle(then: () => void): void {
    const so = this.#socket
    if (!so) return
    this.#cycling = true
    try {
      so.disconnect()
    } finally {
      this.#cycling = false
    }
    then()
  }

  #onAuthEvent(event: AuthEvent): void {
    const so = this.#socket
    if (!so) return
    if (event === 'TOKEN_REFRESHED' || event === 'USER_UPDATED') {
      if (so.connected) void this.#sendToken(so)
      return
    }
    if (event === 'INITIAL_SESSION') {
      // Connected before the stored session was read: only a change of identity matters.
      void this.#tokens.getToken('access').then((t) => {
        if ((t === null) !== (this.#token === null)) this.#switchIdentity()
      })
      return
    }
    // SIGNED_IN, SIGNED_OUT: another identity; the connection keeps its own, so it is replaced.
    this.#switchIdentity()
  }

  /** The current access token to the live connection (same identity: the server rebinds the rules). */
  async #sendToken(so: Socket): Promise<void> {
    const token = await this.#tokens.getToken('access').catch(() => null)
    if (!token || !so.connected) return
    const epoch = this.#epoch
    let r: Ack
    try {
      r = (await so.timeout(ACK_TIMEOUT_MS).emitWithAck('auth', { token })) as Ack
    } catch {
      return // disconnected meanwhile: the next connection takes the fresh token anyway
    }
    if (epoch !== this.#epoch) return
    if (r.ok) this.#token = token
    // Another identity after all (FORBIDDEN): reconnect as it. UNAUTHORIZED: the server closes, handled there.
    else if (r.error?.code === ErrorCodes.FORBIDDEN) this.#switchIdentity()
  }

  #switchIdentity(): void {
    this.#halted = false
    this.#retries = 0
    const so = this.#socket
    if (!so) return
    // What the subscriptions may see changed: they start over from "now" and say so.
    this.#users.identityChanged()
    if (!this.#wanted()) return
    this.#cycle(() => this.#open())
  }

  #setStatus(s: RealtimeStatus): void {
    if (s === this.#status) return
    this.#status = s
    for (const cb of [...this.#statusListeners]) safely(() => cb(s))
  }

  report(e: BastideError): void {
    if (this.#errorListeners.size === 0) return
    for (const cb of [...this.#errorListeners]) safely(() => cb(e))
  }

  #clearTimers(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#retryTimer = undefined
    this.#idleTimer = undefined
  }
}
