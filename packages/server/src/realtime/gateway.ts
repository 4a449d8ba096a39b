import { randomUUID } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import { decodeJwt } from 'jose'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import { Server, type Socket } from 'socket.io'
import { z } from 'zod'
import type { Config } from '../config/load-config.ts'
import type { Principal } from '../core/auth/principal.ts'
import type { CollectionsService } from '../core/collections/service.ts'
import type { Db } from '../db/create-db.ts'
import type { EventBus } from '../events/bus.ts'
import type { RecordEvent } from '../events/catalog.ts'
import { type ChangeFeed, createChangeFeed } from './change-feed.ts'
import { connectRealtimeRedis, installRedisAdapter, type RealtimeRedis } from './redis-clients.ts'
import {
  ackError,
  compileSubscription,
  type Matcher,
  matchChange,
  render,
  SubscriptionSet,
} from './subscriptions.ts'

export const REALTIME_PATH = '/realtime'

export interface RealtimeLimits {
  /** Subscriptions one connection may hold. */
  readonly maxSubscriptions: number
  /** Largest message a client may send, in bytes. */
  readonly maxMessageBytes: number
  /** Messages per second a client may send (a burst of twice as many is tolerated). */
  readonly messagesPerSecond: number
  /** Packets waiting to be written to one connection before it counts as too slow and is dropped. */
  readonly maxBufferedPackets: number
  /** How often connected sessions and API keys are checked for revocation, expiry and bans, in ms. */
  readonly sessionCheckMs: number
}

export const DEFAULT_LIMITS: RealtimeLimits = {
  maxSubscriptions: 100,
  maxMessageBytes: 64 * 1024,
  messagesPerSecond: 50,
  maxBufferedPackets: 1000,
  sessionCheckMs: 30_000,
}

export interface RealtimeDeps {
  readonly httpServer: HttpServer
  readonly config: Config
  /** The same credentials as HTTP: a bst_sk_ key, an access JWT, a session token. Undefined: refused. */
  readonly authenticate: (token: string) => Promise<Principal | undefined>
  readonly collections: CollectionsService
  readonly db: Db
  readonly bus: EventBus
  readonly log: Logger
  readonly limits?: Partial<RealtimeLimits>
  /** Channels and presence on the same connections (see channels.ts). */
  readonly channels?: (ctx: {
    io: Server
    redis?: { client: RealtimeRedis['pub']; prefix: string }
    nodeId: string
  }) => Promise<RealtimeExtension>
}

/** Something else served on the realtime connections: handlers per socket, and a way to stop. */
export interface RealtimeExtension {
  attach(socket: Socket, principal: () => Principal): void
  close(): Promise<void>
}

export interface Realtime {
  readonly io: Server
  readonly nodeId: string
  readonly feed: ChangeFeed
  close(): Promise<void>
}

