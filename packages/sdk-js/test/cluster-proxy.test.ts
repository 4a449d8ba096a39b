import {
  adminPost,
  clusterRedis,
  NODE_NAMES,
  startCluster,
  stopEach,
  type TestCluster,
} from '@bastide/server/test/support/cluster.ts'
import { requireHaproxy, SERVED_BY } from '@bastide/server/test/support/cluster-proxy.ts'
import { type RecordWriter, startRecordWriter } from '@bastide/server/test/support/cluster-writer.ts'
import { ADMIN_KEY } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BastideClient, RecordChange } from '../src/index.ts'
import type { RealtimeStatus } from '../src/realtime/types.ts'
import { clientFor } from './support/server.ts'

/**
 * The SDK, as an app uses it, against three server processes behind a round-robin haproxy with no stickiness
 * and no routing of ours: its realtime connection is a WebSocket from the start (one connection, one node), so
 * it works there. The node it is on is killed with SIGKILL; the SDK reconnects through the proxy to another
 * node by itself and the app gets every change committed meanwhile, by replay, each once.
 */
// REDIS_URL when it answers; otherwise a redis-server of the test's own; skipped only when neither is there.
const redis = await clusterRedis('cluster-proxy')
const skip = redis.skip

interface Item {
  id: string
  label: string
  version: number
}

const admin = { authorization: `Bearer ${ADMIN_KEY}` }

let cluster: TestCluster | undefined
let writer: RecordWriter | undefined
let client: BastideClient<any> | undefined

beforeAll(async () => {
  if (skip) return
  // Before anything is started: a missing proxy fails the test at once, saying what to install.
  requireHaproxy()
  cluster = await startCluster({ suite: 'cluster-proxy', database: 'bst_sdkcluster', redis })
  const c = await adminPost(cluster, '/api/collections', {
    name: 'items',
    fields: [{ name: 'label', type: 'text' }],
    rules: { list: '', view: '', create: '' },
  })
  expect(c.status).toBe(201)
}, 180_000)

afterAll(
  () => stopEach('cluster-proxy', [() => client?.close(), () => writer?.stop(), () => cluster?.stop()]),
  60_000,
)

/** The nodes that accepted a WebSocket upgrade through the proxy (a 101 answer), with how many. */
async function upgradedNodes(): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const [name, s] of Object.entries(await cluster!.proxy.stats()))
    if (s.responses1xx > 0) out[name] = s.responses1xx
  return out
}

describe.skipIf(skip !== undefined)('the SDK behind a round-robin proxy, its node killed', () => {
  it('reconnects through the proxy and delivers every change committed meanwhile, each once', async () => {
    const base = cluster!.proxy.url
    // The app: the proxy's URL and nothing else (no routing header, no transport option).
    client = clientFor({ url: base })
    const got: RecordChange<Item>[] = []
    const statuses: RealtimeStatus[] = []
    let readies = 0
    client.realtime.onStatusChange((st) => statuses.push(st))
    const stop = client.collection<Item>('items').subscribe((ch) => got.push(ch), {
      onReady: () => readies++,
    })
    await expect.poll(() => readies).toBe(1)
    // One WebSocket upgrade through the proxy, on one node: that is the node to kill.
    await expect.poll(upgradedNodes).toSatisfy((u: Record<string, number>) => Object.keys(u).length === 1)
    const [[victim, upgrades]] = Object.entries(await upgradedNodes()) as [[string, number]]
    expect(upgrades).toBe(1)

    // Writes, one at a time, through the proxy (round robin over the three nodes).
    writer = startRecordWriter({ base, headers: admin, collection: 'items', servedBy: SERVED_BY })
    await expect.poll(() => writer!.acked.length).toBeGreaterThanOrEqual(20)
    await expect.poll(() => got.length).toBeGreaterThanOrEqual(10)
    expect(new Set(writer.acked.map((w) => w.node))).toEqual(new Set(NODE_NAMES))

    // SIGKILL: no goodbye to the proxy, Redis, PostgreSQL or the SDK.
    const connectionBefore = client.realtime.connectionId
    const statusesAtKill = statuses.length
    await cluster!.nodes.get(victim)!.kill()
    cluster!.nodes.delete(victim)
    // The SDK notices, and comes back by itself (socket.io's reconnection, through the proxy, to a survivor)
    // while the writer goes on.
    await expect.poll(() => statuses.slice(statusesAtKill)).toContain('connecting')
    const ackedAtDrop = writer.acked.length
    await expect.poll(() => readies, { timeout: 30_000 }).toBe(2)
    const ackedAtReady = writer.acked.length
    expect(client.realtime.status).toBe('connected')
    expect(client.realtime.connectionId).not.toBe(connectionBefore)
    // Again a WebSocket (a 101 through the proxy), now from a survivor: not long-polling, which a round-robin
    // proxy would scatter over the nodes.
    const after = await upgradedNodes()
    expect(Object.keys(after).filter((n) => n !== victim).length).toBeGreaterThanOrEqual(1)
    // Live changes follow the replayed ones.
    await expect.poll(() => writer!.acked.length).toBeGreaterThanOrEqual(ackedAtReady + 10)
    await writer.stop()

    // Every acknowledged write reaches the app exactly once: those made before the kill, while the SDK was
    // away (by replay, through the node it came back to) and after. Never a resync: the survivors' replay
    // window reaches back far enough.
    const acked = writer.acked
    const ids = () => got.map((ch) => (ch.action === 'resync' ? 'resync' : ch.record.id))
    await expect.poll(() => acked.filter((w) => !ids().includes(w.id))).toEqual([])
    expect(ids()).not.toContain('resync')
    expect(got.every((ch) => ch.action === 'create')).toBe(true)
    expect(new Set(ids()).size).toBe(got.length)
    // Beyond the acknowledged writes, the app may only have got writes that the kill cut off before their
    // answer (committed, unanswered): nothing made up, nothing from elsewhere.
    const labels = new Set(acked.map((w) => w.label))
    const unanswered = new Set(writer.failed.map((w) => w.label))
    const extra = got.filter((ch) => ch.action !== 'resync' && !labels.has(ch.record.label))
    expect(extra.filter((ch) => ch.action !== 'resync' && !unanswered.has(ch.record.label))).toEqual([])
    // No assertion on order: a change made on the subscriber's own node reaches it at once, one made on
    // another node a moment later through Redis, so two writes made one after the other on two nodes may
    // arrive in the opposite order (seen here: w-20, made on the subscriber's node, before w-19).
    // Writes did commit while the SDK was away (it waits at least half a second before reconnecting, the
    // writer does not): what this test is about happened.
    expect(acked.slice(ackedAtDrop, ackedAtReady).length).toBeGreaterThan(0)
    stop()
  }, 180_000)
})
