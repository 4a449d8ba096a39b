import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import pino from 'pino'
import { Server } from 'socket.io'
import { io as connect, type Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Principal } from '../src/core/auth/principal.ts'
import { type CollectionsService, createCollectionsService } from '../src/core/collections/service.ts'
import { createEventBus } from '../src/events/bus.ts'
import { createScheduler, type Scheduler } from '../src/modules/scheduler.ts'
import { type Channels, createChannels } from '../src/realtime/channels.ts'
import { type Realtime, startRealtime } from '../src/realtime/gateway.ts'
import { PRESENCE_TIMING } from '../src/realtime/presence.ts'
import {
  connectRealtimeRedis,
  installRedisAdapter,
  type RealtimeRedis,
} from '../src/realtime/redis-clients.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createCollection,
  createKey,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'
import { redisServerMissing, startRedis, type TestRedis } from './support/processes.ts'

const missing = redisServerMissing('realtime-channels')

/**
 * Channels and presence, tested on bare socket.io servers running createChannels against the test server's
 * database (real rules, real principals from real tokens): one node in memory, then two nodes sharing a Redis
 * of the test's own that is stopped, restarted, and outlives a node killed without a goodbye.
 */
let s: TestServer
let collections: CollectionsService
let alice: SignedUp
let bob: SignedUp
let carol: SignedUp
const log = pino({ level: 'silent' })
const clients: Socket[] = []

beforeAll(async () => {
  s = await startTestServer()
  alice = await signUp(s, 'ch-alice@example.com')
  bob = await signUp(s, 'ch-bob@example.com')
  carol = await signUp(s, 'ch-carol@example.com')
  await createCollection(s, {
    name: 'members',
    fields: [
      { name: 'room', type: 'text' },
      { name: 'user', type: 'relation', options: { collection: 'users' } },
    ],
    rules: { list: null, view: null, create: null, update: null, delete: null },
  })
  collections = await createCollectionsService({ db: s.bastide.database.db, bus: createEventBus() })
  const signedIn = "@request.auth.id != ''"
  for (const def of [
    { pattern: 'room:*', rules: { join: signedIn, send: signedIn } },
    // More specific than room:*, and locked.
    { pattern: 'room:vip', rules: { join: null, send: null } },
    { pattern: 'quiet:*', rules: { join: signedIn, send: null }, presence: false },
    {
      pattern: 'team:*',
      rules: {
        join: '@collection.members.room = param && @collection.members.user = @request.auth.id',
        send: "@request.auth.email ~ 'alice'",
      },
    },
  ]) {
    const r = await s.api('POST', '/api/realtime/channels', def)
    expect(r.status, JSON.stringify(r.body)).toBe(201)
  }
  await createRecord(s, 'members', { room: 'red', user: alice.id })
}, 120_000)

afterAll(async () => {
  for (const c of clients) c.disconnect()
  await s?.close()
})

/** A socket.io server with channels only, resolving handshake tokens as the gateway does. */
interface TestNode {
  readonly url: string
  readonly io: Server
  readonly channels: Channels
  readonly pub?: Redis
  /** Graceful: channels.close() (leaves pushed, entries removed), then everything else. */
  close(): Promise<void>
  /** A node that dies: connections cut, Redis dropped, no goodbye to anyone. */
  kill(): Promise<void>
}

