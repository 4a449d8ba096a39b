import type { Socket } from 'socket.io-client'
import type { BastideError } from '../errors.ts'
import type { Http } from '../http.ts'
import type { RecordChange } from '../types.ts'
import { type ChannelControl, type ChannelHost, RealtimeChannel } from './realtime-channel.ts'
import { RealtimeConnection } from './realtime-connection.ts'
import { RecordSubscriptions } from './record-subscriptions.ts'
import type {
  BroadcastSender,
  PresenceState,
  RealtimeIdentity,
  RealtimeStatus,
  SubscribeOptions,
  SubscriptionTarget,
} from './types.ts'

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
  readonly #connection: RealtimeConnection
  readonly #records: RecordSubscriptions
  readonly #channels = new Map<string, RealtimeChannel<unknown>>()
  readonly #controls = new Map<string, ChannelControl>()

  constructor(http: Http, auth: RealtimeIdentity) {
    this.#connection = new RealtimeConnection(http, auth, {
      wanted: () => this.#records.size > 0 || [...this.#controls.values()].some((ctl) => ctl.wanted()),
      connected: (so) => {
        this.#records.connected()
        for (const ctl of this.#controls.values()) if (ctl.wanted()) ctl.rejoin(so)
      },
      disconnected: () => {
        this.#records.disconnected()
        for (const ctl of this.#controls.values()) ctl.dropped()
      },
      identityChanged: () => this.#records.identityChanged(),
      listen: (so) => this.#listen(so),
    })
    const connection = this.#connection
    this.#records = new RecordSubscriptions({
      socket: () => connection.socket,
      epoch: () => connection.epoch,
      report: (e) => connection.report(e),
      idle: () => connection.maybeIdle(),
      recycle: () => connection.recycle(),
    })
  }

  /**
   * The connection's state.
   *
   * @example
   * if (client.realtime.status !== 'connected') showOfflineBanner()
   */
  get status(): RealtimeStatus {
    return this.#connection.status
  }

  /**
   * This connection's id while connected: the key of its own entry in channel presence.
   *
   * @example
   * const others = Object.keys(room.presence()).filter((c) => c !== client.realtime.connectionId)
   */
  get connectionId(): string | undefined {
    return this.#connection.socket?.id
  }

  /**
   * Live changes to the records the caller may view (the collection's view rule, as for a REST read): a whole
   * collection, one record, or those matching a filter. Returns the function that stops it; the subscription
   * is made (and re-made after each reconnection) in the background.
   *
   * The callback gets `create`/`update`/`delete` with the record, each once, and for one record never older than
   * what it already delivered (a late update from another node is dropped); changes to different records arrive in
   * the order they reach the node (compare `seq` when that matters); and `{action: 'resync'}`
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
    const sub = this.#records.add(target, callback as (change: RecordChange<unknown>) => void, opts)
    this.#connection.use()
    this.#records.subscribeNow(sub)
    return () => this.#records.unsubscribe(sub)
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
    return this.#connection.connect()
  }

  /**
   * Closes the connection and stops reconnecting. Subscriptions and channel memberships are kept: they resume
   * (with missed changes replayed) on {@link connect} or the next `subscribe`/`join`. `client.close()` calls it.
   *
   * @example
   * window.addEventListener('pagehide', () => client.realtime.disconnect())
   */
  disconnect(): void {
    this.#connection.disconnect()
  }

  /**
   * Called when the connection's state changes (not with the current one: read {@link status}). Returns the
   * function that stops it.
   *
   * @example
   * const off = client.realtime.onStatusChange((s) => setOnline(s === 'connected'))
   */
  onStatusChange(cb: (status: RealtimeStatus) => void): () => void {
    return this.#connection.onStatusChange(cb)
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
    return this.#connection.onError(cb)
  }

  /** What the server pushes, to the subscription or channel it is for. */
  #listen(so: Socket): void {
    so.on('change', (m) => this.#records.onChange(m))
    so.on('resync', (m) => this.#records.onResync(m))
    so.on('unsubscribed', (m) => this.#records.onUnsubscribed(m))
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
  }

  /** What a channel handle needs from the connection. */
  readonly #host: ChannelHost = {
    use: () => this.#connection.use(),
    idle: () => this.#connection.maybeIdle(),
    socket: () => this.#connection.socket,
    report: (e) => this.#connection.report(e),
    attach: (name, ctl) => this.#controls.set(name, ctl),
  }
}
