import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FetchLike } from '../src/http.ts'
import {
  BastideError,
  memoryStore,
  type OfflineClient,
  type OfflineRejection,
  type OfflineStore,
} from '../src/index.ts'
import { fileStore } from '../src/offline-node.ts'
import { enableSync, serverRecords, settle } from './fixtures/offline-support.ts'
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
 * Files attached to records offline: kept on the device with the write, uploaded with tus when the network is back
 * (and resumed from where a cut left them, by a client started again on the same store) before the write that
 * names them is pushed; a file the bucket refuses rolls its write back, and a write the server refuses after its
 * file was uploaded leaves no object behind.
 */
interface Snap {
  id: string
  version: number
  title: string
  photo: string
  gallery: string[]
  thumb: string
}

const UPLOADS = '/api/storage/uploads'
const dir = mkdtempSync(path.join(tmpdir(), 'bastide-offline-files-'))
let n = 0

let s: TestServer & { url: string }
let user: SignedUp
const closers: (() => Promise<unknown>)[] = []
const admin = () => clientFor(s, { apiKey: ADMIN_KEY })

beforeAll(async () => {
  s = await startServer()
  user = await signUp(s, email('files'))
  await admin().storage.createBucket({
    name: 'snaps',
    rules: {
      read: 'owner = @request.auth.id',
      write: "@request.auth.id != ''",
      delete: 'owner = @request.auth.id',
    },
  })
  await admin().storage.createBucket({
    name: 'tiny',
    maxFileSize: 1024,
    rules: { read: '', write: "@request.auth.id != ''", delete: '' },
  })
  const signedIn = "@request.auth.id != ''"
  await createCollection(s, {
    name: 'snaps',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'photo', type: 'file', options: { bucket: 'snaps' } },
      { name: 'gallery', type: 'file', options: { bucket: 'snaps', multiple: true } },
      { name: 'thumb', type: 'file', options: { bucket: 'tiny' } },
    ],
    rules: {
      list: signedIn,
      view: signedIn,
      create: `${signedIn} && @request.body.title != 'forbidden'`,
      update: signedIn,
      delete: signedIn,
    },
  })
  await enableSync(s, 'snaps', 'server_wins')
})
afterAll(async () => {
  for (const close of closers.reverse()) await close()
  await s?.close()
})

/** A device behind a proxy that can cut its network, on `store`, signed in as the user, synced once. */
async function device(
  store: OfflineStore,
  o: { fetch?: FetchLike; chunk?: number; onRejected?: (r: OfflineRejection) => void } = {},
) {
  const net = await startCutProxy(s.url)
  const api = clientFor({ url: net.url }, { apiKey: user.jwt, retry: false, fetch: o.fetch })
  const off = api.offline({
    store,
    collections: ['snaps'],
    intervalMs: 0,
    realtime: false,
    uploadChunkSize: o.chunk,
    onRejected: o.onRejected,
  })
  closers.push(
    () => net.close(),
    async () => api.close(),
    () => off.close(),
  )
  await off.ready
  await settle(off)
  return { api, off, net, snaps: off.collection<Snap>('snaps') }
}

async function objectBytes(key: string): Promise<Uint8Array> {
  return new Uint8Array(await (await admin().storage.from('snaps').download(key)).arrayBuffer())
}

async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await admin().storage.from(bucket).info(key)
    return true
  } catch (e) {
    if (e instanceof BastideError && e.status === 404) return false
    throw e
  }
}

const bytesOf = async (v: Blob | Uint8Array | undefined) =>
  v === undefined
    ? undefined
    : v instanceof Uint8Array
      ? new Uint8Array(v)
      : new Uint8Array(await v.arrayBuffer())

async function syncOnline(off: OfflineClient) {
  await settle(off)
  expect(off.status.uploads).toBe(0)
}

