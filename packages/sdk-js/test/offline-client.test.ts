import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { enableSync } from '@bastide/server/test/support/sync.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FetchLike } from '../src/http.ts'
import {
  memoryStore,
  type OfflineClient,
  type OfflineConflict,
  type OfflineOptions,
  type OfflineRejection,
  type OfflineStatus,
} from '../src/index.ts'
import { fileStore } from '../src/offline-node.ts'
import { clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

interface Todo {
  id: string
  title: string
  done: boolean
  rank: number
  version: number
}

let s: TestServer & { url: string }
beforeAll(async () => {
  s = await startServer()
  for (const name of ['todos', 'notes']) {
    await createCollection(s, {
      name,
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'done', type: 'bool' },
        { name: 'rank', type: 'number' },
      ],
      rules: { list: '', view: '', create: '', update: '', delete: '' },
    })
  }
  await enableSync(s, 'todos', 'server_wins')
  await enableSync(s, 'notes', 'server_wins')
})
afterAll(() => s?.close())

const dir = mkdtempSync(path.join(tmpdir(), 'bastide-offline-client-'))

/** A fetch with a switch: off, every request fails as a dropped connection does. */
function network() {
  const net = { online: true }
  const fetch: FetchLike = (input, init) =>
    net.online ? globalThis.fetch(input, init) : Promise.reject(new TypeError('fetch failed'))
  return Object.assign(net, { fetch })
}

const opened: { close(): Promise<void> }[] = []
afterAll(async () => {
  for (const c of opened) await c.close()
})

/** A device signed in as a guest (a push needs a credential), syncing the given collections. */
async function device(opts: Partial<OfflineOptions> & { fetch?: FetchLike } = {}) {
  const client = clientFor(s, { retry: false, ...(opts.fetch ? { fetch: opts.fetch } : {}) })
  await client.auth.signInAnonymously()
  const off = client.offline({
    store: opts.store ?? memoryStore(),
    collections: opts.collections ?? ['todos'],
    intervalMs: 0,
    realtime: false,
    ...opts,
  })
  opened.push(off, client)
  return { client, off }
}

/** The server's copy, as the admin sees it (null: gone). */
async function onServer(collection: string, id: string): Promise<Record<string, unknown> | null> {
  const r = await s.api('GET', `/api/collections/${collection}/records/${id}`)
  return r.status === 200 ? r.body : null
}

/** Syncs until `check` holds: the change log shows a commit once older transactions on the cluster end. */
async function syncUntil(off: OfflineClient, check: () => boolean): Promise<void> {
  await expect
    .poll(async () => {
      await off.sync()
      return check()
    })
    .toBe(true)
}

