import type { Redis } from 'ioredis'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { BroadcastOperator, Server, Socket } from 'socket.io'
import { z } from 'zod'
import { authRecord, hasScope, type Principal, type Scope } from '../core/auth/principal.ts'
import type { Collection, Field } from '../core/collections/types.ts'
import { uuidv7 } from '../core/records/uuidv7.ts'
import { bindFilter, compileFilter, ruleProblem } from '../core/rules/index.ts'
import type { Db } from '../db/create-db.ts'
import { errors } from '../errors/index.ts'

/**
 * Channels: named rooms on the realtime connections, with `join`/`leave`, `broadcast` between members and
 * presence (a state per connection). Who may join and send comes from bastide.channels (the most specific
 * pattern wins; no pattern: locked). Presence lives in memory on one node, or in Redis hashes shared by
 * every node, with a liveness key per node so that the members of a node that died are removed.
 */

export const CHANNEL_NAME = /^[A-Za-z0-9:_./-]{1,200}$/
export const CHANNEL_PATTERN = /^[A-Za-z0-9:_./-]{1,200}\*?$/

export const LIMITS = {
  channelsPerConnection: 50,
  eventLength: 100,
  payloadBytes: 64 * 1024,
  stateBytes: 4 * 1024,
} as const

/** Presence timing (ms): a node refreshes its liveness every `heartbeat`; it is dead `ttl` after the last. */
export const PRESENCE_TIMING = { heartbeat: 5_000, ttl: 15_000, janitor: 5_000 } as const

// ---------------------------------------------------------------------------------------------------------
// Definitions

/**
 * What an API key needs on channels. Channels carry app data the way records do, and a key reaches them as
 * it reaches records: within its records scopes it bypasses the rules, outside them it is refused. Listening
 * (join, then broadcasts and presence) reads; broadcasting and publishing a presence state write.
 */
export const KEY_SCOPES = {
  join: 'records:read',
  send: 'records:write',
  track: 'records:write',
} as const satisfies Record<string, Scope>

/** Why `p` may not `action` a channel because of its key scopes, or undefined (not a key, or scoped). */
export function missingKeyScope(p: Principal, action: keyof typeof KEY_SCOPES): string | undefined {
  const scope = KEY_SCOPES[action]
  return p.kind === 'key' && !hasScope(p, scope) ? `This API key lacks the ${scope} scope.` : undefined
}

/**
 * `null`: locked (admins and API keys with the scope only); `''`: everyone; otherwise a rule over name, param,
 * @request.
 */
export interface ChannelRules {
  readonly join: string | null
  readonly send: string | null
}

export interface ChannelDefinition {
  readonly id: string
  readonly pattern: string
  readonly rules: ChannelRules
  /** Presence is kept for the channel (join acks carry the state; presence:track is accepted). */
  readonly presence: boolean
  readonly created: string
  readonly updated: string
}

const text = (name: string): Field => ({
  id: `channel_${name}`,
  name,
  type: 'text',
  required: false,
  unique: false,
  hidden: false,
  options: {},
  system: true,
})

/**
 * What a channel rule sees, as a collection, so that channel rules are the same language compiled by the same
 * code as collection rules: `name` (the channel) and `param` (the part a `*` matched; '' for an exact name).
 */
export const CHANNEL_SCHEMA: Collection = Object.freeze({
  id: '00000000-0000-7000-8000-0000000c4a11',
  name: '_channels',
  fields: Object.freeze([text('name'), text('param')]),
  indexes: [],
  rules: { list: null, view: null, create: null, update: null, delete: null },
  system: true,
  created: '1970-01-01T00:00:00.000Z',
  updated: '1970-01-01T00:00:00.000Z',
}) as Collection

const rule = z.string().max(2000).nullable()
const rulesInput = z.strictObject({ join: rule.optional(), send: rule.optional() })
const definitionInput = z.strictObject({
  pattern: z.string().regex(CHANNEL_PATTERN, 'Letters, digits and :_./-, up to 200, optionally ending in *.'),
  rules: rulesInput.default({}),
  presence: z.boolean().default(true),
})
const definitionPatch = z
  .strictObject({
    pattern: definitionInput.shape.pattern,
    rules: rulesInput,
    presence: z.boolean(),
  })
  .partial()

