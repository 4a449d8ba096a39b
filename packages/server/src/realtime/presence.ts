import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Job } from '../modules/scheduler.ts'

/**
 * Presence: who is in a channel, with a state per connection. In memory on one node, or in Redis hashes
 * shared by every node, with a liveness key per node so that the members of a node that died are removed.
 */

/** Presence timing (ms): a node refreshes its liveness every `heartbeat`; it is dead `ttl` after the last. */
export const PRESENCE_TIMING = { heartbeat: 5_000, ttl: 15_000, janitor: 5_000 } as const

export interface PresenceEntry {
  /** The user's id; null for admins and API keys. */
  readonly user: string | null
  readonly state: unknown
}
export type PresenceMap = Record<string, PresenceEntry>
export type Push = (channel: string, joins: PresenceMap, leaves: PresenceMap) => void

export interface PresenceStore {
  track(channel: string, conn: string, entry: PresenceEntry): Promise<void>
  /** Forgets `conn`'s entry; returns it if it had one. */
  untrack(channel: string, conn: string): Promise<PresenceEntry | undefined>
  list(channel: string): Promise<PresenceMap>
  /** Its periodic work (Redis: this node's liveness, and removing dead nodes' members), for the scheduler. */
  readonly jobs: readonly Job[]
  /** Removes this node's entries (and tells their channels). */
  close(): Promise<void>
}

/** This node's own entries: the whole truth without Redis, and what is re-registered when Redis forgot. */
class LocalEntries {
  readonly byChannel = new Map<string, Map<string, PresenceEntry>>()
  set(channel: string, conn: string, e: PresenceEntry): void {
    let m = this.byChannel.get(channel)
    if (!m) this.byChannel.set(channel, (m = new Map()))
    m.set(conn, e)
  }
  delete(channel: string, conn: string): PresenceEntry | undefined {
    const m = this.byChannel.get(channel)
    const e = m?.get(conn)
    m?.delete(conn)
    if (m?.size === 0) this.byChannel.delete(channel)
    return e
  }
  map(channel: string): PresenceMap {
    return Object.fromEntries(this.byChannel.get(channel) ?? [])
  }
}

export function memoryPresence(push: Push): PresenceStore {
  const local = new LocalEntries()
  return {
    async track(channel, conn, entry) {
      local.set(channel, conn, entry)
    },
    async untrack(channel, conn) {
      return local.delete(channel, conn)
    },
    async list(channel) {
      return local.map(channel)
    },
    jobs: [],
    async close() {
      for (const [channel, m] of local.byChannel) push(channel, {}, Object.fromEntries(m))
      local.byChannel.clear()
    },
  }
}

// Drops the channel from the janitor's set only if its hash is still empty (a track may have come meanwhile).
const SREM_IF_EMPTY = `if redis.call('HLEN', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end return 0`

/**
 * Presence shared through Redis: `<prefix>presence:<channel>` maps connection ids to `{node, user, state}`,
 * `<prefix>presence:channels` lists channels that have entries, and `<prefix>rt:node:<id>` says a node is
 * alive (refreshed every 5 s, gone 15 s after the last refresh). Every node's janitor removes the entries of
 * dead nodes; HDEL answers 1 on exactly one node, which alone pushes the leaves. Redis failures are logged and
 * the node keeps its own entries; when its liveness key is found missing (Redis restarted empty, or this node
 * was taken for dead) it writes them again and pushes them as joins.
 */
