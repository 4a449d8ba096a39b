import { randomBytes } from 'node:crypto'
import { io as connect, type Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, createTestDatabase, TEST_SECRET } from './support/harness.ts'
import {
  type ChildServer,
  redisServerMissing,
  startChildServer,
  startRedis,
  type TestRedis,
} from './support/processes.ts'

/**
 * Two server processes on loopback sharing PostgreSQL and a Redis of the test's own: a change made through
 * one node reaches a subscriber on the other exactly once, and losing Redis stops neither node.
 */
let redis: TestRedis
let db: { url: string; drop(): Promise<void> }
let a: ChildServer
let b: ChildServer
const sockets: Socket[] = []
const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }

const missing = redisServerMissing('realtime-cluster')

beforeAll(async () => {
  if (missing) return
  redis = await startRedis()
  db = await createTestDatabase()
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    BASTIDE_REDIS_PREFIX: `t${randomBytes(3).toString('hex')}:`,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    BASTIDE_SECRET: TEST_SECRET,
  }
  a = await startChildServer(env)
  b = await startChildServer(env)
  const r = await fetch(`${a.url}/api/collections`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({
      name: 'items',
      fields: [{ name: 'label', type: 'text' }],
      rules: { list: '', view: '', create: '' },
    }),
  })
  expect(r.status).toBe(201)
}, 120_000)

afterAll(async () => {
  for (const so of sockets) so.disconnect()
  await a?.stop()
  await b?.stop()
  await redis?.stop()
  await db?.drop()
})

async function subscriber(node: ChildServer): Promise<{ so: Socket; got: any[] }> {
  const so = connect(node.url, { path: '/realtime', transports: ['websocket'], reconnection: false })
  sockets.push(so)
  await new Promise<void>((resolve, reject) => {
    so.once('connect', () => resolve())
    so.once('connect_error', reject)
  })
  const got: any[] = []
  so.on('change', (c) => got.push(c))
  const ack = await so.timeout(5000).emitWithAck('subscribe', { collection: 'items' })
  expect(ack.ok).toBe(true)
  return { so, got }
}

const create = (node: ChildServer, label: string) =>
  fetch(`${node.url}/api/collections/items/records`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ label }),
  })

const settle = (ms = 500) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(missing !== undefined)('two nodes, one Redis', () => {
  it('delivers a change made on node B to a subscriber on node A, once', async () => {
    const onA = await subscriber(a)
    const onB = await subscriber(b)
    expect((await create(b, 'from B')).status).toBe(201)
    await expect.poll(() => onA.got.length, { timeout: 5000 }).toBe(1)
    await expect.poll(() => onB.got.length, { timeout: 5000 }).toBe(1)
    await settle()
    expect(onA.got.map((c) => c.record.label)).toEqual(['from B'])
    expect(onB.got).toHaveLength(1)
    expect(onA.got[0].seq).toBe(onB.got[0].seq)
  })

  it('keeps both nodes up while Redis is down, delivers locally, and resumes cross-node delivery after', async () => {
    const onA = await subscriber(a)
    const onB = await subscriber(b)
    await create(b, 'before')
    await expect.poll(() => onA.got.length, { timeout: 5000 }).toBe(1)
    const lastSeen = onA.got[0].seq

    await redis.stop()
    expect((await create(b, 'during')).status).toBe(201)
    await expect.poll(() => onB.got.length, { timeout: 5000 }).toBe(2)
    for (const node of [a, b]) expect((await fetch(`${node.url}/api/health`)).status).toBe(200)

    await redis.start()
    // Cross-node delivery comes back by itself (ioredis reconnects and resubscribes).
    const deadline = Date.now() + 20_000
    let n = 0
    while (!onA.got.some((c) => c.record.label.startsWith('after'))) {
      if (Date.now() > deadline) throw new Error('cross-node delivery did not resume')
      await create(b, `after ${n++}`)
      await settle(300)
    }
    // What A missed while Redis was away cannot be replayed from A's window: the client is told to refetch.
    const late = await subscriber(a)
    const resync = new Promise<any>((resolve) => late.so.once('resync', resolve))
    const ack = await late.so.timeout(5000).emitWithAck('subscribe', { collection: 'items', since: lastSeen })
    expect(await resync).toEqual({ subscriptionId: ack.subscriptionId })
  }, 60_000)

  it('spans presence across nodes, and the members of a killed node leave', async () => {
    const def = await fetch(`${a.url}/api/realtime/channels`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ pattern: 'lobby', rules: { join: '', send: '' } }),
    })
    expect(def.status).toBe(201)
    const onA = (await subscriber(a)).so
    const onB = (await subscriber(b)).so
    expect((await onA.timeout(5000).emitWithAck('join', { channel: 'lobby' })).ok).toBe(true)
    const joinsOnA: any[] = []
    const leavesOnA: any[] = []
    onA.on('presence', (p: any) => {
      if (Object.keys(p.joins).length) joinsOnA.push(p.joins)
      if (Object.keys(p.leaves).length) leavesOnA.push(p.leaves)
    })
    expect((await onB.timeout(5000).emitWithAck('join', { channel: 'lobby' })).ok).toBe(true)
    expect(
      (await onB.timeout(5000).emitWithAck('presence:track', { channel: 'lobby', state: { on: 'B' } })).ok,
    ).toBe(true)
    await expect.poll(() => joinsOnA.length, { timeout: 5000 }).toBe(1)
    expect(Object.values(joinsOnA[0])).toEqual([expect.objectContaining({ state: { on: 'B' } })])
    // A late joiner on A sees B's member in the full state.
    const late = (await subscriber(a)).so
    const ack = await late.timeout(5000).emitWithAck('join', { channel: 'lobby' })
    expect(Object.values(ack.presence)).toEqual([expect.objectContaining({ state: { on: 'B' } })])

    await b.kill()
    await expect.poll(() => leavesOnA.length, { timeout: 30_000, interval: 500 }).toBe(1)
    expect(Object.values(leavesOnA[0])).toEqual([expect.objectContaining({ state: { on: 'B' } })])
  }, 60_000)
})