async function startNode(redis?: { url: string; prefix: string }): Promise<TestNode> {
  const http: HttpServer = createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const io = new Server(http, { path: '/realtime', serveClient: false })
  let shared: { client: Redis; prefix: string } | undefined
  let connection: RealtimeRedis | undefined
  if (redis) {
    // The gateway's own Redis wiring (guarded publisher, same retry options).
    connection = await connectRealtimeRedis(redis.url, log)
    installRedisAdapter(io, connection, `${redis.prefix}rt:io`, log)
    shared = { client: connection.pub, prefix: redis.prefix }
  }
  const channels = await createChannels({
    io,
    db: s.bastide.database.db,
    lookup: (n) => collections.find(n),
    nodeId: randomUUID(),
    log,
    ...(shared ? { redis: shared } : {}),
  })
  io.use(async (socket, next) => {
    const token = (socket.handshake.auth as { token?: string }).token
    socket.data.principal = await principalFor(token)
    next()
  })
  io.on('connection', (socket) => channels.attach(socket, () => socket.data.principal as Principal))
  // Presence's heartbeat and janitor, run as the server runs them: scheduler jobs.
  const scheduler = createScheduler(log)
  for (const job of channels.jobs) scheduler.add('realtime', job)
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  const shutdown = async () => {
    io.disconnectSockets(true)
    io.engine.close()
    await new Promise<void>((resolve) => http.close(() => resolve()))
    if (connection) for (const c of [connection.pub, connection.sub, connection.adapterSub]) c.disconnect()
  }
  let closed = false
  return {
    url,
    io,
    channels,
    ...(shared ? { pub: shared.client } : {}),
    async close() {
      if (closed) return
      closed = true
      await scheduler.close()
      await channels.close()
      await shutdown()
    },
    async kill() {
      closed = true
      await scheduler.close()
      // Redis first, so that nothing this node does on the way down reaches anyone.
      if (connection) for (const c of [connection.pub, connection.sub, connection.adapterSub]) c.disconnect()
      io.engine.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
      // Its timers only (its entries stay in Redis, as a dead process's would).
      await channels.close().catch(() => {})
    },
  }
}

async function principalFor(token: string | undefined): Promise<Principal> {
  if (!token) return { kind: 'anonymous' }
  if (token === ADMIN_KEY) return { kind: 'admin' }
  // A key scoped for channels (realtime-channel-scopes.test.ts covers keys without the scopes, end to end).
  if (token.startsWith('bst_sk_'))
    return { kind: 'key', id: token, name: 'test', scopes: new Set(['records:read', 'records:write']) }
  for (const a of s.bastide.auth.authenticators) {
    const p = await a(token)
    if (p) return p
  }
  return { kind: 'anonymous' }
}

interface Client {
  readonly so: Socket
  readonly broadcasts: any[]
  /** `presence` diffs. */
  readonly presence: any[]
  /** The `presence` events carrying the full `state`, one per join. */
  readonly states: any[]
  call(event: string, payload: unknown): Promise<any>
}

async function client(node: TestNode, token?: string): Promise<Client> {
  const so = connect(node.url, {
    path: '/realtime',
    transports: ['websocket'],
    reconnection: false,
    ...(token ? { auth: { token } } : {}),
  })
  clients.push(so)
  await new Promise<void>((resolve, reject) => {
    so.once('connect', () => resolve())
    so.once('connect_error', reject)
  })
  const broadcasts: any[] = []
  const presence: any[] = []
  const states: any[] = []
  so.on('broadcast', (m) => broadcasts.push(m))
  so.on('presence', (m) => ('state' in m ? states : presence).push(m))
  return { so, broadcasts, presence, states, call: (e, p) => so.timeout(5000).emitWithAck(e, p) }
}

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms))

