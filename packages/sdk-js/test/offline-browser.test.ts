import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { enableSync, serverRecords } from './fixtures/offline-support.ts'
import { type CutProxy, startCutProxy } from './support/cut-proxy.ts'
import { openSdkPage, type SdkPage } from './support/sdk-page.ts'
import {
  ADMIN_KEY,
  clientFor,
  createCollection,
  email,
  startServer,
  type TestServer,
} from './support/server.ts'

/**
 * The offline client in Chromium with its IndexedDB store: records written while the server is unreachable
 * survive a page reload with their outbox, and drain once the network is back; and what a device keeps is only
 * what its user's rules let it see.
 */
let s: TestServer & { url: string }
let net: CutProxy
let sdk: SdkPage
let page: Page
let alice: SignedUp
let bob: SignedUp

const own = 'owner = @request.auth.id'

beforeAll(async () => {
  s = await startServer()
  alice = await signUp(s, email('idb-alice'))
  bob = await signUp(s, email('idb-bob'))
  await createCollection(s, {
    name: 'memos',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
    rules: { list: own, view: own, create: own, update: own, delete: own },
  })
  await enableSync(s, 'memos', 'server_wins')
  await clientFor(s, { apiKey: ADMIN_KEY }).storage.createBucket({
    name: 'notes',
    rules: {
      read: 'owner = @request.auth.id',
      write: "@request.auth.id != ''",
      delete: 'owner = @request.auth.id',
    },
  })
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'scan', type: 'file', options: { bucket: 'notes' } },
    ],
    rules: { list: '', view: '', create: "@request.auth.id != ''", update: '', delete: '' },
  })
  await enableSync(s, 'notes', 'server_wins')
  net = await startCutProxy(s.url)
  sdk = await openSdkPage()
  page = sdk.page
})
afterAll(async () => {
  await sdk?.close()
  await net?.close()
  await s?.close()
})

interface Memo {
  id: string
  title: string
  owner: string
}

/** Opens alice's offline client in the page (as an app does at start), on its IndexedDB store. */
async function openInPage(p: Page) {
  await p.evaluate(
    async ({ url, jwt }) => {
      const B = (globalThis as any).Bastide
      await (globalThis as any).offline?.close()
      const client = B.createClient({ url, apiKey: jwt, retry: false })
      const g = globalThis as any
      g.rejections ??= []
      g.ownersSeen ??= new Set()
      const offline = client.offline({
        store: B.indexedDbStore(`memos-${jwt.slice(-12)}`),
        collections: ['memos'],
        intervalMs: 0,
        onRejected: (r: { id: string; error: { code: string } }) => g.rejections.push([r.id, r.error.code]),
      })
      await offline.ready
      // Every owner the device ever showed a record of, from now on.
      offline.collection('memos').live({}, (rows: Memo[]) => {
        for (const m of rows) g.ownersSeen.add(m.owner)
      })
      g.offline = offline
    },
    { url: net.url, jwt: alice.jwt },
  )
}

const status = () =>
  page.evaluate(
    () => (globalThis as any).offline.status as { state: string; pending: number; error: string | null },
  )
const titles = () =>
  page.evaluate(() =>
    ((globalThis as any).offline.collection('memos').list({ sort: 'title' }) as Memo[]).map((m) => m.title),
  )
const owners = () =>
  page.evaluate(() => ((globalThis as any).offline.collection('memos').list() as Memo[]).map((m) => m.owner))
const ownersSeen = () => page.evaluate(() => [...(globalThis as any).ownersSeen] as string[])