describe('client.offline', () => {
  it('writes offline at once, and lands them on the server when the network returns', async () => {
    const net = network()
    const { off } = await device({ fetch: net.fetch })
    await off.ready
    const todos = off.collection<Todo>('todos')
    await off.sync()
    net.online = false

    const a = await todos.create({ title: 'buy milk', done: false, rank: 1 })
    expect(a).toMatchObject({ title: 'buy milk', version: 0 })
    expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/)
    const b = await todos.create({ title: 'walk dog', rank: 2 })
    await todos.update(a.id, { done: true })
    await todos.delete(b.id)
    const c = await todos.create({ title: 'call mum', rank: 3 })
    expect(todos.get(a.id)).toMatchObject({ title: 'buy milk', done: true })
    expect(todos.get(b.id)).toBeUndefined()
    expect(todos.list({ sort: 'rank' }).map((t) => t.title)).toEqual(['buy milk', 'call mum'])
    // The update went into the unsent create, and the deleted create was never queued: two writes.
    expect(off.status.pending).toBe(2)

    await off.sync()
    expect(off.status).toMatchObject({ state: 'offline', pending: 2 })
    expect(await onServer('todos', a.id)).toBeNull()

    net.online = true
    await off.sync()
    expect(off.status).toMatchObject({ state: 'online', pending: 0, error: null })
    expect(await onServer('todos', a.id)).toMatchObject({ title: 'buy milk', done: true, version: 1 })
    expect(await onServer('todos', c.id)).toMatchObject({ title: 'call mum', version: 1 })
    expect(await onServer('todos', b.id)).toBeNull()
    expect(todos.get(a.id)).toMatchObject({ title: 'buy milk', done: true, version: 1 })
  })

  it('edits and deletes records pulled from the server while offline, with their base versions', async () => {
    const other = clientFor(s).collection<Todo>('todos')
    const x = await other.create({ title: 'x', rank: 1 })
    const y = await other.create({ title: 'y', rank: 2 })
    const net = network()
    const { off } = await device({ fetch: net.fetch })
    const todos = off.collection<Todo>('todos')
    await syncUntil(off, () => todos.get(x.id) !== undefined && todos.get(y.id) !== undefined)

    net.online = false
    await todos.update(x.id, { title: 'x offline' })
    await todos.update(x.id, { rank: 10 })
    await todos.delete(y.id)
    expect(todos.get(x.id)).toMatchObject({ title: 'x offline', rank: 10, version: 1 })
    expect(off.status.pending).toBe(3)

    net.online = true
    await off.sync()
    expect(off.status).toMatchObject({ state: 'online', pending: 0 })
    // Both edits applied in order: the second one on the version the first came back with.
    expect(await onServer('todos', x.id)).toMatchObject({ title: 'x offline', rank: 10, version: 3 })
    expect(await onServer('todos', y.id)).toBeNull()
  })

  it("pulls another client's creates, updates and deletes, and live queries follow", async () => {
    const { off } = await device({ collections: { notes: { filter: 'done = false' } } })
    const notes = off.collection<Todo>('notes')
    const seen: string[][] = []
    const stop = notes.live({ filter: 'rank >= 5', sort: '-rank' }, (rows) =>
      seen.push(rows.map((r) => r.title)),
    )
    expect(seen).toEqual([[]])

    const other = clientFor(s).collection<Todo>('notes')
    const hi = await other.create({ title: 'high', rank: 9, done: false })
    const lo = await other.create({ title: 'low', rank: 1, done: false })
    const gone = await other.create({ title: 'gone', rank: 7, done: false })
    await syncUntil(off, () => notes.list().length === 3)
    expect(seen.at(-1)).toEqual(['high', 'gone'])

    await other.update(hi.id, { title: 'higher' })
    await other.delete(gone.id)
    // Out of the declared filter: it leaves the device.
    await other.update(lo.id, { done: true })
    await syncUntil(off, () => notes.get(gone.id) === undefined && notes.get(lo.id) === undefined)
    await syncUntil(off, () => notes.get(hi.id)?.title === 'higher')
    expect(notes.list().map((n) => n.title)).toEqual(['higher'])
    expect(seen.at(-1)).toEqual(['higher'])
    stop()
    const calls = seen.length
    await other.update(hi.id, { title: 'highest' })
    await syncUntil(off, () => notes.get(hi.id)?.title === 'highest')
    expect(seen).toHaveLength(calls)
  })

  it('reports its status: syncing, offline with what is pending, online again', async () => {
    const net = network()
    const { off } = await device({ fetch: net.fetch })
    await off.ready
    const states: OfflineStatus[] = []
    off.onStatus((st) => states.push(st))
    net.online = false
    await off.collection<Todo>('todos').create({ title: 'status', rank: 0 })
    await off.sync()
    expect(off.status).toMatchObject({ state: 'offline', pending: 1 })
    net.online = true
    await off.sync()
    expect(off.status).toMatchObject({ state: 'online', pending: 0, error: null })
    expect(off.status.lastSyncAt).not.toBeNull()
    const seq = states.map((st) => st.state).filter((st, i, all) => st !== all[i - 1])
    expect(seq).toContain('offline')
    expect(seq.slice(seq.lastIndexOf('offline'))).toEqual(['offline', 'syncing', 'online'])
    expect(states.some((st) => st.pending === 1)).toBe(true)
  })

  it('keeps server errors in status.error and the outbox until they clear', async () => {
    const { off } = await device({ collections: ['todos', 'unsynced'] })
    await createCollection(s, {
      name: 'unsynced',
      fields: [{ name: 'title', type: 'text' }],
      rules: { list: '', view: '', create: '', update: '', delete: '' },
    })
    await off.sync()
    expect(off.status.state).toBe('online')
    expect(off.status.error).toMatch(/SYNC_DISABLED/)
    await enableSync(s, 'unsynced', 'server_wins')
    await off.sync()
    expect(off.status.error).toBeNull()
  })

  it('rolls back a write the server refuses, and tells onRejected', async () => {
    const rejected: OfflineRejection[] = []
    const { off } = await device({ onRejected: (r) => rejected.push(r) })
    const todos = off.collection<Todo>('todos')
    const bad = await todos.create({ rank: 1 } as Partial<Todo>)
    expect(todos.get(bad.id)).toBeDefined()
    await off.sync()
    expect(todos.get(bad.id)).toBeUndefined()
    expect(off.status.pending).toBe(0)
    expect(rejected).toHaveLength(1)
    expect(rejected[0]).toMatchObject({ collection: 'todos', id: bad.id, record: null })
    expect(rejected[0]!.error.code).toBe('VALIDATION_FAILED')
  })

  it('takes the server copy when the policy resolves a conflict, and tells onConflict', async () => {
    const conflicts: OfflineConflict[] = []
    const net = network()
    const { off } = await device({ fetch: net.fetch, onConflict: (c) => conflicts.push(c) })
    const todos = off.collection<Todo>('todos')
    const other = clientFor(s).collection<Todo>('todos')
    const t = await other.create({ title: 'shared', rank: 1 })
    await syncUntil(off, () => todos.get(t.id) !== undefined)
    net.online = false
    await todos.update(t.id, { title: 'mine' })
    await other.update(t.id, { title: 'theirs' })
    net.online = true
    await off.sync()
    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({ id: t.id, conflict: { policy: 'server_wins', outcome: 'server' } })
    expect(todos.get(t.id)).toMatchObject({ title: 'theirs', version: 2 })
    expect(await onServer('todos', t.id)).toMatchObject({ title: 'theirs', version: 2 })
  })

  it('keeps records and the outbox in a file store across a restart', async () => {
    const file = path.join(dir, 'device.json')
    const net = network()
    const first = await device({ fetch: net.fetch, store: fileStore(file) })
    const todos = first.off.collection<Todo>('todos')
    const kept = await clientFor(s).collection<Todo>('todos').create({ title: 'kept', rank: 1 })
    await syncUntil(first.off, () => todos.get(kept.id) !== undefined)
    net.online = false
    const made = await todos.create({ title: 'made offline', rank: 2 })
    await todos.update(kept.id, { title: 'kept, edited offline' })
    await first.off.close()
    await first.client.close()

    const second = await device({ store: fileStore(file) })
    await second.off.ready
    const again = second.off.collection<Todo>('todos')
    expect(second.off.status.pending).toBe(2)
    expect(again.get(made.id)).toMatchObject({ title: 'made offline', version: 0 })
    expect(again.get(kept.id)).toMatchObject({ title: 'kept, edited offline', version: 1 })
    await second.off.sync()
    expect(second.off.status).toMatchObject({ state: 'online', pending: 0 })
    expect(await onServer('todos', made.id)).toMatchObject({ title: 'made offline' })
    expect(await onServer('todos', kept.id)).toMatchObject({ title: 'kept, edited offline', version: 2 })
  })

  it('clear() empties the store (records, queued writes, cursors, client id) and syncs from scratch after', async () => {
    const file = path.join(dir, 'shared-device.json')
    const net = network()
    const { off } = await device({
      fetch: net.fetch,
      store: fileStore(file),
      collections: ['todos', 'notes'],
    })
    const todos = off.collection<Todo>('todos')
    const online = await clientFor(s).collection<Todo>('todos').create({ title: 'on the server', rank: 1 })
    await syncUntil(off, () => todos.get(online.id) !== undefined)
    const rows: Todo[][] = []
    todos.live({}, (r) => rows.push(r))
    net.online = false
    const lost = await todos.create({ title: 'never sent', rank: 2 })
    await off.collection<Todo>('notes').create({ title: 'a note never sent', rank: 3 })
    expect(off.status.pending).toBe(2)

    await off.clear()
    expect(todos.list()).toEqual([])
    expect(off.collection<Todo>('notes').list()).toEqual([])
    expect(rows.at(-1)).toEqual([])
    expect(off.status).toMatchObject({ pending: 0, uploads: 0, lastSyncAt: null })
    await off.close()
    // Nothing of it is left in the store either.
    const store = fileStore(file)
    const snap = await store.load()
    await store.close()
    expect(snap.records).toEqual({})
    expect(snap.outbox).toEqual([])
    expect(Object.keys(snap.meta)).toEqual(['clientId'])

    // Opened again online: a pull from scratch brings the server's records; the write never sent is gone for good.
    const again = await device({ store: fileStore(file), collections: ['todos', 'notes'] })
    const todosAgain = again.off.collection<Todo>('todos')
    await syncUntil(again.off, () => todosAgain.get(online.id) !== undefined)
    expect(todosAgain.get(lost.id)).toBeUndefined()
    expect(await onServer('todos', lost.id)).toBeNull()
  })

  it('starts a collection over when the server no longer takes its cursor', async () => {
    const store = memoryStore()
    const first = await device({ store })
    const todos = first.off.collection<Todo>('todos')
    const kept = await clientFor(s).collection<Todo>('todos').create({ title: 'still here', rank: 1 })
    await syncUntil(first.off, () => todos.get(kept.id) !== undefined)
    await first.off.close()
    // A cursor from elsewhere (another server's secret, say): the server answers 400 INVALID_CURSOR.
    await store.write({ meta: { 'pull:todos': { filter: '', cursor: 'c2lnbmVkIGVsc2V3aGVyZQ' } } })

    const second = await device({ store })
    await second.off.sync()
    expect(second.off.status).toMatchObject({ state: 'online', error: null })
    expect(second.off.collection<Todo>('todos').get(kept.id)).toMatchObject({ title: 'still here' })
  })

  it('close() ends at once even while a request never settles (a fetch that ignores its abort signal)', async () => {
    let hang = false
    let started!: () => void
    const sent = new Promise<void>((r) => {
      started = r
    })
    const fetch: FetchLike = (input, init) => {
      if (!hang) return globalThis.fetch(input, init)
      started()
      return new Promise<Response>(() => {})
    }
    const { off } = await device({ fetch })
    await off.sync()
    hang = true
    const syncing = off.sync()
    await sent
    await off.close()
    // The sync that was under way ends with the client (nothing awaits the request any more).
    await syncing
  })

  it('pulls on its own when realtime announces a change', async () => {
    // The subscription must be live before the change, or nothing announces it (a pull when it becomes live
    // would find it, or not yet: the change log shows a commit once older transactions on the cluster end).
    const client = clientFor(s, { retry: false })
    await client.auth.signInAnonymously()
    const subscribe = client.realtime.subscribe.bind(client.realtime)
    const live = new Promise<void>((resolve) => {
      client.realtime.subscribe = (target, cb, o = {}) =>
        subscribe(target, cb, {
          ...o,
          onReady: () => {
            o.onReady?.()
            resolve()
          },
        })
    })
    const off = client.offline({
      store: memoryStore(),
      collections: ['todos'],
      intervalMs: 0,
      realtime: true,
    })
    opened.push(off, client)
    const todos = off.collection<Todo>('todos')
    await off.ready
    await live
    await off.sync()
    const t = await clientFor(s).collection<Todo>('todos').create({ title: 'announced', rank: 1 })
    // No sync() here: the announcement alone brings it (within the SDK's ~20 s of rechecks on a busy cluster).
    await expect.poll(() => todos.get(t.id)?.title, { timeout: 30_000 }).toBe('announced')
  })
})