describe('channel definitions (admin API)', () => {
  it('is for the schema scope only', async () => {
    expect((await s.api('GET', '/api/realtime/channels', undefined, { as: 'anon' })).status).toBe(401)
    expect((await s.api('GET', '/api/realtime/channels', undefined, { as: alice.token })).status).toBe(403)
    const key = await createKey(s, ['schema'])
    const list = await s.api('GET', '/api/realtime/channels', undefined, { as: key })
    expect(list.status).toBe(200)
    expect(list.body.items.map((d: any) => d.pattern)).toEqual(['quiet:*', 'room:*', 'room:vip', 'team:*'])
    const readOnly = await createKey(s, ['records:read'])
    expect((await s.api('GET', '/api/realtime/channels', undefined, { as: readOnly })).status).toBe(403)
  })

  it('creates, reads, updates and deletes, validating patterns and rules', async () => {
    const bad = await s.api('POST', '/api/realtime/channels', { pattern: 'a b*', rules: {} })
    expect(bad.status).toBe(400)
    expect(bad.body.details.fields.pattern).toBeDefined()
    expect((await s.api('POST', '/api/realtime/channels', { pattern: 'a*b' })).status).toBe(400)
    expect((await s.api('POST', '/api/realtime/channels', { pattern: '*' })).status).toBe(400)
    const badRule = await s.api('POST', '/api/realtime/channels', {
      pattern: 'crud:*',
      rules: { join: 'nosuch = 1', send: '@collection.nowhere.x = 1' },
    })
    expect(badRule.status).toBe(400)
    expect(badRule.body.code).toBe('VALIDATION_FAILED')
    expect(badRule.body.details.fields['rules.join'].code).toBe('invalid_rule')
    expect(badRule.body.details.fields['rules.send']).toBeDefined()

    const created = await s.api('POST', '/api/realtime/channels', { pattern: 'crud:*', rules: { join: '' } })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ pattern: 'crud:*', rules: { join: '', send: null }, presence: true })
    expect((await s.api('POST', '/api/realtime/channels', { pattern: 'crud:*' })).status).toBe(409)
    const id = created.body.id
    expect((await s.api('GET', `/api/realtime/channels/${id}`)).body.pattern).toBe('crud:*')
    const patched = await s.api('PATCH', `/api/realtime/channels/${id}`, {
      presence: false,
      rules: { send: "param = 'x'" },
    })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ rules: { join: '', send: "param = 'x'" }, presence: false })
    const badPatch = await s.api('PATCH', `/api/realtime/channels/${id}`, { rules: { join: 'name ~' } })
    expect(badPatch.body.details.fields['rules.join']).toBeDefined()
    expect((await s.api('DELETE', `/api/realtime/channels/${id}`)).status).toBe(204)
    expect((await s.api('GET', `/api/realtime/channels/${id}`)).status).toBe(404)
    expect((await s.api('GET', '/api/realtime/channels/not-a-uuid')).status).toBe(404)
  })
})