interface Sub {
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

interface Conn {
  principal: Principal
  readonly subs: Map<string, Sub>
  tokens: number
  last: number
  expiry?: NodeJS.Timeout
}

const subscribeInput = z.strictObject({
  collection: z.string().min(1).max(100),
  id: z.uuid().optional(),
  filter: z.string().max(4000).optional(),
  since: z.number().int().nonnegative().optional(),
})

/**
 * socket.io at /realtime on the HTTP server: identity at the handshake (never a silent fall back to
 * anonymous), record subscriptions filtered per subscriber by its view rule and filter, replay of missed
 * changes, channels and presence (channels.ts), and — with REDIS_URL — the Redis adapter and a change feed
 * shared by every node.
 */
export async function startRealtime(deps: RealtimeDeps): Promise<Realtime> {
  const { config, log, collections, db } = deps
  const limits = { ...DEFAULT_LIMITS, sessionCheckMs: config.realtime.sessionCheckMs, ...deps.limits }
  const nodeId = randomUUID()
  const cors = config.corsOrigins.includes('*') ? { origin: '*' } : { origin: [...config.corsOrigins] }
  const io = new Server(deps.httpServer, {
    path: REALTIME_PATH,
    cors,
    maxHttpBufferSize: limits.maxMessageBytes,
    serveClient: false,
    // Mobile networks: notice a dead peer within about a minute.
    pingInterval: 25_000,
    pingTimeout: 20_000,
  })

  let redis: RealtimeRedis | undefined
  if (config.redisUrl) {
    redis = await connectRealtimeRedis(config.redisUrl, log)
    installRedisAdapter(io, redis, `${config.redisPrefix}rt:io`, log)
  }

  const feed = await createChangeFeed({
    db,
    bus: deps.bus,
    log,
    nodeId,
    windowSize: config.realtime.replayWindow,
    ...(redis ? { redis: { pub: redis.pub, sub: redis.sub, prefix: config.redisPrefix } } : {}),
  })
  const channels = await deps.channels?.({
    io,
    nodeId,
    ...(redis ? { redis: { client: redis.pub, prefix: config.redisPrefix } } : {}),
  })

  const conns = new Map<Socket, Conn>()
  /** Subscriptions by collection, for dispatch. */
  const byCollection = new Map<string, SubscriptionSet<Sub>>()

  const lookup = (n: string) => collections.find(n)

  const compile = (sub: Pick<Sub, 'collection' | 'filter'>, p: Principal) => {
    const c = collections.find(sub.collection)
    if (!c)
      throw Object.assign(new Error('unknown collection'), {
        ack: { code: 'NOT_FOUND', message: 'Collection not found.' },
      })
    return compileSubscription({ collection: sub.collection, filter: sub.filter }, c, p, lookup)
  }

  /** Changes go out in the order they arrive; a subscriber's SQL checks must not reorder them. */
  let chain: Promise<void> = Promise.resolve()
  const offFeed = feed.onChange((e) => {
    chain = chain.then(() => dispatch(e)).catch((err) => log.error({ err }, 'realtime dispatch failed'))
  })

  async function dispatch(e: RecordEvent): Promise<void> {
    const subs = byCollection.get(e.collection)
    if (subs?.size) {
      const c = collections.find(e.collection)
      if (c) for (const s of await matchChange(db, c, e, subs.candidates(e.record))) deliver(s, e)
    }
    if (e.collection === 'users') userChanged(e)
  }

  function deliver(s: Sub, e: RecordEvent): void {
    if (s.held) {
      s.held.push(e)
      return
    }
    const c = collections.find(e.collection)
    if (!c) return
    const buffered = (s.socket.conn as unknown as { writeBuffer?: unknown[] }).writeBuffer?.length ?? 0
    if (buffered > limits.maxBufferedPackets) {
      // A subscriber that cannot keep up is dropped rather than buffered without end; it reconnects with
      // its last sequence number and catches up from the window.
      log.warn({ socket: s.socket.id, buffered }, 'realtime: dropping a slow connection')
      s.socket.disconnect(true)
      return
    }
    s.socket.emit('change', {
      subscriptionId: s.id,
      action: e.action,
      record: render(c, e.record, s.seeHidden),
      seq: e.seq,
    })
  }

  /** A banned or deleted user is disconnected at once (their sessions end with it anyway). */
  function userChanged(e: RecordEvent): void {
    const gone = e.action === 'delete' || e.record.banned === true
    if (!gone) return
    for (const [socket, conn] of conns) {
      if (conn.principal.kind === 'user' && conn.principal.id === e.record.id) end(socket, 'SESSION_ENDED')
    }
  }

  function end(socket: Socket, code: string, message = 'The session has ended; sign in again.'): void {
    socket.emit('auth_error', { code, message })
    socket.disconnect(true)
  }

  /** An access JWT ends the connection when it expires, unless the client sent a fresh one. */
  function armExpiry(socket: Socket, conn: Conn, token: string): void {
    if (conn.expiry) clearTimeout(conn.expiry)
    conn.expiry = undefined
    if (token.split('.').length !== 3) return
    try {
      const exp = decodeJwt(token).exp
      if (typeof exp !== 'number') return
      const ms = Math.max(0, exp * 1000 - Date.now())
      conn.expiry = setTimeout(
        () => end(socket, 'TOKEN_EXPIRED', 'The access token expired; send a fresh one.'),
        ms,
      )
      conn.expiry.unref()
    } catch {}
  }

  io.use(async (socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token
    if (token === undefined || token === null || token === '') {
      socket.data.principal = { kind: 'anonymous' } satisfies Principal
      return next()
    }
    const p =
      typeof token === 'string' && token.length < 8192
        ? await deps.authenticate(token).catch(() => undefined)
        : undefined
    if (!p) {
      // Never a silent downgrade to anonymous: the client learns why and reconnects with a valid token.
      const err = new Error('UNAUTHORIZED') as Error & { data?: unknown }
      err.data = { code: 'UNAUTHORIZED', message: 'Invalid or expired token.' }
      return next(err)
    }
    socket.data.principal = p
    socket.data.token = token
    next()
  })

  io.on('connection', (socket) => {
    const conn: Conn = {
      principal: socket.data.principal as Principal,
      subs: new Map(),
      tokens: limits.messagesPerSecond * 2,
      last: Date.now(),
    }
    conns.set(socket, conn)
    if (typeof socket.data.token === 'string') armExpiry(socket, conn, socket.data.token)

    // Rate limit and packet shape, before any handler: a flood or a malformed packet ends this connection
    // and nothing else.
    socket.use(([event, payload, ...rest], next) => {
      const now = Date.now()
      conn.tokens = Math.min(
        limits.messagesPerSecond * 2,
        conn.tokens + ((now - conn.last) / 1000) * limits.messagesPerSecond,
      )
      conn.last = now
      if (conn.tokens < 1) {
        socket.emit('error', { code: 'RATE_LIMITED', message: 'Too many messages; disconnected.' })
        socket.disconnect(true)
        return
      }
      conn.tokens--
      const ack = rest[rest.length - 1]
      if (
        typeof event !== 'string' ||
        payload === null ||
        typeof payload !== 'object' ||
        Array.isArray(payload)
      ) {
        if (typeof ack === 'function')
          ack({ ok: false, error: { code: 'BAD_REQUEST', message: 'Send one object.' } })
        socket.disconnect(true)
        return
      }
      next()
    })

    socket.on('subscribe', async (payload: unknown, ack?: (r: unknown) => void) => {
      const reply = typeof ack === 'function' ? ack : () => {}
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
          error: {
            code: 'LIMIT',
            message: `At most ${limits.maxSubscriptions} subscriptions per connection.`,
          },
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
      const sub: Sub = {
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
      if (since === undefined) return
      // Missed changes first, then whatever arrived meanwhile, each once and in order.
      const missed = feed.since(since)
      const held = sub.held ?? []
      delete sub.held
      if (missed === 'resync') {
        socket.emit('resync', { subscriptionId: sub.id })
        for (const e of held) deliver(sub, e)
        return
      }
      const c = collections.find(collection)
      const replay = c ? await matchEach(c, sub, missed) : []
      const sent = new Set<number>()
      for (const e of replay) {
        sent.add(e.seq)
        deliver(sub, e)
      }
      for (const e of held) if (!sent.has(e.seq)) deliver(sub, e)
    })

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

    // A fresh credential on a live connection (the access JWT was refreshed): same identity only.
    socket.on('auth', async (payload: { token?: unknown }, ack?: (r: unknown) => void) => {
      const reply = typeof ack === 'function' ? ack : () => {}
      const token = payload.token
      const p =
        typeof token === 'string' && token.length < 8192
          ? await deps.authenticate(token).catch(() => undefined)
          : undefined
      if (!p) {
        reply({ ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or expired token.' } })
        end(socket, 'UNAUTHORIZED', 'Invalid or expired token.')
        return
      }
      const before = conn.principal
      // Another key, or another console admin, is another identity too: what was joined or subscribed under
      // one principal's scopes must not carry over to another's.
      const same =
        before.kind === 'anonymous' ||
        (before.kind === 'user' && p.kind === 'user' && before.id === p.id) ||
        (before.kind === 'key' && p.kind === 'key' && before.id === p.id) ||
        (before.kind === 'admin' && p.kind === 'admin' && before.adminId === p.adminId)
      if (!same) {
        reply({
          ok: false,
          error: { code: 'FORBIDDEN', message: 'A connection keeps its identity; reconnect to switch.' },
        })
        return
      }
      conn.principal = p
      armExpiry(socket, conn, token as string)
      // The user's record may have changed (role, custom fields): rules are bound again.
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
      reply({ ok: true })
    })

    channels?.attach(socket, () => conn.principal)

    socket.on('disconnect', () => {
      if (conn.expiry) clearTimeout(conn.expiry)
      for (const sub of conn.subs.values()) drop(conn, sub)
      conns.delete(socket)
    })
  })

  async function matchEach(
    c: NonNullable<ReturnType<typeof collections.find>>,
    sub: Sub,
    events: RecordEvent[],
  ) {
    const out: RecordEvent[] = []
    for (const e of events) {
      if (e.collection !== sub.collection) continue
      if ((await matchChange(db, c, e, [{ matcher: sub.matcher, recordId: sub.recordId }])).length)
        out.push(e)
    }
    return out
  }

  function drop(conn: Conn, sub: Sub): void {
    conn.subs.delete(sub.id)
    byCollection.get(sub.collection)?.delete(sub)
  }

  // Credentials that died since their connection opened end it: sessions signed out, revoked, expired or
  // banned, and API keys revoked or expired. One query per kind for every connection of this node.
  const sweep = setInterval(() => {
    for (const check of [checkSessions, checkKeys])
      void check().catch((err) => log.warn({ err: (err as Error).message }, 'realtime: session check failed'))
  }, limits.sessionCheckMs)
  sweep.unref()

  /** This node's sockets by the id `idOf` gives their principal (skipped when undefined). */
  function socketsBy(idOf: (p: Principal) => string | undefined): Map<string, Socket[]> {
    const by = new Map<string, Socket[]>()
    for (const [socket, conn] of conns) {
      const id = idOf(conn.principal)
      if (id === undefined) continue
      const list = by.get(id) ?? []
      list.push(socket)
      by.set(id, list)
    }
    return by
  }

  async function checkSessions(): Promise<void> {
    const bySession = socketsBy((p) => (p.kind === 'user' ? p.sessionId || undefined : undefined))
    if (bySession.size === 0) return
    const ids = [...bySession.keys()]
    const alive = await sql<{ id: string }>`
      SELECT s.id FROM bastide.auth_sessions s JOIN data.users u ON u.id = s."userId"
      WHERE s.id = ANY(${ids}::text[]) AND s."expiresAt" > now()
        AND NOT (coalesce(u.banned, false) AND (u."banExpires" IS NULL OR u."banExpires" > now()))`.execute(
      db,
    )
    const live = new Set(alive.rows.map((r) => r.id))
    for (const [sid, sockets] of bySession)
      if (!live.has(sid)) for (const s of sockets) end(s, 'SESSION_ENDED')
  }

  async function checkKeys(): Promise<void> {
    const byKey = socketsBy((p) => (p.kind === 'key' ? p.id : undefined))
    if (byKey.size === 0) return
    const ids = [...byKey.keys()]
    const alive = await sql<{ id: string }>`
      SELECT id FROM bastide.api_keys
      WHERE id = ANY(${ids}::uuid[]) AND revoked IS NULL AND (expires IS NULL OR expires > now())`.execute(db)
    const live = new Set(alive.rows.map((r) => r.id))
    for (const [id, sockets] of byKey)
      if (!live.has(id))
        for (const s of sockets) end(s, 'SESSION_ENDED', 'The API key was revoked or has expired.')
  }

  return {
    io,
    nodeId,
    feed,
    async close() {
      clearInterval(sweep)
      offFeed()
      await channels?.close()
      await feed.close()
      io.disconnectSockets(true)
      // Not io.close(): it would close the HTTP server, whose shutdown server.ts drains itself.
      io.engine.close()
      if (redis) await redis.close()
    },
  }
}
