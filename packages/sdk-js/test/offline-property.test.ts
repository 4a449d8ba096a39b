import type { SyncConflictPolicy } from '@bastide/protocol'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryStore, type OfflineClient } from '../src/index.ts'
import {
  converged,
  enableSync,
  networkGate,
  type PushExchange,
  settle,
  shape,
} from './fixtures/offline-support.ts'
import { clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

/**
 * Random interleavings of offline creates, updates and deletes on N devices, each online only at random sync
 * points (one at a time, so the order in which the server applies their writes is known from the answers).
 * Once every device has pushed everything and pulled: every device holds exactly the server's records, no
 * acknowledged write is lost, and no record was created twice.
 */
interface Item {
  id: string
  version: number
  title: string
  n: number
}

const FIELDS = ['title', 'n'] as const

type Op =
  | { readonly device: number; readonly kind: 'create'; readonly title: string; readonly n: number }
  | {
      readonly device: number
      readonly kind: 'update'
      readonly pick: number
      readonly title?: string
      readonly n?: number
    }
  | { readonly device: number; readonly kind: 'delete'; readonly pick: number }
  | { readonly device: number; readonly kind: 'sync' }

const title = fc.constantFrom('a', 'b', 'c', 'd')
const num = fc.integer({ min: 0, max: 9 })
const device = fc.nat({ max: 2 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ device, kind: fc.constant('create' as const), title, n: num }) },
  {
    weight: 4,
    arbitrary: fc.record(
      { device, kind: fc.constant('update' as const), pick: fc.nat(), title, n: num },
      { requiredKeys: ['device', 'kind', 'pick'] },
    ),
  },
  { weight: 2, arbitrary: fc.record({ device, kind: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ device, kind: fc.constant('sync' as const) }) },
)
const scenario = fc.record({
  devices: fc.integer({ min: 2, max: 3 }),
  ops: fc.array(op, { minLength: 6, maxLength: 24, size: 'max' }),
})

let s: TestServer & { url: string }
let runs = 0

beforeAll(async () => {
  s = await startServer()
})
afterAll(async () => {
  await s?.close()
})

interface Device {
  readonly off: OfflineClient
  readonly gate: ReturnType<typeof networkGate>
  close(): Promise<void>
}

async function devices(count: number, collection: string, log: PushExchange[]): Promise<Device[]> {
  const out: Device[] = []
  for (let i = 0; i < count; i++) {
    const gate = networkGate(i, log)
    const api = clientFor(s, { fetch: gate.fetch, retry: false })
    // A push needs a credential: each device is a guest (the rules let anyone write), signed in before it goes offline.
    gate.online()
    await api.auth.signInAnonymously()
    await gate.offline()
    const off = api.offline({
      store: memoryStore(),
      collections: [collection],
      intervalMs: 0,
      realtime: false,
    })
    await off.ready
    out.push({
      off,
      gate,
      async close() {
        await off.close()
        api.close()
      },
    })
  }
  return out
}

/** The device is online for one sync, then offline again (nothing of it in flight). */
async function syncPoint(d: Device) {
  d.gate.online()
  await d.off.sync()
  await d.gate.offline()
}