describe('offline in a browser, on IndexedDB', () => {
  it('keeps offline writes and their outbox across a reload, then drains them', async () => {
    const bobs = clientFor(s, { apiKey: bob.jwt }).collection<Memo>('memos')
    await bobs.create({ title: 'bob private 1', owner: bob.id })
    await clientFor(s, { apiKey: alice.jwt })
      .collection<Memo>('memos')
      .create({ title: 'alice online', owner: alice.id })

    await openInPage(page)
    await page.evaluate(() => (globalThis as any).offline.sync())
    await expect.poll(status).toMatchObject({ state: 'online', pending: 0, error: null })
    expect(await titles()).toEqual(['alice online'])

    net.cut()
    await page.evaluate(async (owner) => {
      const memos = (globalThis as any).offline.collection('memos')
      for (const title of ['offline 1', 'offline 2', 'offline 3']) await memos.create({ title, owner })
    }, alice.id)
    await expect.poll(status).toMatchObject({ state: 'offline', pending: 3 })
    // Bob writes meanwhile: nothing of his may ever reach alice's device.
    await bobs.create({ title: 'bob private 2', owner: bob.id })

    // The app restarts without a network: the records and the outbox come back from IndexedDB.
    await page.reload()
    expect(await page.evaluate(() => typeof (globalThis as any).offline)).toBe('undefined')
    await openInPage(page)
    expect(await titles()).toEqual(['alice online', 'offline 1', 'offline 2', 'offline 3'])
    expect((await status()).pending).toBe(3)
    await expect.poll(status).toMatchObject({ state: 'offline', pending: 3 })
    const before = await serverRecords(s, 'memos')
    expect([...before.values()].map((m) => m.title).sort()).toEqual([
      'alice online',
      'bob private 1',
      'bob private 2',
    ])

    net.restore()
    await page.evaluate(() => (globalThis as any).offline.sync())
    await expect.poll(status).toMatchObject({ state: 'online', pending: 0, error: null })
    const after = [...(await serverRecords(s, 'memos')).values()]
    expect(
      after
        .filter((m) => m.owner === alice.id)
        .map((m) => m.title)
        .sort(),
    ).toEqual(['alice online', 'offline 1', 'offline 2', 'offline 3'])
    // The device holds exactly alice's records, as the server has them.
    const local = await page.evaluate(() =>
      ((globalThis as any).offline.collection('memos').list() as { id: string; version: number }[]).map(
        (m) => [m.id, m.version],
      ),
    )
    expect(local.sort()).toEqual(
      after
        .filter((m) => m.owner === alice.id)
        .map((m) => [m.id, m.version])
        .sort(),
    )
    expect(new Set(await owners())).toEqual(new Set([alice.id]))
    expect(await ownersSeen()).toEqual([alice.id])
  })

  it('never receives a record its user may not see, even one that was visible before', async () => {
    await openInPage(page)
    const bobs = clientFor(s, { apiKey: bob.jwt }).collection<Memo>('memos')
    const alices = clientFor(s, { apiKey: alice.jwt }).collection<Memo>('memos')
    const given = await alices.create({ title: 'given away', owner: alice.id })
    await bobs.create({ title: 'bob private 3', owner: bob.id })
    await page.evaluate(() => (globalThis as any).offline.sync())
    await expect.poll(titles).toContain('given away')

    // Alice gives a memo to bob: it leaves her view, and her device drops it.
    await alices.update(given.id, { owner: bob.id })
    await page.evaluate(() => (globalThis as any).offline.sync())
    await expect.poll(titles).not.toContain('given away')
    expect((await titles()).some((t) => t.startsWith('bob'))).toBe(false)
    expect(new Set(await owners())).toEqual(new Set([alice.id]))

    // Her device cannot write it back either: the server refuses, the local change is rolled back.
    const rejected = await page.evaluate(
      async ({ id, owner }) => {
        const o = (globalThis as any).offline
        const memos = o.collection('memos')
        await memos.create({ id, title: 'taken back', owner }).catch(() => undefined)
        await o.sync()
        return memos.get(id) ?? null
      },
      { id: given.id, owner: alice.id },
    )
    expect(rejected).toBeNull()
    expect(await page.evaluate(() => (globalThis as any).rejections)).toEqual([
      [given.id, expect.any(String)],
    ])
    expect((await bobs.getOne(given.id)).title).toBe('given away')
    await expect.poll(status).toMatchObject({ pending: 0 })
    // At no point did the device show a record of bob's (given away was alice's while she saw it).
    expect(await ownersSeen()).toEqual([alice.id])
  })
})

describe('a file attached offline in a browser', () => {
  /** Opens an offline client for `notes` in the page, on IndexedDB, and syncs once. */
  const open = () =>
    page.evaluate(
      async ({ url, jwt }) => {
        const B = (globalThis as any).Bastide
        await (globalThis as any).notes?.close()
        const client = B.createClient({ url, apiKey: jwt, retry: false })
        // No realtime and no timer: nothing syncs but the calls the test makes (and the retry of a failed one).
        const notes = client.offline({
          store: B.indexedDbStore('notes'),
          collections: ['notes'],
          intervalMs: 0,
          realtime: false,
        })
        await notes.ready
        ;(globalThis as any).notes = notes
        await notes.sync()
      },
      { url: net.url, jwt: alice.jwt },
    )
  const notesStatus = () =>
    page.evaluate(
      () => (globalThis as any).notes.status as { state: string; pending: number; uploads: number },
    )

  it('keeps its bytes in IndexedDB across a reload, and uploads them once the network is back', async () => {
    await open()
    net.cut()
    const made = await page.evaluate(async () => {
      const o = (globalThis as any).notes
      const scan = o.file(new Blob(['scanned in the lift: ', 'é'.repeat(5000)], { type: 'text/plain' }), {
        name: 'scan.txt',
      })
      return (await o.collection('notes').create({ title: 'lift', scan })) as { id: string; scan: string }
    })
    await page.reload()
    await open()
    // The sync open() made may be followed by the one the start scheduled: wait for the device's state, not a sync.
    await expect.poll(notesStatus).toMatchObject({ state: 'offline', pending: 1, uploads: 1 })
    const local = await page.evaluate(async (key) => {
      const b = await (globalThis as any).notes.localFile(key)
      return b ? { blob: b instanceof Blob, text: await b.text() } : null
    }, made.scan)
    expect(local).toEqual({ blob: true, text: `scanned in the lift: ${'é'.repeat(5000)}` })

    net.restore()
    await page.evaluate(() => (globalThis as any).notes.sync())
    await expect.poll(notesStatus).toMatchObject({ state: 'online', pending: 0, uploads: 0 })
    expect((await serverRecords(s, 'notes')).get(made.id)).toMatchObject({ title: 'lift', scan: made.scan })
    const stored = await clientFor(s, { apiKey: ADMIN_KEY }).storage.from('notes').download(made.scan)
    expect(await stored.text()).toBe(`scanned in the lift: ${'é'.repeat(5000)}`)
    expect(
      await page.evaluate(async (key) => (await (globalThis as any).notes.localFile(key)) ?? null, made.scan),
    ).toBeNull()
  })
})