describe('files attached offline', () => {
  it('wait on the device, then are uploaded before the write that names them is pushed', async () => {
    const file = path.join(dir, `device-${n++}.json`)
    const { off, net, snaps } = await device(fileStore(file))
    const photo = randomBytes(70_000)
    const pages = [randomBytes(1000), randomBytes(2000)]
    net.cut()

    const made = await snaps.create({
      title: 'in a tunnel',
      photo: off.file(new Blob([photo], { type: 'image/jpeg' }), { name: 'tunnel shot.jpg' }) as never,
      gallery: [off.file(pages[0]!, { name: 'a.bin' }), off.file(pages[1]!, { name: 'b.bin' })] as never,
    })
    // The field holds the key the object will have; the bytes are on the device meanwhile.
    expect(made.photo).toMatch(new RegExp(`^snaps/${made.id}/photo/[0-9a-f-]{36}-tunnel_shot\\.jpg$`))
    expect(made.gallery).toHaveLength(2)
    expect(await bytesOf(await off.localFile(made.photo))).toEqual(new Uint8Array(photo))
    expect(off.status).toMatchObject({ pending: 1, uploads: 3 })
    expect(readdirSync(`${file}.files`)).toHaveLength(3)

    await off.sync()
    expect(off.status).toMatchObject({ state: 'offline', pending: 1, uploads: 3 })
    expect(net.count('POST', UPLOADS)).toBe(0)

    net.restore()
    await syncOnline(off)
    const onServer = (await serverRecords(s, 'snaps')).get(made.id)!
    expect(onServer).toMatchObject({ title: 'in a tunnel', photo: made.photo, gallery: made.gallery })
    expect(await objectBytes(made.photo)).toEqual(new Uint8Array(photo))
    expect(await objectBytes(made.gallery[1]!)).toEqual(new Uint8Array(pages[1]!))
    // Uploaded and acknowledged: nothing of them is left on the device.
    expect(await off.localFile(made.photo)).toBeUndefined()
    expect(readdirSync(`${file}.files`)).toEqual([])
    expect(snaps.get(made.id)).toMatchObject({ photo: made.photo, version: 1 })

    // An edit offline that replaces the photo: the new one is uploaded, the server releases the old one.
    net.cut()
    const next = randomBytes(5000)
    const edited = await snaps.update(made.id, { photo: off.file(next, { name: 'second.jpg' }) as never })
    net.restore()
    await syncOnline(off)
    expect(await objectBytes(edited.photo)).toEqual(new Uint8Array(next))
    expect(await objectExists('snaps', made.photo)).toBe(false)
  })

  it('resume from the upload URL after a cut, in a client started again on the same store', async () => {
    const file = path.join(dir, `device-${n++}.json`)
    const chunk = 64 * 1024
    const big = randomBytes(5 * chunk + 123)
    // The network dies on the third chunk: two are on the server, and the upload's URL in the store.
    let patches = 0
    const flaky: FetchLike = (input, init) => {
      if (init?.method === 'PATCH' && ++patches === 3) return Promise.reject(new TypeError('fetch failed'))
      return fetch(input, init)
    }
    const first = await device(fileStore(file), { fetch: flaky, chunk })
    const made = await first.snaps.create({ title: 'big', photo: first.off.file(big) as never })
    await first.off.sync()
    expect(first.off.status).toMatchObject({ state: 'offline', pending: 1, uploads: 1 })
    expect(first.net.count('POST', UPLOADS)).toBe(1)
    await first.off.close()

    // Started again: it asks the server where the upload stands (HEAD) and sends the rest only.
    const offsets: number[] = []
    const heads: string[] = []
    const watching: FetchLike = (input, init) => {
      const url = typeof input === 'string' ? input : (input as URL | Request).toString()
      if (init?.method === 'HEAD') heads.push(url)
      if (init?.method === 'PATCH') offsets.push(Number(new Headers(init.headers).get('upload-offset')))
      return fetch(input, init)
    }
    const second = await device(fileStore(file), { fetch: watching, chunk })
    expect(second.net.count('POST', UPLOADS)).toBe(0)
    expect(heads).toHaveLength(1)
    expect(offsets[0]).toBe(2 * chunk)
    expect(offsets).toEqual([2, 3, 4, 5].map((i) => i * chunk))
    expect(second.off.status).toMatchObject({ pending: 0, uploads: 0 })
    expect(await objectBytes(made.photo)).toEqual(new Uint8Array(big))
    expect((await serverRecords(s, 'snaps')).get(made.id)).toMatchObject({ photo: made.photo })
  })

  it('a file the bucket refuses rolls its write back, and says why', async () => {
    const rejected: OfflineRejection[] = []
    const { off, net, snaps } = await device(memoryStore(), { onRejected: (r) => rejected.push(r) })
    net.cut()
    const made = await snaps.create({ title: 'too big', thumb: off.file(randomBytes(4096)) as never })
    await snaps.update(made.id, { title: 'still too big' })
    net.restore()
    await settle(off)
    expect(rejected.map((r) => [r.id, r.mutation.op, r.error.status, r.record])).toEqual([
      [made.id, 'create', 413, null],
    ])
    expect(snaps.get(made.id)).toBeUndefined()
    expect(off.status).toMatchObject({ pending: 0, uploads: 0 })
    expect((await serverRecords(s, 'snaps')).has(made.id)).toBe(false)
  })

  it('a write the server refuses leaves no uploaded object behind', async () => {
    const rejected: OfflineRejection[] = []
    const { off, net, snaps } = await device(memoryStore(), { onRejected: (r) => rejected.push(r) })
    net.cut()
    const made = await snaps.create({ title: 'forbidden', photo: off.file(randomBytes(3000)) as never })
    net.restore()
    await settle(off)
    expect(net.count('POST', UPLOADS)).toBe(1)
    expect(rejected.map((r) => [r.id, r.error.status])).toEqual([[made.id, 403]])
    expect(await objectExists('snaps', made.photo)).toBe(false)
  })

  it('a file whose record was deleted before it was sent is never uploaded; stray bytes are dropped at start', async () => {
    const file = path.join(dir, `device-${n++}.json`)
    const { off, net, snaps } = await device(fileStore(file))
    net.cut()
    const made = await snaps.create({ title: 'never mind', photo: off.file(randomBytes(100)) as never })
    await snaps.delete(made.id)
    net.restore()
    await settle(off)
    expect(net.count('POST', UPLOADS)).toBe(0)
    expect(off.status.uploads).toBe(0)
    expect(readdirSync(`${file}.files`)).toEqual([])
    await off.close()

    // Bytes kept for a write the app died before queueing: no queued file names them.
    writeFileSync(path.join(`${file}.files`, 'f0000000-0000-7000-8000-000000000000'), 'orphan')
    await device(fileStore(file))
    expect(readdirSync(`${file}.files`)).toEqual([])
  })

  it('refuses a file for a field that is not a file field, and a store that keeps no files', async () => {
    const { off, snaps } = await device(memoryStore())
    await expect(snaps.create({ title: off.file(new Uint8Array(1)) as never })).rejects.toThrow(
      /not a file field/,
    )
    const plain = memoryStore()
    const noFiles: OfflineStore = { load: plain.load, write: plain.write, close: plain.close }
    const other = await device(noFiles)
    await expect(
      other.snaps.create({ title: 'x', photo: other.off.file(new Uint8Array(1)) as never }),
    ).rejects.toThrow(/keeps no files/)
    expect(other.off.status.pending).toBe(0)
  })
})
