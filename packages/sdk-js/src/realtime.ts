import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client'
import { BastideError, ErrorCodes } from './errors.ts'
import type { Http, TokenSource } from './http.ts'
import type { AuthService } from './services/auth.ts'
import type { AuthEvent } from './services/session.ts'
import type { RecordChange } from './types.ts'

/** What a record subscription targets: a whole collection, one record (`id`), or the records matching `filter`. */
export interface SubscriptionTarget {
  readonly collection: string
  readonly id?: string
  readonly filter?: string
}

/** Options of a record subscription. */
export interface SubscribeOptions {
  /**
   * The server refused the subscription (`INVALID_FILTER`, `NOT_FOUND`, `FORBIDDEN`, `LIMIT`, …): it is dropped
   * and the callback is never called. Without this handler the error goes to {@link RealtimeService.onError}.
   */
  readonly onError?: (error: BastideError) => void
  /** The server accepted the subscription; called again after every reconnection. */
  readonly onReady?: () => void
}

/** The state of the realtime connection. */
export type RealtimeStatus = 'connecting' | 'connected' | 'disconnected'

/** One member of a channel: the connection's user (null for admins and API keys) and what it tracked. */
export interface PresenceEntry<S = unknown> {
  readonly user: string | null
  readonly state: S
}

/** A channel's presence, keyed by connection id (a user with two tabs has two entries). */
export type PresenceState<S = unknown> = Readonly<Record<string, PresenceEntry<S>>>

/** What changed in a channel's presence: the entries that joined (or re-tracked) and those that left. */
export interface PresenceDiff<S = unknown> {
  readonly joins: PresenceState<S>
  readonly leaves: PresenceState<S>
}

/** Who sent a broadcast: the user's id (null for admins and API keys) and its connection id. */
export interface BroadcastSender {
  readonly id: string | null
  readonly connection: string
}

/** Waiting for an acknowledgement longer than this means the connection is in trouble. */
const ACK_TIMEOUT_MS = 10_000
/**
 * With no subscription and no channel left, the connection closes after this delay: long enough that a UI that
 * unsubscribes and subscribes again in the same render (React effects) keeps it.
 */
const IDLE_CLOSE_MS = 3_000
/** Recent changes remembered per subscription to drop a replayed duplicate. */
const DEDUPE_SIZE = 512
/** Our own retries (refused handshakes, server-side disconnections): from 1 s, doubling, up to 30 s. */
const RETRY_BASE_MS = 1_000
const RETRY_MAX_MS = 30_000
/** A connection that lived this long resets the retry backoff. */
const STABLE_MS = 30_000

type Ack = { ok: true; [k: string]: unknown } | { ok: false; error?: { code?: string; message?: string } }

interface Sub {
  readonly target: SubscriptionTarget
  readonly callback: (change: RecordChange<unknown>) => void
  readonly opts: SubscribeOptions
  /** The server's id for the current connection; a new one after each reconnection. */
  serverId: string | undefined
  /** The highest sequence number known to be covered: sent as `since` when subscribing again. */
  since: number | undefined
  /**
   * Subscribed from "now" (no replay pending): every change the connection sees from here on is covered for
   * it, so a quiet subscription can take the connection's highest `seq` as its `since`.
   */
  fresh: boolean
  /** Was accepted at least once: after that, a gap it cannot vouch for is a `resync`. */
  wasLive: boolean
  /** Identity changed while away: announce a `resync` after the next acceptance. */
  resyncOnReady: boolean
  readonly seen: Map<string, true>
}

/**
 * Live record changes, channels (broadcast and presence) and the connection behind them: one socket.io
 * connection per client at `/realtime`, opened on first use (`socket.io-client` is loaded then, not at startup)
 * and closed {@link IDLE_CLOSE_MS | a few seconds} after the last subscription and channel are gone.
 *
 * - Identity: the access token at each (re)connection; a refreshed token is handed to the live connection;
 *   signing in or out reconnects with the new identity (record subscriptions then get a `resync`, since what
 *   they may see changed).
 * - Reconnection: automatic, with backoff and jitter. Record subscriptions come back with the last sequence
 *   number they saw, so missed changes are replayed (duplicates dropped by record id and version), or they get
 *   `{action: 'resync'}` when the server cannot vouch for the gap: refetch with REST then (for a one-record
 *   subscription, `getOne`). Channels are joined again and the last tracked presence state is sent again.
 */
