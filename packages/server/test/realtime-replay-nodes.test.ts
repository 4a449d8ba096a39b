import { randomBytes } from 'node:crypto'
import type { RecordEvent } from '@bastide/protocol'
import { Redis } from 'ioredis'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEventBus, type EventBus } from '../src/events/bus.ts'
import { type ChangeFeed, createChangeFeed } from '../src/realtime/change-feed.ts'
import { probeRedis, REDIS_URL } from './support/cluster-redis.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

/**
 * Replay across nodes (the change feed of two nodes on one database and one Redis): a client that followed
 * one node and comes back on another gets what it missed, even where the two nodes saw changes arrive in
 * different orders (each has its own changes at once, the other's a moment later through Redis).
 */
const redisDown = await probeRedis()
if (redisDown) console.warn(`[realtime-replay-nodes] skipped: ${REDIS_URL} is unreachable (${redisDown})`)

interface Node {
  readonly bus: EventBus
  readonly feed: ChangeFeed
  readonly got: RecordEvent[]
}

let s: TestServer
const clients: Redis[] = []
const nodes: Node[] = []

async function startNode(nodeId: string, prefix: string): Promise<Node> {
  const pub = new Redis(REDIS_URL)
  const sub = new Redis(REDIS_URL)
  clients.push(pub, sub)
  const bus = createEventBus()
  const feed = await createChangeFeed({
    db: s.bastide.database.db,
    bus,
    log: pino({ level: 'silent' }),
    nodeId,
    redis: { pub, sub, prefix },
  })
  const got: RecordEvent[] = []
  feed.onChange((e) => got.push(e))
  const node = { bus, feed, got }
  nodes.push(node)
  return node
}

const change = (seq: number, id: string): RecordEvent => ({
  seq,
  action: 'create',
  collection: 'items',
  record: { id, version: 1 },
  at: new Date().toISOString(),
})

beforeAll(async () => {
  if (redisDown) return
  s = await startTestServer()
})

afterAll(async () => {
  for (const n of nodes) await n.feed.close()
  for (const c of clients) c.disconnect()
  await s?.close()
})

describe.skipIf(redisDown !== undefined)('replay on another node', () => {
  it('replays a change numbered below `since` that the other node had after it', async () => {
    const prefix = `r${randomBytes(3).toString('hex')}:`
    const here = await startNode('here', prefix)
    const there = await startNode('there', prefix)
    // Numbers well past anything the database handed out: both feeds cover them.
    const base = 1_000_000 + Math.floor(Math.random() * 1_000_000)
    const w = change(base + 1, 'w')
    const x = change(base + 2, 'x')
    // In one tick: W is made here, X there. Each node has its own at once and the other's through Redis, so
    // `here` sees W then X, and `there` sees X then W.
    here.bus.emit('record.created', w)
    there.bus.emit('record.created', x)
    await expect.poll(() => here.got.map((e) => e.seq)).toEqual([w.seq, x.seq])
    await expect.poll(() => there.got.map((e) => e.seq)).toEqual([x.seq, w.seq])

    // A client on `there` got X and not yet W when it lost its connection; it comes back with since X.
    expect(there.feed.since(x.seq)).toEqual([w])
    expect(here.feed.since(x.seq)).toEqual([w])
    // Followed `here` (X came after W): W may be repeated, the client deduplicates by id and version.
    expect(here.feed.since(w.seq)).toEqual([x])

    // A `since` this node never had (its change was lost on the way): it cannot vouch for the gap.
    expect(here.feed.since(base + 3)).toBe('resync')
  })
})