async function play(policy: SyncConflictPolicy, n: number, ops: readonly Op[]) {
  const collection = `items_${runs++}`
  await createCollection(s, {
    name: collection,
    fields: [
      { name: 'title', type: 'text' },
      { name: 'n', type: 'number' },
    ],
    rules: { list: '', view: '', create: '', update: '', delete: '' },
  })
  await enableSync(s, collection, policy)
  // Records every device starts with: what their offline edits conflict over.
  const seeded = new Set<string>()
  for (const t of ['x', 'y', 'z']) {
    const r = await s.api('POST', `/api/collections/${collection}/records`, { title: t, n: 0 })
    expect(r.status).toBe(201)
    seeded.add(r.body.id)
  }
  const log: PushExchange[] = []
  const ds = await devices(n, collection, log)
  try {
    for (const d of ds) await syncPoint(d)
    const perDevice = new Array<number>(n).fill(0)
    for (const o of ops) {
      const d = ds[o.device % n]!
      // At most 8 operations per device.
      if (perDevice[o.device % n]!++ >= 8) continue
      const items = d.off.collection<Item>(collection)
      const ids = items
        .list()
        .map((r) => r.id)
        .sort()
      if (o.kind === 'sync') await syncPoint(d)
      else if (o.kind === 'create') await items.create({ title: o.title, n: o.n })
      else if (ids.length === 0) continue
      else if (o.kind === 'update') {
        const patch: Partial<Item> = {}
        if (o.title !== undefined) patch.title = o.title
        if (o.n !== undefined) patch.n = o.n
        await items.update(ids[o.pick % ids.length]!, patch)
      } else await items.delete(ids[o.pick % ids.length]!)
    }
    // Everyone pushes everything, one after the other; then everyone pulls what the others pushed.
    for (const d of ds) {
      d.gate.online()
      await settle(d.off)
      await d.gate.offline()
    }
    // Nothing is left to push: every device online at once only pulls.
    for (const d of ds) d.gate.online()
    const server = await converged(
      ds.map((d) => d.off),
      s,
      collection,
      FIELDS,
    )
    for (const d of ds) expect(d.off.status.pending).toBe(0)
    checkHistory(policy, log, server, seeded)
  } finally {
    for (const d of ds) await d.close()
  }
}

/**
 * What the answers say against what the server holds. Pushes never overlap (one device online at a time), so
 * the log is the order the server applied them in; a mutation answered twice (a retry) counts where it was
 * first applied.
 */
function checkHistory(
  policy: SyncConflictPolicy,
  log: readonly PushExchange[],
  server: Map<string, any>,
  seeded: ReadonlySet<string>,
) {
  const first = new Map<string, { mutation: any; result: any }>()
  const history: { mutation: any; result: any }[] = []
  for (const x of log)
    x.request.mutations.forEach((m, i) => {
      const result = x.response.results[i]
      expect(result.id).toBe(m.id)
      const key = `${x.request.clientId}/${m.id}`
      if (first.has(key)) return
      first.set(key, { mutation: m, result })
      history.push({ mutation: m, result })
    })

  const byRecord = new Map<string, { mutation: any; result: any }[]>()
  for (const h of history)
    byRecord.set(h.mutation.recordId, [...(byRecord.get(h.mutation.recordId) ?? []), h])
  // Nothing on the server that no push made (but the records every device started with).
  for (const id of server.keys())
    if (!seeded.has(id)) expect(byRecord.has(id), `record ${id} came from nowhere`).toBe(true)

  for (const [id, writes] of byRecord) {
    // No record created twice.
    expect(
      writes.filter((w) => w.mutation.op === 'create' && w.result.status === 'applied').length,
    ).toBeLessThanOrEqual(1)
    // The server holds what the last answer about the record said it holds (pushes are the only writers since
    // the devices started).
    const last = writes.at(-1)!
    expect(shape(server.get(id), FIELDS), `record ${id}`).toEqual(shape(last.result.record, FIELDS))
    // No acknowledged write lost: the last write that took effect is what the server shows.
    const effective = writes.filter((w) => w.result.status === 'applied' || w.result.status === 'resolved')
    const lastApplied = effective.at(-1)
    if (lastApplied?.result.status === 'applied') {
      const { op, data } = lastApplied.mutation
      if (op === 'delete') expect(server.has(id), `deleted ${id}`).toBe(false)
      else expect(server.get(id), `${op} ${id}`).toMatchObject(data ?? {})
    }
    for (const w of writes) {
      expect(w.result.status, JSON.stringify(w.result.error ?? null)).not.toBe('rejected')
      if (w.result.status !== 'resolved') continue
      expect(w.result.conflict.policy).toBe(policy)
      // server_wins writes nothing of a conflicting write: the record stays at the version it was found at.
      if (policy === 'server_wins') {
        expect(w.result.conflict.outcome).toBe('server')
        expect(w.result.record?.version ?? null).toBe(w.result.conflict.serverVersion)
      }
    }
  }
}

describe.each([
  ['server_wins', 10],
  ['lww_field', 10],
] as const)('random offline edits on 2-3 devices, policy %s', (policy, numRuns) => {
  it('converge on the server’s records, losing no acknowledged write and duplicating none', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, ({ devices: n, ops }) => play(policy, n, ops)),
      { numRuns, endOnFailure: true },
    )
  })
})