export class RealtimeService {
  readonly #http: Http
  readonly #auth: AuthService
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
  /** The highest `seq` seen on any subscription. */
  #watermark: number | undefined
  #retries = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  #connectedAt = 0
  /** Set while we close the socket ourselves to reopen it: that close is not the app's. */
  #cycling = false
  #offAuth: (() => void) | undefined
  readonly #subs = new Set<Sub>()
  readonly #byServerId = new Map<string, Sub>()
  readonly #channels = new Map<string, RealtimeChannel<unknown>>()
  readonly #controls = new Map<string, ChannelControl>()
  readonly #statusListeners = new Set<(status: RealtimeStatus) => void>()
  readonly #errorListeners = new Set<(error: BastideError) => void>()

  constructor(http: Http, auth: AuthService) {
    this.#http = http
    this.#auth = auth
    this.#tokens = auth
  }

  /**
   * The connection's state.
   *
   * @example
   * if (client.realtime.status !== 'connected') showOfflineBanner()
   */
  get status(): RealtimeStatus {
    return this.#status
  }

  /**
   * This connection's id while connected: the key of its own entry in channel presence.
   *
   * @example
   * const others = Object.keys(room.presence()).filter((c) => c !== client.realtime.connectionId)
   */
  get connectionId(): string | undefined {
    return this.#socket?.connected ? this.#socket.id : undefined
  }

