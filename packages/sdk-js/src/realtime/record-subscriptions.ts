import type { ChangeMessage, UnsubscribedMessage } from '@bastide/protocol'
import type { Socket } from 'socket.io-client'
import { BastideError, ErrorCodes } from '../errors.ts'
import type { RecordChange } from '../types.ts'
import { ackError, request, safely } from './socket-request.ts'
import type { SubscribeOptions, SubscriptionTarget } from './types.ts'

/** Recent changes remembered per subscription to drop a replayed duplicate. */
const DEDUPE_SIZE = 512

export interface Sub {
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
  /**
   * The newest version delivered per record id (`deleted` once its delete was), most recent last, bounded: a change
   * at or below it is a replayed duplicate or arrived late from another node, and is dropped.
   */
  readonly seen: Map<string, { version: number; deleted: boolean }>
}

/** What record subscriptions need from the connection. */
export interface SubscriptionHost {
  /** The socket when connected. */
  socket(): Socket | undefined
  /** The current connection's number: answers to an older one are ignored. */
  epoch(): number
  report(e: BastideError): void
  /** Maybe nothing is left to deliver: close after a grace period. */
  idle(): void
  /** A subscribe got no answer: a fresh connection is the way out. */
  recycle(): void
}

/**
 * The record subscriptions of one client: subscribed again (with the last sequence number each saw) on every
 * connection, changes delivered once each and in order, `resync` when a gap cannot be vouched for.
 */
export class RecordSubscriptions {
  readonly #host: SubscriptionHost
  readonly #subs = new Set<Sub>()
  readonly #byServerId = new Map<string, Sub>()
  /** The highest `seq` seen on any subscription. */
  #watermark: number | undefined

  constructor(host: SubscriptionHost) {
    this.#host = host
  }

  get size(): number {
    return this.#subs.size
  }

  /** A new subscription, subscribed on the next connection (or at once with {@link subscribeNow}). */
  add(
    target: SubscriptionTarget,
    callback: (change: RecordChange<unknown>) => void,
    opts: SubscribeOptions,
  ): Sub {
    const sub: Sub = {
      target: { ...target },
      callback,
      opts,
      serverId: undefined,
      since: undefined,
      fresh: false,
      wasLive: false,
      resyncOnReady: false,
      seen: new Map(),
    }
    this.#subs.add(sub)
    return sub
  }

  /** A connection is up: subscribe every one on it. */
  connected(): void {
    for (const sub of this.#subs) this.subscribeNow(sub)
  }

  /** The connection dropped: the server's ids are gone with it. */
  disconnected(): void {
    this.#byServerId.clear()
    for (const sub of this.#subs) sub.serverId = undefined
  }

  /** What the subscriptions may see changed: they start over from "now" and say so. */
  identityChanged(): void {
    for (const sub of this.#subs) {
      sub.since = undefined
      sub.fresh = false
      if (sub.wasLive) sub.resyncOnReady = true
    }
  }

  onResync(m: { subscriptionId?: string }): void {
    const sub = m?.subscriptionId ? this.#byServerId.get(m.subscriptionId) : undefined
    if (sub) this.#resync(sub)
  }

  /** The identity's new rules no longer allow this subscription (after a token refresh). */
  onUnsubscribed(m: Partial<UnsubscribedMessage>): void {
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
  }

  subscribeNow(sub: Sub): void {
    const so = this.#host.socket()
    if (!so) return
    // A quiet subscription that was live saw everything the connection saw.
    const since =
      sub.fresh && this.#watermark !== undefined ? Math.max(sub.since ?? 0, this.#watermark) : sub.since
    // Was live, and nothing to resume from: what happened while away cannot be replayed.
    const gap = sub.wasLive && since === undefined
    const epoch = this.#host.epoch()
    const payload = { ...sub.target, ...(since !== undefined ? { since } : {}) }
    request(so, 'subscribe', payload, (r) => {
      if (epoch !== this.#host.epoch()) return
      if (r === undefined) {
        // No answer: the connection dropped (the next one subscribes again) or is stuck, and a fresh
        // connection is the way out of both.
        if (this.#subs.has(sub) && so.connected) this.#host.recycle()
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

  unsubscribe(sub: Sub): void {
    if (!this.#subs.has(sub)) return
    const id = sub.serverId
    this.#drop(sub)
    if (id) this.#host.socket()?.emit('unsubscribe', { subscriptionId: id })
    this.#host.idle()
  }

  #drop(sub: Sub): void {
    this.#subs.delete(sub)
    if (sub.serverId) this.#byServerId.delete(sub.serverId)
    sub.serverId = undefined
  }

  #subError(sub: Sub, e: BastideError): void {
    if (sub.opts.onError) safely(() => sub.opts.onError?.(e))
    else this.#host.report(e)
    this.#host.idle()
  }

  onChange(m: Partial<Omit<ChangeMessage, 'action' | 'seq'>> & { action?: string; seq?: unknown }): void {
    const sub = m?.subscriptionId ? this.#byServerId.get(m.subscriptionId) : undefined
    if (!sub || typeof m.seq !== 'number') return
    const action = m.action
    if (action !== 'create' && action !== 'update' && action !== 'delete') return
    this.#watermark = Math.max(this.#watermark ?? 0, m.seq)
    sub.since = Math.max(sub.since ?? 0, m.seq)
    // A replay may repeat a change already delivered, and with several nodes a change made on another node may
    // arrive after a newer one of the same record (each node delivers its own changes first): per record, only a
    // version newer than the one delivered goes through, and nothing after its delete.
    const r = m.record as { id?: unknown; version?: unknown } | null
    if (r && typeof r.id === 'string' && typeof r.version === 'number') {
      const last = sub.seen.get(r.id)
      const deleted = action === 'delete'
      if (last && (last.deleted || (!deleted && last.version >= r.version))) return
      sub.seen.delete(r.id)
      sub.seen.set(r.id, { version: Math.max(r.version, last?.version ?? 0), deleted })
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
}