type Row = Omit<ChannelDefinition, 'rules'> & { rules: Partial<ChannelRules> }

const toDefinition = (r: Row): ChannelDefinition =>
  Object.freeze({
    id: r.id,
    pattern: r.pattern,
    rules: Object.freeze({ join: r.rules.join ?? null, send: r.rules.send ?? null }),
    presence: r.presence,
    created: r.created,
    updated: r.updated,
  })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface ChannelDefinitions {
  list(): Promise<ChannelDefinition[]>
  get(id: string): Promise<ChannelDefinition>
  create(input: unknown): Promise<ChannelDefinition>
  update(id: string, patch: unknown): Promise<ChannelDefinition>
  remove(id: string): Promise<void>
  /** The definition that governs channel `name`: an exact pattern, else the longest matching prefix. */
  match(name: string): Promise<ChannelDefinition | undefined>
  /** May `p` join (or send on) channel `name` under `def`? One query when the rule needs the database. */
  allows(
    def: ChannelDefinition | undefined,
    action: keyof ChannelRules,
    name: string,
    p: Principal,
  ): Promise<boolean>
}

export function createChannelDefinitions(deps: {
  readonly db: Db
  readonly lookup: (name: string) => Collection | undefined
}): ChannelDefinitions {
  const { db, lookup } = deps

  const parse = <T>(schema: z.ZodType<T>, input: unknown): T => {
    const r = schema.safeParse(input)
    if (r.success) return r.data
    const fields: Record<string, { code: string; message: string }> = {}
    for (const issue of r.error.issues)
      fields[issue.path.join('.') || 'body'] ??= { code: issue.code, message: issue.message }
    throw errors.validation(fields)
  }
  const checkRules = (rules: ChannelRules) => {
    const fields: Record<string, { code: string; message: string }> = {}
    for (const a of ['join', 'send'] as const) {
      const src = rules[a]
      if (src === null || src.trim() === '') continue
      const problem = ruleProblem(src, CHANNEL_SCHEMA, lookup)
      if (problem) fields[`rules.${a}`] = { code: 'invalid_rule', message: problem }
    }
    if (Object.keys(fields).length) throw errors.validation(fields)
  }
  const duplicate = (pattern: string) => (err: { code?: string }) => {
    if (err.code === '23505') throw errors.conflict(`A channel definition for ${pattern} already exists.`)
    throw err
  }

  return {
    async list() {
      return (await sql<Row>`SELECT * FROM bastide.channels ORDER BY pattern`.execute(db)).rows.map(
        toDefinition,
      )
    },
    async get(id) {
      const row = UUID.test(id)
        ? (await sql<Row>`SELECT * FROM bastide.channels WHERE id = ${id}::uuid`.execute(db)).rows[0]
        : undefined
      if (!row) throw errors.notFound('Channel definition')
      return toDefinition(row)
    },
    async create(input) {
      const v = parse(definitionInput, input)
      // A rule left out is locked, as for collections and buckets.
      const rules: ChannelRules = { join: v.rules.join ?? null, send: v.rules.send ?? null }
      checkRules(rules)
      const res = await sql<Row>`
        INSERT INTO bastide.channels (id, pattern, rules, presence)
        VALUES (${uuidv7()}::uuid, ${v.pattern}, ${JSON.stringify(rules)}::jsonb, ${v.presence})
        RETURNING *`
        .execute(db)
        .catch(duplicate(v.pattern))
      return toDefinition(res.rows[0] as Row)
    },
    async update(id, patch) {
      const current = await this.get(id)
      const v = parse(definitionPatch, patch)
      const rules: ChannelRules = { ...current.rules, ...(v.rules ?? {}) } as ChannelRules
      checkRules(rules)
      const pattern = v.pattern ?? current.pattern
      const res = await sql<Row>`
        UPDATE bastide.channels SET pattern = ${pattern}, rules = ${JSON.stringify(rules)}::jsonb,
          presence = ${v.presence ?? current.presence}, updated = now()
        WHERE id = ${current.id}::uuid RETURNING *`
        .execute(db)
        .catch(duplicate(pattern))
      if (!res.rows[0]) throw errors.notFound('Channel definition')
      return toDefinition(res.rows[0])
    },
    async remove(id) {
      const current = await this.get(id)
      await sql`DELETE FROM bastide.channels WHERE id = ${current.id}::uuid`.execute(db)
    },
    async match(name) {
      const res = await sql<Row>`SELECT * FROM bastide.channels
        WHERE pattern = ${name} OR (right(pattern, 1) = '*' AND starts_with(${name}, left(pattern, -1)))
        ORDER BY (pattern = ${name}) DESC, length(pattern) DESC LIMIT 1`.execute(db)
      return res.rows[0] ? toDefinition(res.rows[0]) : undefined
    },
    async allows(def, action, name, p) {
      // Admins, and API keys within their scopes, bypass channel rules, as they do collection rules.
      if (p.kind === 'admin') return true
      if (p.kind === 'key') return missingKeyScope(p, action) === undefined
      if (!def) return false
      const src = def.rules[action]
      if (src === null) return false
      if (src.trim() === '') return true
      let bound: ReturnType<typeof bindFilter>
      try {
        bound = bindFilter(src, CHANNEL_SCHEMA, lookup, { auth: authRecord(p) }, false)
      } catch {
        // A rule that no longer binds (a collection it names was deleted or changed): locked until fixed.
        return false
      }
      if (bound.kind === 'const') return bound.value
      const param = def.pattern.endsWith('*') ? name.slice(def.pattern.length - 1) : ''
      // A one-row relation with the columns the compiler may reference (the system ones included).
      const res = await sql<{ ok: boolean }>`SELECT (${compileFilter(bound, 'r')}) AS ok FROM (SELECT
          ${name}::text AS name, ${param}::text AS param, '00000000-0000-0000-0000-000000000000'::uuid AS id,
          now() AS created, now() AS updated, 1 AS version) AS r`.execute(db)
      return res.rows[0]?.ok === true
    },
  }
}

