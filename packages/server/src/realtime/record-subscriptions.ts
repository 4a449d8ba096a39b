import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Socket } from 'socket.io'
import { z } from 'zod'
import type { Principal } from '../core/auth/principal.ts'
import type { CollectionsService } from '../core/collections/service.ts'
import type { Db } from '../db/create-db.ts'
import type { RecordEvent } from '../events/catalog.ts'
import { deliver, matchEach } from './change-delivery.ts'
import type { ChangeFeed } from './change-feed.ts'
import type { Conn } from './connection.ts'
import type { RealtimeLimits } from './gateway.ts'
import { ackError, compileSubscription, type Matcher, matchChange, SubscriptionSet } from './subscriptions.ts'

/** One `subscribe` of one connection. */
export interface RecordSub {
  readonly id: string
  readonly socket: Socket
  readonly collection: string
  readonly recordId?: string | undefined
  readonly filter?: string | undefined
  matcher: Matcher
  seeHidden: boolean
  /** Live changes held back while missed ones are replayed, so that order is kept. */
  held?: RecordEvent[]
}

const subscribeInput = z.strictObject({
  collection: z.string().min(1).max(100),
  id: z.uuid().optional(),
  filter: z.string().max(4000).optional(),
  since: z.number().int().nonnegative().optional(),
})

export interface RecordSubscriptionsDeps {
  readonly db: Db
  readonly collections: CollectionsService
  readonly feed: ChangeFeed
  readonly log: Logger
  readonly limits: RealtimeLimits
}

/**
 * Record subscriptions on this node: `subscribe` / `unsubscribe` per socket, each filtered by its
 * subscriber's view rule and filter, with replay of missed changes; and `dispatch`, which sends a change to
 * the subscriptions it concerns.
 */
export function createRecordSubscriptions(deps: RecordSubscriptionsDeps) {
  const { db, collections, feed, limits } = deps
  /** Subscriptions by collection, for dispatch. */
  const byCollection = new Map<string, SubscriptionSet<RecordSub>>()
  const send = (s: RecordSub, e: RecordEvent) => deliver(s, e, { collections, limits, log: deps.log })

  const lookup = (n: string) => collections.find(n)
  const compile = (sub: Pick<RecordSub, 'collection' | 'filter'>, p: Principal) => {
    const c = collections.find(sub.collection)
    if (!c)
      throw Object.assign(new Error('unknown collection'), {
        ack: { code: 'NOT_FOUND', message: 'Collection not found.' },
      })
    return compileSubscription({ collection: sub.collection, filter: sub.filter }, c, p, lookup)
  }

  function drop(conn: Conn, sub: RecordSub): void {
    conn.subs.delete(sub.id)
    byCollection.get(sub.collection)?.delete(sub)
  }

  async function subscribe(socket: Socket, conn: Conn, payload: unknown, reply: (r: unknown) => void) {
    const parsed = subscribeInput.safeParse(payload)
    if (!parsed.success) {
      reply({
        ok: false,
        error: { code: 'BAD_REQUEST', message: parsed.error.issues[0]?.message ?? 'Bad request.' },
      })
      return
    }
    if (conn.subs.size >= limits.maxSubscriptions) {
      reply({
        ok: false,
        error: { code: 'LIMIT', message: `At most ${limits.maxSubscriptions} subscriptions per connection.` },
      })
      return
    }
    const { collection, id, filter, since } = parsed.data
    let compiled: ReturnType<typeof compile>
    try {
      compiled = compile({ collection, filter }, conn.principal)
    } catch (err) {
      reply({ ok: false, error: (err as { ack?: unknown }).ack ?? ackError(err) })
      return
    }
    const sub: RecordSub = {
      id: randomUUID(),
      socket,
      collection,
      recordId: id,
      filter,
      matcher: compiled.matcher,
      seeHidden: compiled.seeHidden,
      ...(since !== undefined ? { held: [] } : {}),
    }
    conn.subs.set(sub.id, sub)
    let set = byCollection.get(collection)
    if (!set) byCollection.set(collection, (set = new SubscriptionSet()))
    set.add(sub)
    reply({ ok: true, subscriptionId: sub.id })
    if (since !== undefined) await replay(sub, since)
  }

  /** Missed changes first, then whatever arrived meanwhile, each once and in order. */
  async function replay(sub: RecordSub, since: number): Promise<void> {
    const missed = feed.since(since)
    const held = sub.held ?? []
    delete sub.held
    if (missed === 'resync') {
      sub.socket.emit('resync', { subscriptionId: sub.id })
      for (const e of held) send(sub, e)
      return
    }
    const c = collections.find(sub.collection)
    const replayed = c ? await matchEach(db, c, sub, missed) : []
    const sent = new Set<number>()
    for (const e of replayed) {
      sent.add(e.seq)
      send(sub, e)
    }
    for (const e of held) if (!sent.has(e.seq)) send(sub, e)
  }

  return {
    /** Serves `subscribe` and `unsubscribe` on `socket`. */
    attach(socket: Socket, conn: Conn): void {
      socket.on('subscribe', async (payload: unknown, ack?: (r: unknown) => void) =>
        subscribe(socket, conn, payload, typeof ack === 'function' ? ack : () => {}),
      )
      socket.on('unsubscribe', (payload: { subscriptionId?: unknown }, ack?: (r: unknown) => void) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const sub =
          typeof payload.subscriptionId === 'string' ? conn.subs.get(payload.subscriptionId) : undefined
        if (!sub) {
          reply({ ok: false, error: { code: 'NOT_FOUND', message: 'No such subscription.' } })
          return
        }
        drop(conn, sub)
        reply({ ok: true })
      })
    },

    /** The principal changed (a fresh token): rules are bound again; what it may no longer see is dropped. */
    rebind(socket: Socket, conn: Conn, p: Principal): void {
      for (const sub of conn.subs.values()) {
        try {
          const c = compile(sub, p)
          // Re-filed: the index key may have changed with the principal.
          const set = byCollection.get(sub.collection)
          set?.delete(sub)
          sub.matcher = c.matcher
          sub.seeHidden = c.seeHidden
          set?.add(sub)
        } catch {
          drop(conn, sub)
          socket.emit('unsubscribed', { subscriptionId: sub.id, reason: 'FORBIDDEN' })
        }
      }
    },

    /** The connection is gone. */
    detach(conn: Conn): void {
      for (const sub of conn.subs.values()) drop(conn, sub)
    },

    /** Sends a change to every subscription whose rule and filter let its subscriber see it. */
    async dispatch(e: RecordEvent): Promise<void> {
      const subs = byCollection.get(e.collection)
      if (!subs?.size) return
      const c = collections.find(e.collection)
      if (c) for (const s of await matchChange(db, c, e, subs.candidates(e.record))) send(s, e)
    },
  }
}
