import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryStore, type OfflineClient, type OfflineStatus } from '../src/index.ts'
import { converged, enableSync, serverRecords, settle } from './fixtures/offline-support.ts'
import { startCutProxy } from './support/cut-proxy.ts'
import {
  ADMIN_KEY,
  clientFor,
  createCollection,
  email,
  startServer,
  type TestServer,
} from './support/server.ts'

/**
 * A device whose network goes away and comes back, through a proxy that cuts every connection (and refuses new
 * ones) and restores them: writes made meanwhile wait in the outbox and drain when it is back, a push whose
 * answer was lost is applied once, and the server's changes made while the device was away arrive by realtime.
 */
interface Task {
  id: string
  version: number
  title: string
  done: boolean
}

const FIELDS = ['title', 'done'] as const
const PUSH = '/api/sync/push'

let s: TestServer & { url: string }
let user: SignedUp
const closers: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  s = await startServer()
  user = await signUp(s, email('net'))
  const signedIn = "@request.auth.id != ''"
  for (const name of ['tasks_drain', 'tasks_once', 'tasks_live']) {
    await createCollection(s, {
      name,
      fields: [
        { name: 'title', type: 'text' },
        { name: 'done', type: 'bool' },
      ],
      rules: { list: signedIn, view: signedIn, create: signedIn, update: signedIn, delete: signedIn },
    })
    await enableSync(s, name, 'server_wins')
  }
})
afterAll(async () => {
  for (const close of closers.reverse()) await close()
  await s?.close()
})

async function device(collection: string, o: { realtime: boolean }) {
  const net = await startCutProxy(s.url)
  const api = clientFor({ url: net.url }, { apiKey: user.jwt, retry: false })
  const off = api.offline({
    store: memoryStore(),
    collections: [collection],
    intervalMs: 0,
    realtime: o.realtime,
  })
  closers.push(
    () => net.close(),
    async () => api.close(),
    () => off.close(),
  )
  const statuses: OfflineStatus[] = []
  off.onStatus((st) => statuses.push(st))
  await off.ready
  await settle(off)
  return { api, off, net, statuses, tasks: off.collection<Task>(collection) }
}

const admin = (collection: string) => clientFor(s, { apiKey: ADMIN_KEY }).collection<Task>(collection)

const expectSameAsServer = (off: OfflineClient, collection: string) => converged([off], s, collection, FIELDS)