export function redisPresence(
  redis: { readonly client: Redis; readonly prefix: string },
  nodeId: string,
  push: Push,
  log: Logger,
): PresenceStore {
  const { client, prefix } = redis
  const local = new LocalEntries()
  const hashKey = (channel: string) => `${prefix}presence:${channel}`
  const channelsKey = `${prefix}presence:channels`
  const liveKey = (node: string) => `${prefix}rt:node:${node}`
  const warn = (what: string) => (err: unknown) =>
    log.warn({ err: (err as Error).message, node: nodeId }, `realtime presence: ${what}`)
  const encode = (e: PresenceEntry) => JSON.stringify({ node: nodeId, user: e.user, state: e.state })
  let closed = false

  async function heartbeat(): Promise<void> {
    const [[, existed] = []] =
      (await client
        .multi()
        .exists(liveKey(nodeId))
        .set(liveKey(nodeId), '1', 'PX', PRESENCE_TIMING.ttl)
        .exec()) ?? []
    if (existed === 0 && local.byChannel.size > 0) await reregister()
  }

  async function reregister(): Promise<void> {
    const m = client.multi().set(liveKey(nodeId), '1', 'PX', PRESENCE_TIMING.ttl)
    for (const [channel, entries] of local.byChannel) {
      for (const [conn, e] of entries) m.hset(hashKey(channel), conn, encode(e))
      m.sadd(channelsKey, channel)
    }
    await m.exec()
    log.info({ node: nodeId, channels: local.byChannel.size }, 'realtime presence: entries registered again')
    // Members elsewhere may have been told these left (or Redis forgot them): joins are idempotent.
    for (const channel of local.byChannel.keys()) push(channel, local.map(channel), {})
  }

  async function sweep(): Promise<void> {
    const channels = await client.smembers(channelsKey)
    if (channels.length === 0) return
    const hashes = await client.pipeline(channels.map((c) => ['hgetall', hashKey(c)])).exec()
    const found: { channel: string; conn: string; node: string; entry: PresenceEntry }[] = []
    const empty: string[] = []
    channels.forEach((channel, i) => {
      const h = (hashes?.[i]?.[1] ?? {}) as Record<string, string>
      const fields = Object.entries(h)
      if (fields.length === 0) empty.push(channel)
      for (const [conn, raw] of fields) {
        const v = parseEntry(raw)
        if (v && v.node !== nodeId)
          found.push({ channel, conn, node: v.node, entry: { user: v.user, state: v.state } })
      }
    })
    const nodes = [...new Set(found.map((f) => f.node))]
    if (nodes.length > 0) {
      const alive = await client.mget(nodes.map(liveKey))
      const dead = new Set(nodes.filter((_, i) => alive[i] === null))
      const gone = found.filter((f) => dead.has(f.node))
      if (gone.length > 0) {
        const res = await client.pipeline(gone.map((g) => ['hdel', hashKey(g.channel), g.conn])).exec()
        const leaves = new Map<string, PresenceMap>()
        gone.forEach((g, i) => {
          if (res?.[i]?.[1] !== 1) return
          const l = leaves.get(g.channel) ?? {}
          l[g.conn] = g.entry
          leaves.set(g.channel, l)
        })
        for (const [channel, l] of leaves) {
          push(channel, {}, l)
          empty.push(channel)
        }
        if (leaves.size > 0)
          log.info(
            { node: nodeId, dead: [...dead], channels: leaves.size },
            'realtime presence: removed members of dead nodes',
          )
      }
    }
    for (const channel of new Set(empty))
      await client.eval(SREM_IF_EMPTY, 2, hashKey(channel), channelsKey, channel)
  }

  // The two periodic jobs (run by the scheduler): this node's liveness, and the removal of dead nodes' members.
  const beatOnce = () => heartbeat().catch(warn('heartbeat failed'))
  const jobs: readonly Job[] = [
    { name: 'presence-heartbeat', everyMs: PRESENCE_TIMING.heartbeat, run: beatOnce },
    {
      name: 'presence-janitor',
      everyMs: PRESENCE_TIMING.janitor,
      run: () => sweep().catch(warn('janitor failed')),
    },
  ]
  // Back from an outage: say so at once rather than at the next beat.
  const onReady = () => void beatOnce()
  client.on('ready', onReady)
  void beatOnce()

  return {
    jobs,
    async track(channel, conn, entry) {
      local.set(channel, conn, entry)
      await client
        .multi()
        .hset(hashKey(channel), conn, encode(entry))
        .sadd(channelsKey, channel)
        .exec()
        .catch(warn('track not shared'))
    },
    async untrack(channel, conn) {
      const e = local.delete(channel, conn)
      if (e) await client.hdel(hashKey(channel), conn).catch(warn('untrack not shared'))
      return e
    },
    async list(channel) {
      try {
        const h = await client.hgetall(hashKey(channel))
        const out: PresenceMap = {}
        for (const [conn, raw] of Object.entries(h)) {
          const v = parseEntry(raw)
          if (v) out[conn] = { user: v.user, state: v.state }
        }
        // Ours are always there, even before Redis has them back.
        return { ...out, ...local.map(channel) }
      } catch (err) {
        warn('list from this node only')(err)
        return local.map(channel)
      }
    },
    async close() {
      if (closed) return
      closed = true
      client.off('ready', onReady)
      const m = client.multi()
      for (const [channel, entries] of local.byChannel) {
        for (const conn of entries.keys()) m.hdel(hashKey(channel), conn)
        m.eval(SREM_IF_EMPTY, 2, hashKey(channel), channelsKey, channel)
      }
      m.del(liveKey(nodeId))
      await m.exec().catch(warn('entries not removed on close; the janitors will'))
      for (const [channel, entries] of local.byChannel) push(channel, {}, Object.fromEntries(entries))
      local.byChannel.clear()
    },
  }
}

function parseEntry(raw: string): { node: string; user: string | null; state: unknown } | undefined {
  try {
    const v = JSON.parse(raw) as { node?: unknown; user?: unknown; state?: unknown }
    if (typeof v.node !== 'string') return undefined
    return { node: v.node, user: typeof v.user === 'string' ? v.user : null, state: v.state ?? null }
  } catch {
    return undefined
  }
}
