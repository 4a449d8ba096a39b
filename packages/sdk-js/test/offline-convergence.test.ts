import type { SyncConflictPolicy } from '@bastide/protocol'
import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BastideClient,
  memoryStore,
  type OfflineClient,
  type OfflineCollection,
  type OfflineConflict,
} from '../src/index.ts'
import { converged, enableSync, holdTransaction, settle, shape } from './fixtures/offline-support.ts'
import { type CutProxy, startCutProxy } from './support/cut-proxy.ts'
import {
  ADMIN_KEY,
  clientFor,
  createCollection,
  email,
  startServer,
  type TestServer,
} from './support/server.ts'

/**
 * Two devices edit the same records while offline, come back one after the other, and end up with the record
 * the server has, which is what the collection's conflict policy says it is (docs/offline.md, "What a conflict
 * looks like"). Each device reaches the server through a proxy of its own, cut while it is "offline": the order
 * in which their writes arrive is the test's, not the scheduler's.
 */
interface Note {
  id: string
  version: number
  title: string
  body: string
}

const FIELDS = ['title', 'body'] as const
const POLICIES: readonly SyncConflictPolicy[] = ['server_wins', 'client_wins', 'lww_field', 'function']

// Joins both titles when they differ (a result neither device wrote); a delete never goes through.
const MERGE_NOTES = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({
  on: { sync: 'merge' },
  handler(event) {
    if (event.trigger !== 'sync') return
    if (!event.server || event.client.op === 'delete') return { keep: 'server' }
    const data = { ...event.client.data }
    if (typeof data.title === 'string' && data.title !== event.server.title)
      data.title = [event.server.title, data.title].sort().join('+')
    return { data }
  },
})
`

let s: TestServer & { url: string }
let alice: SignedUp
let bob: SignedUp
const closers: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  s = await startServer()
  alice = await signUp(s, email('conv-alice'))
  bob = await signUp(s, email('conv-bob'))
  await clientFor(s, { apiKey: ADMIN_KEY }).admin.functions.deploy('merge-notes', MERGE_NOTES)
  const signedIn = "@request.auth.id != ''"
  for (const policy of POLICIES) {
    await createCollection(s, {
      name: `notes_${policy}`,
      fields: [
        { name: 'title', type: 'text' },
        { name: 'body', type: 'text' },
      ],
      rules: { list: signedIn, view: signedIn, create: signedIn, update: signedIn, delete: signedIn },
    })
    await enableSync(s, `notes_${policy}`, policy, policy === 'function' ? 'merge-notes' : undefined)
  }
})
afterAll(async () => {
  for (const close of closers.reverse()) await close()
  await s?.close()
})

interface Device {
  readonly api: BastideClient<any>
  readonly off: OfflineClient
  readonly net: CutProxy
  readonly conflicts: OfflineConflict[]
  readonly notes: OfflineCollection<Note>
}

/** A device of `user`'s, online, with the collection pulled. Sync only when the test says (no timer, no realtime). */
async function device(user: SignedUp, collection: string): Promise<Device> {
  const net = await startCutProxy(s.url)
  const api = clientFor({ url: net.url }, { apiKey: user.jwt, retry: false })
  const conflicts: OfflineConflict[] = []
  const off = api.offline({
    store: memoryStore(),
    collections: [collection],
    intervalMs: 0,
    realtime: false,
    onConflict: (c) => conflicts.push(c),
  })
  closers.push(
    () => net.close(),
    async () => api.close(),
    () => off.close(),
  )
  await off.ready
  await settle(off)
  return { api, off, net, conflicts, notes: off.collection<Note>(collection) }
}

/** What each scenario's record ends as (null: deleted) and how the server reports the second device's write. */
interface Outcome {
  readonly record: { title: string; body: string } | null
  readonly conflict: {
    outcome: 'server' | 'client' | 'merged'
    fields: string[]
    /** `current`: the version A's write left; null: the record was gone. */
    serverVersion: 'current' | null
  }
}

const ends = (
  record: [title: string, body: string] | null,
  outcome: Outcome['conflict']['outcome'],
  fields: string[] = [],
): Outcome => ({
  record: record && { title: record[0], body: record[1] },
  conflict: { outcome, fields, serverVersion: record === null && outcome === 'server' ? null : 'current' },
})
// An edit of a record deleted meanwhile is the server's under every policy: the record stays gone.
const gone = ends(null, 'server')

/**
 * The scenarios, each on a record of its own (A is the device that pushes first, B second):
 * - same: A and B both change `title` offline;
 * - disjoint: A changes `title`, B `body`;
 * - later: A changes `title` and pushes; then B, still offline on the old version, changes `title` too;
 * - deleteEdit: A deletes, B edits;
 * - editDelete: A edits, B deletes.
 */
const EXPECTED: Record<SyncConflictPolicy, Record<string, Outcome>> = {
  server_wins: {
    same: ends(['A', 'b0'], 'server', ['title']),
    disjoint: ends(['A', 'b0'], 'server'),
    later: ends(['A', 'b0'], 'server', ['title']),
    deleteEdit: gone,
    editDelete: ends(['A', 'b0'], 'server'),
  },
  client_wins: {
    same: ends(['B', 'b0'], 'client', ['title']),
    disjoint: ends(['A', 'B'], 'client'),
    later: ends(['B', 'b0'], 'client', ['title']),
    deleteEdit: gone,
    editDelete: ends(null, 'client'),
  },
  // The later edit per field: B's `title` edit made before A's push is older than the record's `updated`.
  lww_field: {
    same: ends(['A', 'b0'], 'server', ['title']),
    disjoint: ends(['A', 'B'], 'merged'),
    later: ends(['B', 'b0'], 'client', ['title']),
    deleteEdit: gone,
    editDelete: ends(['A', 'b0'], 'server'),
  },
  // merge-notes: both titles joined; a delete never goes through.
  function: {
    same: ends(['A+B', 'b0'], 'merged', ['title']),
    disjoint: ends(['A', 'B'], 'merged'),
    later: ends(['A+B', 'b0'], 'merged', ['title']),
    deleteEdit: gone,
    editDelete: ends(['A', 'b0'], 'server'),
  },
}

describe.each(POLICIES)('two devices editing offline, policy %s', (policy) => {
  it('converge on the server’s record, resolved as the policy says, and are told how', async () => {
    const collection = `notes_${policy}`
    const admin = clientFor(s, { apiKey: ADMIN_KEY }).collection<Note>(collection)
    const ids: Record<string, string> = {}
    for (const name of Object.keys(EXPECTED[policy]))
      ids[name] = (await admin.create({ title: 't0', body: 'b0' })).id
    const a = await device(alice, collection)
    const b = await device(bob, collection)
    for (const d of [a, b])
      expect(
        d.notes
          .list()
          .map((n) => n.id)
          .sort(),
      ).toEqual(Object.values(ids).sort())
    const v1 = a.notes.get(ids.same!)!.version

    a.net.cut()
    b.net.cut()
    await a.notes.update(ids.same!, { title: 'A' })
    await b.notes.update(ids.same!, { title: 'B' })
    await a.notes.update(ids.disjoint!, { title: 'A' })
    await b.notes.update(ids.disjoint!, { body: 'B' })
    await a.notes.update(ids.later!, { title: 'A' })
    await a.notes.delete(ids.deleteEdit!)
    await b.notes.update(ids.deleteEdit!, { title: 'B' })
    await a.notes.update(ids.editDelete!, { title: 'A' })
    await b.notes.delete(ids.editDelete!)
    // Optimistic: each device sees its own edits at once, and nothing of the other's.
    expect(a.notes.get(ids.same!)).toMatchObject({ title: 'A', body: 'b0' })
    expect(b.notes.get(ids.same!)).toMatchObject({ title: 'B', body: 'b0' })
    expect(a.notes.get(ids.deleteEdit!)).toBeUndefined()
    expect(b.notes.get(ids.editDelete!)).toBeUndefined()
    expect(a.off.status.pending).toBe(5)
    expect(b.off.status.pending).toBe(4)
    // The server has none of it yet.
    expect((await admin.getOne(ids.same!)).version).toBe(v1)

    a.net.restore()
    await settle(a.off)
    expect(a.conflicts).toEqual([])
    // B, still offline and still on the old version, edits after A's writes reached the server.
    await b.notes.update(ids.later!, { title: 'B' })
    b.net.restore()
    await settle(b.off)
    // Twice each, then until they hold what the server has: a pull sees a change once every transaction older
    // than it has ended, anywhere on the database server (its cursor must never skip one that commits later).
    for (const d of [a, b, a, b]) await settle(d.off)
    const server = await converged([a.off, b.off], s, collection, FIELDS)
    for (const [name, id] of Object.entries(ids)) {
      const want = EXPECTED[policy][name]!
      const rec = server.get(id)
      expect(rec ? { title: rec.title, body: rec.body } : null, name).toEqual(want.record)
    }
    for (const d of [a, b]) expect(d.off.status).toMatchObject({ state: 'online', pending: 0, error: null })

    // B's writes each conflicted (A's came first): onConflict once per record, with the policy's resolution and
    // the record as the server then had it.
    const byRecord = new Map(b.conflicts.map((c) => [c.id, c]))
    expect(b.conflicts).toHaveLength(Object.keys(ids).length)
    for (const [name, id] of Object.entries(ids)) {
      const want = EXPECTED[policy][name]!.conflict
      const got = byRecord.get(id)
      expect(got, name).toBeDefined()
      expect(got!.collection).toBe(collection)
      expect(got!.mutation.recordId).toBe(id)
      expect(got!.conflict, name).toMatchObject({ policy, outcome: want.outcome })
      expect([...got!.conflict.fields].sort(), name).toEqual(want.fields)
      if (want.serverVersion === null) expect(got!.conflict.serverVersion).toBeNull()
      else expect(got!.conflict.serverVersion).toBeGreaterThan(v1)
      expect(shape(got!.record, FIELDS), name).toEqual(shape(server.get(id), FIELDS))
    }
  })
})

describe('a device’s first pull', () => {
  it('does not keep a record it got while an older transaction ran, once the record is deleted', async () => {
    const collection = 'notes_server_wins'
    const admin = clientFor(s, { apiKey: ADMIN_KEY }).collection<Note>(collection)
    // Another client's transaction, begun before the record was made, still runs when the device first pulls:
    // the device gets the record from the records themselves, and its cursor starts below the record's create.
    const older = await holdTransaction(s)
    const early = await admin.create({ title: 'made early', body: '' })
    const d = await device(alice, collection)
    expect(d.notes.get(early.id)?.title).toBe('made early')
    // Deleted before the device pulls again: its next pull has the record's create and delete.
    await admin.delete(early.id)
    await older.release()
    await converged([d.off], s, collection, FIELDS)
    expect(d.notes.get(early.id)).toBeUndefined()
  })
})
