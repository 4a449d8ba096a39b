import { randomUUID } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import type { Logger } from 'pino'
import type { Server, Socket } from 'socket.io'
import type { Config } from '../config/load-config.ts'
import type { Principal } from '../core/auth/principal.ts'
import { USERS } from '../core/auth/users-collection.ts'
import type { CollectionsService } from '../core/collections/service.ts'
import type { Db } from '../db/create-db.ts'
import type { EventBus } from '../events/bus.ts'
import type { Job } from '../modules/scheduler.ts'
import { type ChangeFeed, createChangeFeed } from './change-feed.ts'
import { armExpiry, type Conns, guardPackets, openConn } from './connection.ts'
import { acceptReauth, authenticateHandshakes } from './handshake.ts'
import { createRecordSubscriptions } from './record-subscriptions.ts'
import type { RealtimeRedis } from './redis-clients.ts'
import { endGoneUser, sweepSessions } from './session-sweep.ts'
import { createSocketServer } from './socket-server.ts'

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
  /** The origins allowed to open a connection, read at each handshake (runtime settings); default the config's. */
  readonly corsOrigins?: () => readonly string[]
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
  /** Its periodic work, run by the scheduler with the realtime module's jobs. */
  readonly jobs?: readonly Job[]
  close(): Promise<void>
}

/** What this node serves right now (for the metrics module, read at each scrape). */
export interface RealtimeStats {
  /** Open connections. */
  readonly connections: number
  /** Record subscriptions held by those connections. */
  readonly subscriptions: number
  /** Channels with at least one member connected here. */
  readonly channels: number
  /** Channel memberships of those connections (a connection in three channels counts three). */
  readonly channelMembers: number
}

export interface Realtime {
  readonly io: Server
  readonly nodeId: string
  readonly feed: ChangeFeed
  /** Counts of this node only (each node reports its own; Prometheus sums them). O(connections + rooms). */
  stats(): RealtimeStats
  /** Periodic work (the session sweep, presence), for the scheduler: the server runs it as module jobs. */
  readonly jobs: readonly Job[]
  close(): Promise<void>
}

/**
 * socket.io at /realtime on the HTTP server: identity at the handshake (handshake.ts), record subscriptions
 * filtered per subscriber by its view rule and filter, with replay of missed changes (record-subscriptions.ts),
 * channels and presence (channels.ts), the periodic credential check (session-sweep.ts), and — with REDIS_URL —
 * the Redis adapter and a change feed shared by every node.
 */
export async function startRealtime(deps: RealtimeDeps): Promise<Realtime> {
  const { config, log, db } = deps
  const limits = { ...DEFAULT_LIMITS, sessionCheckMs: config.realtime.sessionCheckMs, ...deps.limits }
  const nodeId = randomUUID()
  const { io, redis } = await createSocketServer({
    httpServer: deps.httpServer,
    path: REALTIME_PATH,
    config,
    maxMessageBytes: limits.maxMessageBytes,
    log,
    ...(deps.corsOrigins ? { corsOrigins: deps.corsOrigins } : {}),
  })
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
  const conns: Conns = new Map()
  const subscriptions = createRecordSubscriptions({ db, collections: deps.collections, feed, log, limits })

  /** Changes go out in the order they arrive; a subscriber's SQL checks must not reorder them. */
  let chain: Promise<void> = Promise.resolve()
  const offFeed = feed.onChange((e) => {
    chain = chain
      .then(async () => {
        await subscriptions.dispatch(e)
        if (e.collection === USERS) endGoneUser(conns, e)
      })
      .catch((err) => log.error({ err }, 'realtime dispatch failed'))
  })

  authenticateHandshakes(io, deps.authenticate)
  io.on('connection', (socket) => {
    const conn = openConn(socket.data.principal as Principal, limits)
    conns.set(socket, conn)
    if (typeof socket.data.token === 'string') armExpiry(socket, conn, socket.data.token)
    guardPackets(socket, conn, limits)
    subscriptions.attach(socket, conn)
    acceptReauth(socket, conn, deps.authenticate, (p) => subscriptions.rebind(socket, conn, p))
    channels?.attach(socket, () => conn.principal)
    socket.on('disconnect', () => {
      if (conn.expiry) clearTimeout(conn.expiry)
      subscriptions.detach(conn)
      conns.delete(socket)
    })
  })

  return {
    io,
    nodeId,
    feed,
    stats() {
      let subs = 0
      for (const conn of conns.values()) subs += conn.subs.size
      // The adapter's rooms are this node's even with the Redis adapter. Each socket sits in a room named
      // after its own id; every other room is a channel (channels.ts is the only code that joins rooms).
      let channelCount = 0
      let members = 0
      for (const [name, sids] of io.of('/').adapter.rooms) {
        if (sids.size === 1 && sids.has(name)) continue
        channelCount++
        members += sids.size
      }
      return { connections: conns.size, subscriptions: subs, channels: channelCount, channelMembers: members }
    },
    jobs: [
      // Credentials that died since their connection opened (signed out, revoked, expired, banned) end it.
      { name: 'session-sweep', everyMs: limits.sessionCheckMs, run: () => sweepSessions(conns, db, log) },
      ...(channels?.jobs ?? []),
    ],
    async close() {
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