describe('one node, in memory', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await startNode()
  })
  afterAll(async () => {
    await node?.close()
  })

  it('lets members broadcast to the others, never back to the sender', async () => {
    const a = await client(node, alice.jwt)
    const b = await client(node, bob.token)
    expect(await a.call('join', { channel: 'room:1' })).toEqual({ ok: true, presence: {} })
    expect((await b.call('join', { channel: 'room:1' })).ok).toBe(true)
    expect(await a.call('broadcast', { channel: 'room:1', event: 'hello', payload: { n: 1 } })).toEqual({
      ok: true,
    })
    await expect.poll(() => b.broadcasts.length, { timeout: 5000 }).toBe(1)
    expect(b.broadcasts[0]).toEqual({
      channel: 'room:1',
      event: 'hello',
      payload: { n: 1 },
      from: { id: alice.id, connection: a.so.id },
    })
    await settle()
    expect(a.broadcasts).toEqual([])
    // Not a member any more: nothing to send, nothing received.
    expect(await b.call('leave', { channel: 'room:1' })).toEqual({ ok: true })
    expect((await b.call('broadcast', { channel: 'room:1', event: 'x' })).error.code).toBe('FORBIDDEN')
    await a.call('broadcast', { channel: 'room:1', event: 'again' })
    await settle()
    expect(b.broadcasts).toHaveLength(1)
  })

  it('refuses whom the rules refuse, and undefined channels to all but admins and keys', async () => {
    const anon = await client(node)
    const a = await client(node, alice.token)
    const admin = await client(node, ADMIN_KEY)
    const key = await client(node, 'bst_sk_some_key')
    const forbidden = await anon.call('join', { channel: 'room:1' })
    expect(forbidden).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    expect((await a.call('join', { channel: 'nowhere' })).error.code).toBe('FORBIDDEN')
    // The exact pattern wins over room:*, and it is locked.
    expect((await a.call('join', { channel: 'room:vip' })).error.code).toBe('FORBIDDEN')
    expect((await admin.call('join', { channel: 'room:vip' })).ok).toBe(true)
    expect((await admin.call('join', { channel: 'nowhere' })).ok).toBe(true)
    expect((await key.call('join', { channel: 'nowhere' })).ok).toBe(true)
    expect((await key.call('broadcast', { channel: 'nowhere', event: 'e', payload: 1 })).ok).toBe(true)
    await expect.poll(() => admin.broadcasts.length).toBe(1)
    expect(admin.broadcasts[0].from).toEqual({ id: null, connection: key.so.id })
    // Joined, but the send rule is locked.
    expect(await a.call('join', { channel: 'quiet:1' })).toEqual({ ok: true })
    expect((await a.call('broadcast', { channel: 'quiet:1', event: 'e' })).error.code).toBe('FORBIDDEN')
  })

  it('checks membership rules against collections, and does not remember a refusal', async () => {
    const a = await client(node, alice.token)
    const b = await client(node, bob.token)
    expect((await a.call('join', { channel: 'team:red' })).ok).toBe(true)
    expect((await a.call('join', { channel: 'team:blue' })).error.code).toBe('FORBIDDEN')
    expect((await b.call('join', { channel: 'team:red' })).error.code).toBe('FORBIDDEN')
    await createRecord(s, 'members', { room: 'red', user: bob.id })
    expect((await b.call('join', { channel: 'team:red' })).ok).toBe(true)
    // The send rule: only alice.
    expect((await b.call('broadcast', { channel: 'team:red', event: 'e' })).error.code).toBe('FORBIDDEN')
    expect((await a.call('broadcast', { channel: 'team:red', event: 'e' })).ok).toBe(true)
    await expect.poll(() => b.broadcasts.length).toBe(1)
  })

  it('answers malformed messages with BAD_REQUEST and enforces its limits', async () => {
    const a = await client(node, alice.token)
    for (const bad of [{}, { channel: 5 }, { channel: '' }, { channel: 'has space' }, { channel: 'x*' }]) {
      expect((await a.call('join', bad)).error.code).toBe('BAD_REQUEST')
    }
    expect((await a.call('join', { channel: 'x'.repeat(201) })).error.code).toBe('BAD_REQUEST')
    expect((await a.call('join', { channel: 'room:lim' })).ok).toBe(true)
    expect((await a.call('broadcast', { channel: 'room:lim' })).error.code).toBe('BAD_REQUEST')
    expect((await a.call('broadcast', { channel: 'room:lim', event: 'e'.repeat(101) })).error.code).toBe(
      'BAD_REQUEST',
    )
    const big = { channel: 'room:lim', event: 'e', payload: 'x'.repeat(64 * 1024) }
    expect((await a.call('broadcast', big)).error.code).toBe('PAYLOAD_TOO_LARGE')
    const bigState = { channel: 'room:lim', state: { s: 'x'.repeat(4096) } }
    expect((await a.call('presence:track', bigState)).error.code).toBe('PAYLOAD_TOO_LARGE')
    expect((await a.call('presence:track', { channel: 'room:other', state: {} })).error.code).toBe(
      'FORBIDDEN',
    )
    expect((await a.call('presence:track', { channel: 'quiet:lim' })).error.code).toBe('FORBIDDEN')
    await a.call('join', { channel: 'quiet:lim' })
    expect((await a.call('presence:track', { channel: 'quiet:lim' })).error.code).toBe('BAD_REQUEST')
    // Without an ack a join still happens (and a bad one is still refused, silently).
    a.so.emit('join', { channel: 'room:noack' })
    a.so.emit('join', { channel: 7 })
    const k = await client(node, ADMIN_KEY)
    for (let i = 0; i < 50; i++) expect((await k.call('join', { channel: `many:${i}` })).ok).toBe(true)
    expect((await k.call('join', { channel: 'many:50' })).error.code).toBe('LIMIT')
    expect((await k.call('leave', { channel: 'many:0' })).ok).toBe(true)
    expect((await k.call('join', { channel: 'many:50' })).ok).toBe(true)
    const b = await client(node, bob.token)
    await b.call('join', { channel: 'room:noack' })
    await b.call('broadcast', { channel: 'room:noack', event: 'e' })
    await expect.poll(() => a.broadcasts.length).toBe(1)
  })

  it('syncs presence on join, pushes diffs, and drops a connection that goes', async () => {
    const a = await client(node, alice.token)
    const b = await client(node, bob.token)
    await a.call('join', { channel: 'room:p' })
    expect(await a.call('presence:track', { channel: 'room:p', state: { status: 'online' } })).toEqual({
      ok: true,
    })
    // The tracker hears its own join too.
    await expect.poll(() => a.presence.length).toBe(1)
    expect(a.presence[0]).toEqual({
      channel: 'room:p',
      joins: { [a.so.id as string]: { user: alice.id, state: { status: 'online' } } },
      leaves: {},
    })
    const ack = await b.call('join', { channel: 'room:p' })
    expect(ack).toEqual({
      ok: true,
      presence: { [a.so.id as string]: { user: alice.id, state: { status: 'online' } } },
    })
    // The same full state also comes as a first `presence` event (API.md's shape), before any diff.
    await expect.poll(() => b.states.length).toBe(1)
    expect(b.states[0]).toEqual({ channel: 'room:p', joins: {}, leaves: {}, state: ack.presence })
    await b.call('presence:track', { channel: 'room:p', state: { status: 'away' } })
    await expect.poll(() => a.presence.length).toBe(2)
    expect(a.presence[1].joins).toEqual({ [b.so.id as string]: { user: bob.id, state: { status: 'away' } } })
    // A new state replaces the old one, as a join.
    await b.call('presence:track', { channel: 'room:p', state: { status: 'busy' } })
    await expect.poll(() => a.presence.length).toBe(3)
    expect(a.presence[2].joins[b.so.id as string].state).toEqual({ status: 'busy' })
    const bId = b.so.id as string
    b.so.disconnect()
    await expect.poll(() => a.presence.length).toBe(4)
    expect(a.presence[3]).toEqual({
      channel: 'room:p',
      joins: {},
      leaves: { [bId]: { user: bob.id, state: { status: 'busy' } } },
    })
    const c = await client(node, carol.token)
    expect((await c.call('join', { channel: 'room:p' })).presence).toEqual({
      [a.so.id as string]: { user: alice.id, state: { status: 'online' } },
    })
    await a.call('leave', { channel: 'room:p' })
    await expect.poll(() => c.presence.length).toBe(1)
    expect(Object.keys(c.presence[0].leaves)).toEqual([a.so.id])
    expect((await c.call('join', { channel: 'room:p' })).presence).toEqual({})
  })
})