  /**
   * Live changes to the records the caller may view (the collection's view rule, as for a REST read): a whole
   * collection, one record, or those matching a filter. Returns the function that stops it; the subscription
   * is made (and re-made after each reconnection) in the background.
   *
   * The callback gets `create`/`update`/`delete` with the record, each once, in order; and `{action: 'resync'}`
   * when changes may have been missed that cannot be replayed (a long disconnection, a new identity): refetch
   * then. A refused subscription (e.g. `INVALID_FILTER`) goes to `opts.onError`.
   *
   * @example
   * const stop = client.realtime.subscribe(
   *   { collection: 'messages', filter: f('room = {:room}', { room }) },
   *   (change) => (change.action === 'resync' ? reload() : apply(change)),
   *   { onError: (e) => console.warn(e.code, e.message) },
   * )
   * // later
   * stop()
   */
  subscribe<R>(
    target: SubscriptionTarget,
    callback: (change: RecordChange<R>) => void,
    opts: SubscribeOptions = {},
  ): () => void {
    const sub: Sub = {
      target: { ...target },
      callback: callback as (change: RecordChange<unknown>) => void,
      opts,
      serverId: undefined,
      since: undefined,
      fresh: false,
      wasLive: false,
      resyncOnReady: false,
      seen: new Map(),
    }
    this.#subs.add(sub)
    this.#use()
    if (this.#socket?.connected) this.#subscribeNow(sub)
    return () => this.#unsubscribe(sub)
  }

  /**
   * A channel: join it, broadcast to its members, follow their presence. The same handle for the same name.
   *
   * @example
   * const room = client.realtime.channel<{ typing: boolean }>('room:1')
   * room.on('message', (payload, from) => show(from.id, payload))
   * room.onPresence((state) => renderMembers(state))
   * await room.join()
   * await room.track({ typing: false })
   * await room.send('message', { text: 'hello' })
   */
  channel<S = unknown>(name: string): RealtimeChannel<S> {
    let ch = this.#channels.get(name)
    if (!ch) {
      ch = new RealtimeChannel<unknown>(name, this.#host)
      this.#channels.set(name, ch)
    }
    return ch as RealtimeChannel<S>
  }

  /**
   * Opens the connection now (it otherwise opens on the first subscription or join) and keeps it open until
   * {@link disconnect}, even with nothing to deliver. Also retries at once after the server refused the
   * credential. Resolves when connected, or rejects with the refusal.
   *
   * @example
   * await client.realtime.connect()
   */
  connect(): Promise<void> {
    this.#pinned = true
    this.#halted = false
    this.#use()
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

  /**
   * Closes the connection and stops reconnecting. Subscriptions and channel memberships are kept: they resume
   * (with missed changes replayed) on {@link connect} or the next `subscribe`/`join`. `client.close()` calls it.
   *
   * @example
   * window.addEventListener('pagehide', () => client.realtime.disconnect())
   */
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

  /**
   * Called when the connection's state changes (not with the current one: read {@link status}). Returns the
   * function that stops it.
   *
   * @example
   * const off = client.realtime.onStatusChange((s) => setOnline(s === 'connected'))
   */
  onStatusChange(cb: (status: RealtimeStatus) => void): () => void {
    this.#statusListeners.add(cb)
    return () => this.#statusListeners.delete(cb)
  }

  /**
   * Errors of the connection: `UNAUTHORIZED` (the server refused the credential; retried only with a different
   * token, else not until the auth state changes or `connect()`), `SESSION_ENDED` (signed out elsewhere,
   * banned, API key revoked or expired), `RATE_LIMITED`, and refused subscriptions or channel re-joins that
   * have no handler of their own. Returns the function that stops it.
   *
   * @example
   * client.realtime.onError((e) => {
   *   if (e.code === 'SESSION_ENDED') router.push('/sign-in')
   * })
   */
  onError(cb: (error: BastideError) => void): () => void {
    this.#errorListeners.add(cb)
    return () => this.#errorListeners.delete(cb)
  }

  // ---------------------------------------------------------------------------------------------------------
  // Connection

  /** Something needs the connection: open it (loading socket.io-client the first time). */
  #use(): void {
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
        this.#report(
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
    if (this.#pinned || this.#subs.size > 0) return true
    for (const ctl of this.#controls.values()) if (ctl.wanted()) return true
    return false
  }

  #open(): void {
    const so = this.#socket
    if (!so || so.active) return
    this.#setStatus('connecting')
    so.connect()
  }

  /** Nothing left to deliver: close after a short grace period. */
  #maybeIdle(): void {
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
            this.#report(asError(cause, ErrorCodes.UNAUTHORIZED))
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
      for (const sub of this.#subs) this.#subscribeNow(sub)
      for (const ctl of this.#controls.values()) if (ctl.wanted()) ctl.rejoin(so)
      if (!this.#wanted()) this.#maybeIdle()
    })

    so.on('disconnect', (reason) => {
      this.#byServerId.clear()
      for (const sub of this.#subs) sub.serverId = undefined
      for (const ctl of this.#controls.values()) ctl.dropped()
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
        this.#report(
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
      this.#report(
        new BastideError({ code, status: 401, message: e?.message ?? 'The realtime session ended.' }),
      )
      if (code === ErrorCodes.UNAUTHORIZED) void this.#afterRefusal()
    })

    so.on('error', (e: { code?: string; message?: string }) => {
      this.#report(
        new BastideError({
          code: e?.code ?? ErrorCodes.INTERNAL,
          status: e?.code === ErrorCodes.RATE_LIMITED ? 429 : 0,
          message: e?.message ?? 'Realtime error.',
        }),
      )
    })

    so.on('change', (m: { subscriptionId?: string; action?: string; record?: unknown; seq?: unknown }) =>
      this.#onChange(m),
    )
    so.on('resync', (m: { subscriptionId?: string }) => {
      const sub = m?.subscriptionId ? this.#byServerId.get(m.subscriptionId) : undefined
      if (sub) this.#resync(sub)
    })
    so.on('unsubscribed', (m: { subscriptionId?: string; reason?: string }) => {
      // The identity's new rules no longer allow this subscription (after a token refresh).
      const sub = m?.subscriptionId ? this.#byServerId.get(m.subscriptionId) : undefined
      if (!sub) return
      this.#drop(sub)
      this.#subError(
        sub,
        new BastideError({
          code: m.reason ?? ErrorCodes.FORBIDDEN,
          status: 403,
          message: 'The subscription is no longer allowed.',
        }),
      )
    })
    so.on(
      'broadcast',
      (m: { channel?: string; event?: string; payload?: unknown; from?: BroadcastSender }) => {
        if (typeof m?.channel === 'string') this.#controls.get(m.channel)?.broadcast(m)
      },
    )
    so.on(
      'presence',
      (m: { channel?: string; joins?: PresenceState; leaves?: PresenceState; state?: PresenceState }) => {
        if (typeof m?.channel === 'string') this.#controls.get(m.channel)?.presence(m)
      },
    )
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
    for (const sub of this.#subs) {
      sub.since = undefined
      sub.fresh = false
      if (sub.wasLive) sub.resyncOnReady = true
    }
    if (!this.#wanted()) return
    this.#cycle(() => this.#open())
  }

  #setStatus(s: RealtimeStatus): void {
    if (s === this.#status) return
    this.#status = s
    for (const cb of [...this.#statusListeners]) safely(() => cb(s))
  }

  #report(e: BastideError): void {
    if (this.#errorListeners.size === 0) return
    for (const cb of [...this.#errorListeners]) safely(() => cb(e))
  }

  #clearTimers(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#retryTimer = undefined
    this.#idleTimer = undefined
  }

  // ---------------------------------------------------------------------------------------------------------
  // Record subscriptions

  #subscribeNow(sub: Sub): void {
    const so = this.#socket
    if (!so?.connected) return
    // A quiet subscription that was live saw everything the connection saw.
    const since =
      sub.fresh && this.#watermark !== undefined ? Math.max(sub.since ?? 0, this.#watermark) : sub.since
    // Was live, and nothing to resume from: what happened while away cannot be replayed.
    const gap = sub.wasLive && since === undefined
    const epoch = this.#epoch
    const payload = { ...sub.target, ...(since !== undefined ? { since } : {}) }
    request(so, 'subscribe', payload, (r) => {
      if (epoch !== this.#epoch) return
      if (r === undefined) {
        // No answer: the connection dropped (the next one subscribes again) or is stuck, and a fresh
        // connection is the way out of both.
        if (this.#subs.has(sub) && so.connected) this.#cycle(() => this.#open())
        return
      }
      if (!r.ok) {
        this.#drop(sub)
        this.#subError(sub, ackError(r))
        return
      }
      const id = r.subscriptionId
      if (typeof id !== 'string') return
      if (!this.#subs.has(sub)) {
        // Stopped while the server was answering.
        so.emit('unsubscribe', { subscriptionId: id })
        return
      }
      sub.serverId = id
      this.#byServerId.set(id, sub)
      sub.wasLive = true
      sub.since = since
      // With `since`, replayed changes follow: until then this one only vouches for its own `since`.
      sub.fresh = since === undefined
      if (gap || sub.resyncOnReady) {
        sub.resyncOnReady = false
        this.#resync(sub)
      }
      if (sub.opts.onReady) safely(sub.opts.onReady)
    })
  }

  #unsubscribe(sub: Sub): void {
    if (!this.#subs.has(sub)) return
    const id = sub.serverId
    this.#drop(sub)
    if (id && this.#socket?.connected) this.#socket.emit('unsubscribe', { subscriptionId: id })
    this.#maybeIdle()
  }

  #drop(sub: Sub): void {
    this.#subs.delete(sub)
    if (sub.serverId) this.#byServerId.delete(sub.serverId)
    sub.serverId = undefined
  }

  #subError(sub: Sub, e: BastideError): void {
    if (sub.opts.onError) safely(() => sub.opts.onError?.(e))
    else this.#report(e)
    this.#maybeIdle()
  }

  #onChange(m: { subscriptionId?: string; action?: string; record?: unknown; seq?: unknown }): void {
    const sub = m?.subscriptionId ? this.#byServerId.get(m.subscriptionId) : undefined
    if (!sub || typeof m.seq !== 'number') return
    const action = m.action
    if (action !== 'create' && action !== 'update' && action !== 'delete') return
    this.#watermark = Math.max(this.#watermark ?? 0, m.seq)
    sub.since = Math.max(sub.since ?? 0, m.seq)
    // A replay may repeat a change already delivered: the same record at the same version is the same change.
    const r = m.record as { id?: unknown; version?: unknown } | null
    if (r && typeof r.id === 'string') {
      const key = `${action === 'delete' ? 'd' : 'w'}:${r.id}:${String(r.version)}`
      if (sub.seen.has(key)) return
      sub.seen.set(key, true)
      if (sub.seen.size > DEDUPE_SIZE) sub.seen.delete(sub.seen.keys().next().value as string)
    }
    const callback = sub.callback
    safely(() => callback({ action, record: m.record, seq: m.seq as number }))
  }

  #resync(sub: Sub): void {
    // The app refetches now: from here on the subscription follows the connection like a new one.
    sub.since = this.#watermark
    sub.fresh = true
    const callback = sub.callback
    safely(() => callback({ action: 'resync' }))
  }

  // ---------------------------------------------------------------------------------------------------------
  // Channels: what their handles need from the connection

  readonly #host: ChannelHost = {
    use: () => this.#use(),
    idle: () => this.#maybeIdle(),
    socket: () => (this.#socket?.connected ? this.#socket : undefined),
    report: (e) => this.#report(e),
    attach: (name, ctl) => this.#controls.set(name, ctl),
  }
}

// ---------------------------------------------------------------------------------------------------------
// Channels

/** What a channel handle needs from the connection. */
interface ChannelHost {
  use(): void
  idle(): void
  /** The socket when connected. */
  socket(): Socket | undefined
  report(e: BastideError): void
  /** Hands the service the handle's internals (kept off its public surface). */
  attach(name: string, ctl: ChannelControl): void
}

/** What the service drives in a channel handle. */
interface ChannelControl {
  wanted(): boolean
  /** A connection is up: join on it (again), then track the last state again. */
  rejoin(so: Socket): void
  /** The connection dropped. */
  dropped(): void
  broadcast(m: { event?: string; payload?: unknown; from?: BroadcastSender }): void
  presence(m: { joins?: PresenceState; leaves?: PresenceState; state?: PresenceState }): void
}

interface Waiter {
  readonly resolve: () => void
  readonly reject: (e: BastideError) => void
}

/**
 * A channel handle (from `client.realtime.channel(name)`): join, broadcast, presence. Membership survives
 * reconnections: the channel is joined again and the last tracked state is sent again. While disconnected,
 * {@link presence} shows the last known state until the rejoin replaces it.
 */
export class RealtimeChannel<S = unknown> {
  readonly name: string
  readonly #host: ChannelHost
  #wanted = false
  #joined = false
  /** The socket a join is under way on (the server refuses a second concurrent join). */
  #joining: Socket | undefined
  /** The last state passed to track(), sent again after each rejoin. */
  #tracked: { readonly state: S } | undefined
  #presence: Record<string, PresenceEntry<S>> = {}
  #waiters: Waiter[] = []
  readonly #listeners = new Map<
    string,
    Set<(payload: unknown, from: BroadcastSender, event: string) => void>
  >()
  readonly #presenceListeners = new Set<(state: PresenceState<S>, diff: PresenceDiff<S>) => void>()

  /** Use `client.realtime.channel(name)`. */
  constructor(name: string, host: ChannelHost) {
    this.name = name
    this.#host = host
    host.attach(name, {
      wanted: () => this.#wanted,
      rejoin: (so) => this.#rejoin(so),
      dropped: () => {
        this.#joined = false
        this.#joining = undefined
      },
      broadcast: (m) => this.#onBroadcast(m),
      presence: (m) => this.#onPresence(m),
    })
  }

  /** Whether the channel is joined on the current connection. */
  get joined(): boolean {
    return this.#joined
  }

  /**
   * Joins the channel (connecting if needed; the channel's `join` rule decides) and resolves with its presence
   * state. Rejects with the server's error (`FORBIDDEN`, `LIMIT`, …), after which the channel is not joined.
   *
   * @example
   * const members = await client.realtime.channel('room:1').join()
   * console.log(Object.keys(members).length, 'connected')
   */
  join(): Promise<PresenceState<S>> {
    this.#wanted = true
    const done = this.#whenJoined().then(() => this.presence())
    this.#host.use()
    const so = this.#host.socket()
    if (so) this.#rejoin(so)
    return done
  }

  /**
   * Leaves the channel: no more broadcasts or presence from it, and the others see this connection leave.
   *
   * @example
   * await room.leave()
   */
  async leave(): Promise<void> {
    const was = this.#wanted
    this.#wanted = false
    this.#joined = false
    this.#joining = undefined
    this.#tracked = undefined
    this.#presence = {}
    this.#settle(new BastideError({ code: ErrorCodes.ABORTED, status: 0, message: 'The channel was left.' }))
    const so = this.#host.socket()
    if (was && so)
      await new Promise<void>((resolve) => request(so, 'leave', { channel: this.name }, () => resolve()))
    this.#host.idle()
  }

  /**
   * Broadcasts an event to the channel's other members (the `send` rule decides; payload ≤ 64 KB of JSON).
   * Waits for the join if it is under way; rejects if the channel is not joined or the server refuses.
   *
   * @example
   * await room.send('typing', { on: true })
   */
  async send(event: string, payload?: unknown): Promise<void> {
    await this.#whenJoined()
    await this.#call('broadcast', { channel: this.name, event, payload: payload ?? null })
  }

  /**
   * Listens to one broadcast event (`'*'`: all of them). The callback gets the payload, who sent it and the
   * event's name. Returns the function that stops it.
   *
   * @example
   * const off = room.on<{ text: string }>('message', (m, from) => append(from.id, m.text))
   */
  on<T = unknown>(event: string, cb: (payload: T, from: BroadcastSender, event: string) => void): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    const fn = cb as (payload: unknown, from: BroadcastSender, event: string) => void
    set.add(fn)
    return () => set.delete(fn)
  }

  /**
   * Sets this connection's presence state (≤ 4 KB of JSON; it replaces the previous one). Kept and sent again
   * after each reconnection. Waits for the join if it is under way.
   *
   * @example
   * await room.track({ name: 'Ada', typing: false })
   */
  async track(state: S): Promise<void> {
    this.#tracked = { state }
    if (!this.#joined) {
      // The (re)join sends the latest tracked state before it settles.
      await this.#whenJoined()
      return
    }
    await this.#call('presence:track', { channel: this.name, state })
  }

  /**
   * The channel's current presence: every member connection's user and state.
   *
   * @example
   * const typing = Object.values(room.presence()).filter((m) => m.state.typing)
   */
  presence(): PresenceState<S> {
    return { ...this.#presence }
  }

  /**
   * Called with the channel's presence after every change (joins and leaves applied), and with the full state
   * after each (re)join. Returns the function that stops it.
   *
   * @example
   * const off = room.onPresence((state, { joins, leaves }) => renderMembers(Object.values(state)))
   */
  onPresence(cb: (state: PresenceState<S>, diff: PresenceDiff<S>) => void): () => void {
    this.#presenceListeners.add(cb)
    return () => this.#presenceListeners.delete(cb)
  }

  #whenJoined(): Promise<void> {
    if (this.#joined) return Promise.resolve()
    if (!this.#wanted)
      return Promise.reject(
        new BastideError({ code: ErrorCodes.FORBIDDEN, status: 403, message: 'Join the channel first.' }),
      )
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  #settle(error?: BastideError): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) error ? w.reject(error) : w.resolve()
  }

  async #call(event: string, payload: unknown): Promise<void> {
    const so = this.#host.socket()
    if (!so)
      throw new BastideError({
        code: ErrorCodes.NETWORK_ERROR,
        status: 0,
        message: 'The realtime connection is down.',
      })
    const r = await new Promise<Ack | undefined>((resolve) => request(so, event, payload, resolve))
    if (r === undefined)
      throw new BastideError({
        code: ErrorCodes.NETWORK_ERROR,
        status: 0,
        message: 'No answer from the realtime server.',
      })
    if (!r.ok) throw ackError(r)
  }

  #rejoin(so: Socket): void {
    if (!this.#wanted || this.#joined || this.#joining === so) return
    this.#joining = so
    request(so, 'join', { channel: this.name }, (r) => {
      if (this.#joining !== so) return
      this.#joining = undefined
      // No answer: disconnected meanwhile, the next connection joins again.
      if (r === undefined || !this.#wanted || !so.connected) return
      if (!r.ok) {
        this.#wanted = false
        const e = ackError(r)
        if (this.#waiters.length) this.#settle(e)
        else this.#host.report(e)
        this.#host.idle()
        return
      }
      // Set at once: broadcasts and the presence state may follow in the same batch.
      this.#joined = true
      this.#replace(((r as { presence?: PresenceState<S> }).presence ?? {}) as PresenceState<S>)
      const tracked = this.#tracked
      if (!tracked) return this.#settle()
      request(so, 'presence:track', { channel: this.name, state: tracked.state }, () => this.#settle())
    })
  }

  #onBroadcast(m: { event?: string; payload?: unknown; from?: BroadcastSender }): void {
    const event = m.event
    if (!this.#joined || typeof event !== 'string') return
    const from = m.from ?? { id: null, connection: '' }
    for (const key of [event, '*']) {
      for (const cb of [...(this.#listeners.get(key) ?? [])]) safely(() => cb(m.payload, from, event))
    }
  }

  /** A full state (right after a join) or a diff to apply on top of the current one. */
  #onPresence(m: { joins?: PresenceState; leaves?: PresenceState; state?: PresenceState }): void {
    if (!this.#wanted) return
    if (m.state) {
      this.#replace(m.state as PresenceState<S>)
      return
    }
    const joins = (m.joins ?? {}) as PresenceState<S>
    const leaves = (m.leaves ?? {}) as PresenceState<S>
    const next = { ...this.#presence, ...joins }
    for (const k of Object.keys(leaves)) delete next[k]
    this.#presence = next
    this.#notify({ joins, leaves })
  }

  #replace(state: PresenceState<S>): void {
    const before = this.#presence
    this.#presence = { ...state }
    // The diff against what was shown, so that listeners can animate entries in and out; none, no call (the
    // join's answer and the `presence` event that follows it carry the same state).
    const joins: Record<string, PresenceEntry<S>> = {}
    const leaves: Record<string, PresenceEntry<S>> = {}
    for (const [k, v] of Object.entries(state)) if (!sameEntry(before[k], v)) joins[k] = v
    for (const [k, v] of Object.entries(before)) if (!(k in state)) leaves[k] = v
    if (Object.keys(joins).length || Object.keys(leaves).length) this.#notify({ joins, leaves })
  }

  #notify(diff: PresenceDiff<S>): void {
    const state = this.presence()
    for (const cb of [...this.#presenceListeners]) safely(() => cb(state, diff))
  }
}

function sameEntry(a: PresenceEntry | undefined, b: PresenceEntry): boolean {
  return a !== undefined && a.user === b.user && JSON.stringify(a.state) === JSON.stringify(b.state)
}

// ---------------------------------------------------------------------------------------------------------

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  BAD_REQUEST: 400,
  INVALID_FILTER: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  LIMIT: 429,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
}

/**
 * An emit whose answer is handled as soon as it arrives: a promise would settle a tick later, after events that
 * came in the same batch (polling) and that need the answer (a subscription id). `undefined`: no answer.
 */
function request(so: Socket, event: string, payload: unknown, cb: (r: Ack | undefined) => void): void {
  so.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err: Error | null, r: Ack) => cb(err ? undefined : r))
}

function ackError(r: Ack | undefined): BastideError {
  const e = r && !r.ok ? r.error : undefined
  const code = e?.code ?? ErrorCodes.INVALID_RESPONSE
  return new BastideError({
    code,
    status: STATUS_BY_CODE[code] ?? 0,
    message: e?.message ?? 'The realtime server refused the request.',
  })
}

function asError(cause: unknown, code: string): BastideError {
  if (cause instanceof BastideError) return cause
  return new BastideError({
    code,
    status: 0,
    message: (cause as Error)?.message ?? String(cause),
    cause,
  })
}

/** App callbacks must not break delivery to the others: their errors are rethrown out of band. */
function safely(fn: () => void): void {
  try {
    fn()
  } catch (err) {
    queueMicrotask(() => {
      throw err
    })
  }
}

/** Timers must not keep a Node script alive (a no-op in browsers). */
function unref(t: unknown): void {
  ;(t as { unref?: () => void }).unref?.()
}