describe('a device that loses its network', () => {
  it('keeps writing offline, then drains its outbox once the network is back', async () => {
    const { off, net, statuses, tasks } = await device('tasks_drain', { realtime: true })
    const keep = await tasks.create({ title: 'keep', done: false })
    const gone = await tasks.create({ title: 'gone', done: false })
    await settle(off)
    expect((await serverRecords(s, 'tasks_drain')).size).toBe(2)

    net.cut()
    const seen = statuses.length
    const made = [await tasks.create({ title: 'offline 1', done: false })]
    await expect.poll(() => off.status.state).toBe('offline')
    made.push(await tasks.create({ title: 'offline 2', done: true }))
    await tasks.update(keep.id, { done: true })
    await tasks.delete(gone.id)
    expect(off.status).toMatchObject({ state: 'offline', pending: 4 })
    // The count rose write by write.
    const pendings = statuses.slice(seen).map((st) => st.pending)
    expect([1, 2, 3, 4].every((n) => pendings.includes(n))).toBe(true)
    // The device shows its writes; the server has none of them.
    expect(tasks.list({ sort: 'title' }).map((t) => [t.title, t.done])).toEqual([
      ['keep', true],
      ['offline 1', false],
      ['offline 2', true],
    ])
    const before = await serverRecords(s, 'tasks_drain')
    expect([...before.values()].map((t) => [t.title, t.done]).sort()).toEqual([
      ['gone', false],
      ['keep', false],
    ])

    net.restore()
    const back = statuses.length
    await off.sync()
    await expect.poll(() => off.status).toMatchObject({ state: 'online', pending: 0, error: null })
    const after = statuses.slice(back).map((st) => st.state)
    expect(after).toContain('syncing')
    expect(after.indexOf('syncing')).toBeLessThan(after.lastIndexOf('online'))
    expect(after.at(-1)).toBe('online')
    expect(off.status.lastSyncAt).not.toBeNull()

    const server = await expectSameAsServer(off, 'tasks_drain')
    expect([...server.values()].map((t) => [t.title, t.done]).sort()).toEqual([
      ['keep', true],
      ['offline 1', false],
      ['offline 2', true],
    ])
    // The server kept the device's ids: the records it shows are the ones it made.
    for (const m of made) expect(server.get(m.id)).toMatchObject({ title: m.title, version: 1 })
  })

  it('applies a push whose answer was lost exactly once, when it is sent again', async () => {
    const { off, net, tasks } = await device('tasks_once', { realtime: false })

    // The create reaches the server and is applied; its answer is lost when the network goes.
    const held = net.holdResponse('POST', PUSH)
    const pushes = net.count('POST', PUSH)
    const t = await tasks.create({ title: 'once', done: false })
    await held.answered
    net.cut()
    await expect.poll(() => off.status.state).toBe('offline')
    expect(off.status.pending).toBe(1)
    expect((await admin('tasks_once').getOne(t.id)).version).toBe(1)

    net.restore()
    await settle(off)
    // Sent again with the same mutation id: the server answered with the first result and wrote nothing (a
    // second create of that id would have been an update: version 2).
    expect(net.count('POST', PUSH)).toBeGreaterThanOrEqual(pushes + 2)
    const server = await expectSameAsServer(off, 'tasks_once')
    expect([...server.values()].map((r) => [r.id, r.title, r.version])).toEqual([[t.id, 'once', 1]])

    // The same for an update: one new version, not two.
    const heldUpdate = net.holdResponse('POST', PUSH)
    await tasks.update(t.id, { done: true })
    await heldUpdate.answered
    net.cut()
    await expect.poll(() => off.status.state).toBe('offline')
    net.restore()
    await settle(off)
    expect(await admin('tasks_once').getOne(t.id)).toMatchObject({ done: true, version: 2 })
    expect(tasks.get(t.id)).toMatchObject({ done: true, version: 2 })
  })

  it('pulls what changed on the server while it was away, when realtime comes back', async () => {
    const old = await admin('tasks_live').create({ title: 'old', done: false })
    const { api, off, net, tasks } = await device('tasks_live', { realtime: true })
    expect(tasks.get(old.id)?.title).toBe('old')
    // From here on the test never calls sync(): realtime tells the device.
    await heard(tasks, old.id)

    net.cut()
    await expect.poll(() => api.realtime.status).not.toBe('connected')
    const made = await admin('tasks_live').create({ title: 'while away', done: false })
    await admin('tasks_live').update(old.id, { title: 'old, edited' })
    expect(tasks.get(made.id)).toBeUndefined()

    net.restore()
    await expect.poll(() => tasks.get(made.id)?.title).toBe('while away')
    await expect.poll(() => tasks.get(old.id)?.title).toBe('old, edited')
    // And changes after the reconnection keep coming.
    const next = await admin('tasks_live').create({ title: 'after', done: true })
    await expect.poll(() => tasks.get(next.id)?.title).toBe('after')
    await expect.poll(() => off.status.pending).toBe(0)
    await expectSameAsServer(off, 'tasks_live')
  })
})

/**
 * Resolves once the device pulled a change it learnt of by realtime: the record is touched until the device
 * shows it (a change made before its subscription was in place is never announced).
 */
async function heard(tasks: { get(id: string): Task | undefined }, id: string) {
  for (let i = 0; i < 10; i++) {
    await admin('tasks_live').update(id, { done: i % 2 === 0 })
    const want = i % 2 === 0
    const ok = await expect
      .poll(() => tasks.get(id)?.done, { timeout: 3000 })
      .toBe(want)
      .then(
        () => true,
        () => false,
      )
    if (ok) return
  }
  throw new Error('the device never pulled a change announced by realtime')
}