describe.skipIf(missing !== undefined)('two nodes sharing Redis', () => {
  let redis: TestRedis
  let probe: Redis
  const prefix = `t${randomBytes(3).toString('hex')}:`
  let a: TestNode
  let b: TestNode
  const nodes: TestNode[] = []
  const start = async () => {
    const n = await startNode({ url: redis.url, prefix })
    nodes.push(n)
    return n
  }

  beforeAll(async () => {
    redis = await startRedis()
    probe = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 })
    probe.on('error', () => {})
    a = await start()
    b = await start()
  })
  afterAll(async () => {
    for (const c of clients) c.disconnect()
    for (const n of nodes) await n.close().catch(() => {})
    probe?.disconnect()
    await redis?.stop()
  })

  it('spans presence and broadcasts across nodes', async () => {
    const onA = await client(a, alice.token)
    const onB = await client(b, bob.token)
    await onA.call('join', { channel: 'room:x' })
    await onA.call('presence:track', { channel: 'room:x', state: { on: 'A' } })
    const ack = await onB.call('join', { channel: 'room:x' })
    expect(ack.presence).toEqual({ [onA.so.id as string]: { user: alice.id, state: { on: 'A' } } })
    await onB.call('presence:track', { channel: 'room:x', state: { on: 'B' } })
    await expect
      .poll(() => onA.presence.at(-1)?.joins?.[onB.so.id as string], { timeout: 5000 })
      .toEqual({
        user: bob.id,
        state: { on: 'B' },
      })
    await onB.call('broadcast', { channel: 'room:x', event: 'hi', payload: 'from B' })
    await expect.poll(() => onA.broadcasts.length, { timeout: 5000 }).toBe(1)
    expect(onA.broadcasts[0]).toMatchObject({
      payload: 'from B',
      from: { id: bob.id, connection: onB.so.id },
    })
    await settle()
    expect(onB.broadcasts).toEqual([])
    // Presence is one hash per channel, fields per connection.
    expect(Object.keys(await probe.hgetall(`${prefix}presence:room:x`)).sort()).toEqual(
      [onA.so.id, onB.so.id].sort(),
    )
    await onB.call('leave', { channel: 'room:x' })
    await expect
      .poll(() => Object.keys(onA.presence.at(-1)?.leaves ?? {}), { timeout: 5000 })
      .toEqual([onB.so.id])
    onA.so.disconnect()
  })

  it('keeps both nodes up while Redis is down, and shares again once it is back', async () => {
    const a1 = await client(a, alice.token)
    const a2 = await client(a, carol.token)
    const b1 = await client(b, bob.token)
    for (const c of [a1, a2, b1]) expect((await c.call('join', { channel: 'room:r' })).ok).toBe(true)
    await a1.call('presence:track', { channel: 'room:r', state: { who: 'a1' } })

    await redis.stop()
    await expect.poll(() => a.pub?.status, { timeout: 5000 }).not.toBe('ready')
    await expect.poll(() => b.pub?.status, { timeout: 5000 }).not.toBe('ready')
    // This node's members still talk to each other, and presence answers from what the node knows.
    expect((await a2.call('broadcast', { channel: 'room:r', event: 'down', payload: 1 })).ok).toBe(true)
    await expect.poll(() => a1.broadcasts.length, { timeout: 5000 }).toBe(1)
    expect((await a2.call('presence:track', { channel: 'room:r', state: { who: 'a2' } })).ok).toBe(true)
    const late = await client(a, bob.token)
    expect(Object.keys((await late.call('join', { channel: 'room:r' })).presence).sort()).toEqual(
      [a1.so.id, a2.so.id].sort(),
    )
    await settle(PRESENCE_TIMING.heartbeat + 500)

    await redis.start()
    // Presence comes back by itself: the nodes write their entries again into the empty Redis.
    await expect
      .poll(
        async () => Object.keys(await probe.hgetall(`${prefix}presence:room:r`).catch(() => ({}))).sort(),
        {
          timeout: 15_000,
        },
      )
      .toEqual([a1.so.id, a2.so.id].sort())
    const deadline = Date.now() + 20_000
    let n = 0
    while (!a1.broadcasts.some((m) => m.event === 'after')) {
      if (Date.now() > deadline) throw new Error('cross-node broadcast did not resume')
      await b1.call('broadcast', { channel: 'room:r', event: 'after', payload: n++ })
      await settle(300)
    }
    const fresh = await client(b, carol.token)
    expect(Object.keys((await fresh.call('join', { channel: 'room:r' })).presence).sort()).toEqual(
      [a1.so.id, a2.so.id].sort(),
    )
    for (const c of [a1, a2, b1, late, fresh]) c.so.disconnect()
  }, 60_000)

  it('removes the members of a node that died from presence on the others', async () => {
    const onA = await client(a, alice.token)
    const onB = await client(b, bob.token)
    const onB2 = await client(b, carol.token)
    await onA.call('join', { channel: 'room:k' })
    await onB.call('join', { channel: 'room:k' })
    await onB2.call('join', { channel: 'room:k' })
    await onB.call('presence:track', { channel: 'room:k', state: { on: 'B' } })
    await onB2.call('presence:track', { channel: 'room:k', state: { on: 'B2' } })
    await expect.poll(() => onA.presence.length, { timeout: 5000 }).toBe(2)
    const gone = [onB.so.id, onB2.so.id].sort()

    const killedAt = Date.now()
    await b.kill()
    // Its entries outlive it in Redis, until a janitor sees its liveness key expire.
    expect(Object.keys(await probe.hgetall(`${prefix}presence:room:k`)).sort()).toEqual(gone)
    await expect
      .poll(() => onA.presence.flatMap((p) => Object.keys(p.leaves)).sort(), {
        timeout: 25_000,
        interval: 250,
      })
      .toEqual(gone)
    expect(Date.now() - killedAt).toBeLessThan(PRESENCE_TIMING.ttl + PRESENCE_TIMING.janitor + 2000)
    // One leave per member, from one node only.
    await settle(PRESENCE_TIMING.janitor + 500)
    expect(onA.presence.flatMap((p) => Object.keys(p.leaves))).toHaveLength(2)
    expect(await probe.hgetall(`${prefix}presence:room:k`)).toEqual({})
    expect(await probe.sismember(`${prefix}presence:channels`, 'room:k')).toBe(0)
    // A third node sees only the living.
    const c = await start()
    const late = await client(c, carol.token)
    expect((await late.call('join', { channel: 'room:k' })).presence).toEqual({})
  }, 60_000)

  it('removes its entries on a graceful close, and the others hear the leaves at once', async () => {
    const d = await start()
    const onA = await client(a, alice.token)
    const onD = await client(d, bob.token)
    await onA.call('join', { channel: 'room:g' })
    await onD.call('join', { channel: 'room:g' })
    await onD.call('presence:track', { channel: 'room:g', state: {} })
    await expect.poll(() => onA.presence.length, { timeout: 5000 }).toBe(1)
    await d.close()
    await expect
      .poll(() => Object.keys(onA.presence.at(-1)?.leaves ?? {}), { timeout: 3000 })
      .toEqual([onD.so.id])
    expect(await probe.hgetall(`${prefix}presence:room:g`)).toEqual({})
  })
})