// ---------------------------------------------------------------------------------------------------------
// Presence

export interface PresenceEntry {
  /** The user's id; null for admins and API keys. */
  readonly user: string | null
  readonly state: unknown
}
export type PresenceMap = Record<string, PresenceEntry>
type Push = (channel: string, joins: PresenceMap, leaves: PresenceMap) => void

interface PresenceStore {
  track(channel: string, conn: string, entry: PresenceEntry): Promise<void>
  /** Forgets `conn`'s entry; returns it if it had one. */
  untrack(channel: string, conn: string): Promise<PresenceEntry | undefined>
  list(channel: string): Promise<PresenceMap>
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

function memoryPresence(push: Push): PresenceStore {
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
function redisPresence(
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

  const beat = setInterval(() => void heartbeat().catch(warn('heartbeat failed')), PRESENCE_TIMING.heartbeat)
  const janitor = setInterval(() => void sweep().catch(warn('janitor failed')), PRESENCE_TIMING.janitor)
  beat.unref()
  janitor.unref()
  // Back from an outage: say so at once rather than at the next beat.
  const onReady = () => void heartbeat().catch(warn('heartbeat failed'))
  client.on('ready', onReady)
  void heartbeat().catch(warn('heartbeat failed'))

  return {
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
      clearInterval(beat)
      clearInterval(janitor)
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

// ---------------------------------------------------------------------------------------------------------
// Socket handlers

export interface ChannelsDeps {
  /** The socket.io server, its adapter (Redis or in-memory) installed. */
  readonly io: Server
  readonly db: Db
  /** Collections, for `@collection.<x>` in channel rules. */
  readonly lookup: (name: string) => Collection | undefined
  /** A normal (non-subscriber) client; without it presence stays in this process. */
  readonly redis?: { readonly client: Redis; readonly prefix: string }
  /** Unique per process. */
  readonly nodeId: string
  readonly log: Logger
}

export interface Channels {
  /** Registers join/leave/broadcast/presence:track on a connected socket; `principal()` is its current one. */
  attach(socket: Socket, principal: () => Principal): void
  /** Removes this node's presence entries (members elsewhere get the leaves) and stops the timers. */
  close(): Promise<void>
}

interface Membership {
  readonly def: ChannelDefinition | undefined
  readonly presence: boolean
  tracked: boolean
  /** The send rule's answer, kept once it allowed (shared by concurrent broadcasts, which keeps their order). */
  send?: Promise<boolean> | undefined
}

type Ack = (r: unknown) => void
type AckError = { ok: false; error: { code: string; message: string } }
const fail = (code: string, message: string): AckError => ({ ok: false, error: { code, message } })

const channelField = z.string().regex(CHANNEL_NAME, 'A channel name: letters, digits and :_./-, up to 200.')
const joinInput = z.object({ channel: channelField })
const broadcastInput = z.object({
  channel: channelField,
  event: z.string().min(1).max(LIMITS.eventLength),
  payload: z.unknown().optional(),
})
const trackInput = z.object({ channel: channelField, state: z.unknown().optional() })

const room = (channel: string) => `ch:${channel}`
const jsonLength = (v: unknown) => {
  try {
    return JSON.stringify(v ?? null).length
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

export async function createChannels(deps: ChannelsDeps): Promise<Channels> {
  const { io, log, redis } = deps
  const definitions = createChannelDefinitions(deps)
  let closed = false

  /**
   * While Redis is away the adapter's publish fails with nobody to catch it (an unhandled rejection, which
   * main.ts treats as fatal): emit to this node's members only until it is back (members elsewhere miss what
   * was said meanwhile). The test is ioredis's own for "writable", so a publish is only tried when it would
   * be written.
   */
  const redisWritable = () => {
    const c = redis?.client
    if (!c) return true
    const stream = c.stream as (typeof c.stream & { _writableState?: { ended?: boolean } }) | undefined
    return c.status === 'ready' && !!stream?.writable && !stream._writableState?.ended
  }
  const reach = <T extends BroadcastOperator<any, any>>(op: T): T => (redisWritable() ? op : (op.local as T))

  const push: Push = (channel, joins, leaves) => {
    if (Object.keys(joins).length === 0 && Object.keys(leaves).length === 0) return
    reach(io.to(room(channel))).emit('presence', { channel, joins, leaves })
  }
  const presence = redis ? redisPresence(redis, deps.nodeId, push, log) : memoryPresence(push)

  const parse = <T>(schema: z.ZodType<T>, payload: unknown, reply: Ack): T | undefined => {
    const r = schema.safeParse(payload)
    if (r.success) return r.data
    const issue = r.error.issues[0]
    reply(
      fail('BAD_REQUEST', issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'Bad request.'),
    )
    return undefined
  }

  return {
    attach(socket, principal) {
      const joined = new Map<string, Membership>()
      const pending = new Set<string>()
      const userId = () => {
        const p = principal()
        return p.kind === 'user' ? p.id : null
      }

      async function leave(channel: string, m: Membership): Promise<void> {
        joined.delete(channel)
        void socket.leave(room(channel))
        if (!m.tracked) return
        m.tracked = false
        const e = await presence.untrack(channel, socket.id)
        if (e && !closed) push(channel, {}, { [socket.id]: e })
      }

      socket.on('join', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(joinInput, payload, reply)
        if (!v) return
        const { channel } = v
        const current = joined.get(channel)
        if (current) {
          reply(current.presence ? { ok: true, presence: await presence.list(channel) } : { ok: true })
          return
        }
        if (joined.size + pending.size >= LIMITS.channelsPerConnection) {
          reply(fail('LIMIT', `At most ${LIMITS.channelsPerConnection} channels per connection.`))
          return
        }
        if (pending.has(channel)) {
          reply(fail('CONFLICT', 'A join of this channel is already under way.'))
          return
        }
        const unscoped = missingKeyScope(principal(), 'join')
        if (unscoped) {
          reply(fail('FORBIDDEN', unscoped))
          return
        }
        pending.add(channel)
        let def: ChannelDefinition | undefined
        let allowed: boolean
        try {
          def = await definitions.match(channel)
          allowed = await definitions.allows(def, 'join', channel, principal())
        } catch (err) {
          log.warn({ err, channel }, 'realtime: join check failed')
          reply(fail('UNAVAILABLE', 'The channel could not be checked; retry shortly.'))
          return
        } finally {
          pending.delete(channel)
        }
        if (!socket.connected) return
        if (!allowed) {
          reply(fail('FORBIDDEN', 'You are not allowed to join this channel.'))
          return
        }
        const m: Membership = { def, presence: def?.presence ?? true, tracked: false }
        joined.set(channel, m)
        void socket.join(room(channel))
        // The full state on join, in the ack and as a first `presence` event carrying `state` (API.md's
        // shape); what changes afterwards comes as `presence` diffs without it (sending every member to every
        // member on each change would cost n² per channel).
        if (!m.presence) {
          reply({ ok: true })
          return
        }
        const state = await presence.list(channel)
        reply({ ok: true, presence: state })
        socket.emit('presence', { channel, joins: {}, leaves: {}, state })
      })

      socket.on('leave', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(joinInput, payload, reply)
        if (!v) return
        const m = joined.get(v.channel)
        // Leaving a channel one is not in is not an error: the outcome is the same.
        if (m) await leave(v.channel, m)
        reply({ ok: true })
      })

      socket.on('broadcast', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(broadcastInput, payload, reply)
        if (!v) return
        const m = joined.get(v.channel)
        if (!m) {
          reply(fail('FORBIDDEN', 'Join the channel first.'))
          return
        }
        if (jsonLength(v.payload) > LIMITS.payloadBytes) {
          reply(fail('PAYLOAD_TOO_LARGE', `The payload exceeds ${LIMITS.payloadBytes} bytes of JSON.`))
          return
        }
        const unscoped = missingKeyScope(principal(), 'send')
        if (unscoped) {
          reply(fail('FORBIDDEN', unscoped))
          return
        }
        m.send ??= definitions.allows(m.def, 'send', v.channel, principal())
        let ok: boolean
        try {
          ok = await m.send
        } catch (err) {
          m.send = undefined
          log.warn({ err, channel: v.channel }, 'realtime: send check failed')
          reply(fail('UNAVAILABLE', 'The channel could not be checked; retry shortly.'))
          return
        }
        if (!ok) {
          // Only an allowed answer is kept: a membership row may appear later.
          m.send = undefined
          reply(fail('FORBIDDEN', 'You are not allowed to send on this channel.'))
          return
        }
        if (!socket.connected || joined.get(v.channel) !== m) return
        reach(socket.to(room(v.channel))).emit('broadcast', {
          channel: v.channel,
          event: v.event,
          payload: v.payload ?? null,
          from: { id: userId(), connection: socket.id },
        })
        reply({ ok: true })
      })

      socket.on('presence:track', async (payload: unknown, ack?: Ack) => {
        const reply = typeof ack === 'function' ? ack : () => {}
        const v = parse(trackInput, payload, reply)
        if (!v) return
        const m = joined.get(v.channel)
        if (!m) {
          reply(fail('FORBIDDEN', 'Join the channel first.'))
          return
        }
        if (!m.presence) {
          reply(fail('BAD_REQUEST', 'This channel keeps no presence.'))
          return
        }
        const unscoped = missingKeyScope(principal(), 'track')
        if (unscoped) {
          reply(fail('FORBIDDEN', unscoped))
          return
        }
        const state = v.state ?? {}
        if (jsonLength(state) > LIMITS.stateBytes) {
          reply(fail('PAYLOAD_TOO_LARGE', `The state exceeds ${LIMITS.stateBytes} bytes of JSON.`))
          return
        }
        const entry: PresenceEntry = { user: userId(), state }
        m.tracked = true
        await presence.track(v.channel, socket.id, entry)
        // Gone meanwhile: its leave is on its way, a join now would outlive it.
        if (!socket.connected || joined.get(v.channel) !== m || !m.tracked) return
        push(v.channel, { [socket.id]: entry }, {})
        reply({ ok: true })
      })

      socket.on('disconnect', () => {
        for (const [channel, m] of [...joined]) {
          void leave(channel, m).catch((err) => log.warn({ err, channel }, 'realtime: leave failed'))
        }
      })
    },

    async close() {
      if (closed) return
      closed = true
      await presence.close()
    },
  }
}
