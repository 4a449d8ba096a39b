import type { Ack } from '@bastide/protocol'
import type { Socket } from 'socket.io-client'
import { BastideError, ErrorCodes } from '../errors.ts'
import { ackError, request, safely } from './socket-request.ts'
import type { BroadcastSender, PresenceDiff, PresenceEntry, PresenceState } from './types.ts'

/** What a channel handle needs from the connection. */
export interface ChannelHost {
  use(): void
  idle(): void
  /** The socket when connected. */
  socket(): Socket | undefined
  report(e: BastideError): void
  /** Hands the service the handle's internals (kept off its public surface). */
  attach(name: string, ctl: ChannelControl): void
}

/** What the service drives in a channel handle. */
export interface ChannelControl {
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