describe.skipIf(missing !== undefined)('through the gateway (startRealtime), two nodes sharing Redis', () => {
  let redis: TestRedis
  const started: { rt: Realtime; http: HttpServer; scheduler: Scheduler }[] = []

  async function gatewayNode(prefix: string): Promise<string> {
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const db = s.bastide.database.db
    const rt = await startRealtime({
      httpServer: http,
      config: { ...s.config, redisUrl: redis.url, redisPrefix: prefix },
      authenticate: async (token) => {
        const p = await principalFor(token)
        return p.kind === 'anonymous' ? undefined : p
      },
      collections,
      db,
      bus: createEventBus(),
      log,
      channels: (ctx) => createChannels({ ...ctx, db, lookup: (n) => collections.find(n), log }),
    })
    const scheduler = createScheduler(log)
    for (const job of rt.jobs) scheduler.add('realtime', job)
    started.push({ rt, http, scheduler })
    return `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  }

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    for (const { rt, http, scheduler } of started) {
      await scheduler.close()
      await rt.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    }
    await redis?.stop()
  })

  it('serves join, broadcast and presence across nodes on the same connections as subscriptions', async () => {
    const prefix = `g${randomBytes(3).toString('hex')}:`
    const a = { url: await gatewayNode(prefix) } as TestNode
    const b = { url: await gatewayNode(prefix) } as TestNode
    const onA = await client(a, alice.jwt)
    const onB = await client(b, bob.token)
    const anon = await client(b)
    expect((await anon.call('join', { channel: 'room:gw' })).error.code).toBe('FORBIDDEN')
    await onA.call('join', { channel: 'room:gw' })
    await onA.call('presence:track', { channel: 'room:gw', state: { on: 'A' } })
    expect((await onB.call('join', { channel: 'room:gw' })).presence).toEqual({
      [onA.so.id as string]: { user: alice.id, state: { on: 'A' } },
    })
    expect((await onB.call('broadcast', { channel: 'room:gw', event: 'e', payload: [1] })).ok).toBe(true)
    await expect.poll(() => onA.broadcasts.length, { timeout: 5000 }).toBe(1)
    expect(onA.broadcasts[0].from).toEqual({ id: bob.id, connection: onB.so.id })
    const aId = onA.so.id as string
    onA.so.disconnect()
    await expect.poll(() => Object.keys(onB.presence.at(-1)?.leaves ?? {}), { timeout: 5000 }).toEqual([aId])
    // Subscriptions still work beside channels.
    expect((await onB.call('subscribe', { collection: 'users' })).ok).toBe(true)
    onB.so.disconnect()
    anon.so.disconnect()
  })
})
