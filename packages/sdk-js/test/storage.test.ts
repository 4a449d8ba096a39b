import { createHash, randomBytes } from 'node:crypto'
import { deflateSync } from 'node:zlib'
import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import { bastideS3Env, startS3rver, type TestS3 } from '@bastide/server/test/support/s3.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError, ErrorCodes } from '../src/index.ts'
import type { UploadProgress } from '../src/services/storage.ts'
import { ADMIN_KEY, clientFor, email, startServer, type TestServer } from './support/server.ts'

/**
 * The storage service against a real server, on local disk and on S3 (s3rver): buckets, uploads with
 * progress and cancellation, downloads with ranges, validators and image variants, public and signed URLs,
 * listing by prefix and cursor, remove/copy/move, and owner-only rules between two users.
 */
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const bytesOf = async (b: Blob) => new Uint8Array(await b.arrayBuffer())

describe.each(['local', 's3'] as const)('storage on %s', (kind) => {
  let s: TestServer & { url: string }
  let s3: TestS3 | undefined
  let alice: SignedUp
  let bob: SignedUp
  const admin = () => clientFor(s, { apiKey: ADMIN_KEY })
  const as = (u: SignedUp) => clientFor(s, { apiKey: u.token })

  beforeAll(async () => {
    const env: Record<string, string> = {}
    if (kind === 's3') {
      s3 = await startS3rver()
      Object.assign(env, bastideS3Env(s3))
    }
    s = await startServer(env)
    alice = await signUp(s, email('alice'))
    bob = await signUp(s, email('bob'))
    const storage = admin().storage
    await storage.createBucket({ name: 'files', rules: { read: '', write: '', delete: '' } })
    await storage.createBucket({
      name: 'mine',
      rules: {
        read: 'owner = @request.auth.id',
        write: "@request.auth.id != '' && owner = @request.auth.id",
        delete: 'owner = @request.auth.id',
      },
    })
    await storage.createBucket({ name: 'images', public: true, allowedMimeTypes: ['image/*'] })
  })
  afterAll(async () => {
    await s?.close()
    await s3?.close()
  })

  it('manages buckets', async () => {
    const storage = admin().storage
    const b = await storage.createBucket({ name: 'scratch', maxFileSize: 1024 })
    expect(b).toMatchObject({ name: 'scratch', public: false, maxFileSize: 1024, allowedMimeTypes: [] })
    expect((await storage.listBuckets()).map((x) => x.name)).toEqual(
      expect.arrayContaining(['files', 'mine', 'images', 'scratch']),
    )
    expect(await storage.updateBucket('scratch', { public: true })).toMatchObject({ public: true })
    expect(await storage.getBucket('scratch')).toMatchObject({ public: true, maxFileSize: 1024 })
    await admin().storage.from('scratch').upload('x.txt', 'x')
    await expect(storage.deleteBucket('scratch')).rejects.toMatchObject({ code: ErrorCodes.CONFLICT })
    await expect(admin().storage.from('scratch').upload('big', new Uint8Array(2048))).rejects.toMatchObject({
      code: ErrorCodes.PAYLOAD_TOO_LARGE,
    })
    await admin().storage.from('scratch').remove('x.txt')
    await storage.deleteBucket('scratch')
    await expect(storage.getBucket('scratch')).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
    // Buckets are the schema's: a signed-in user may not manage them.
    await expect(as(alice).storage.listBuckets()).rejects.toMatchObject({ code: ErrorCodes.FORBIDDEN })
  })

  it('uploads with monotonic progress ending at the total, and downloads the same bytes', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17)
    const events: UploadProgress[] = []
    const obj = await as(alice)
      .storage.from('mine')
      .upload(`${alice.id}/big.bin`, new Blob([bytes]), {
        onProgress: (p) => events.push(p),
        metadata: { note: 'résumé ✓' },
      })
    expect(obj).toMatchObject({
      bucket: 'mine',
      key: `${alice.id}/big.bin`,
      size: bytes.length,
      sha256: sha256(bytes),
      owner: alice.id,
      version: 1,
      metadata: { note: 'résumé ✓' },
    })
    expect(events[0]).toEqual({ loaded: 0, total: bytes.length })
    expect(events.at(-1)).toEqual({ loaded: bytes.length, total: bytes.length })
    // Streamed and counted: more than just the start and the end.
    expect(events.length).toBeGreaterThan(10)
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThan(events[i - 1]!.loaded)
    const back = await bytesOf(await as(alice).storage.from('mine').download(`${alice.id}/big.bin`))
    expect(sha256(back)).toBe(sha256(bytes))
  })

  it('uploads strings, typed arrays, ArrayBuffers and streams; replaces; honours upsert: false', async () => {
    const files = as(alice).storage.from('files')
    expect(await files.upload('kinds/text.txt', 'héllo')).toMatchObject({ size: 6, mimeType: 'text/plain' })
    const view = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).subarray(2, 6)
    expect(await files.upload('kinds/view.bin', view)).toMatchObject({ size: 4, sha256: sha256(view) })
    expect(await files.upload('kinds/ab.bin', new Uint8Array([9, 9, 9]).buffer)).toMatchObject({ size: 3 })
    const chunks = [new TextEncoder().encode('one,'), new TextEncoder().encode('two')]
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        for (const c of chunks) ctl.enqueue(c)
        ctl.close()
      },
    })
    const seen: UploadProgress[] = []
    const streamed = await files.upload('kinds/stream.txt', stream, { onProgress: (p) => seen.push(p) })
    expect(streamed).toMatchObject({ size: 7, version: 1 })
    expect(seen.at(-1)).toEqual({ loaded: 7, total: undefined })
    expect(await (await files.download('kinds/stream.txt')).text()).toBe('one,two')
    expect(await files.upload('kinds/text.txt', 'again')).toMatchObject({ size: 5, version: 2 })
    await expect(files.upload('kinds/text.txt', 'no', { upsert: false })).rejects.toMatchObject({
      code: ErrorCodes.CONFLICT,
    })
    expect(await files.upload('kinds/new.txt', 'yes', { upsert: false })).toMatchObject({ version: 1 })
  })

  it('cancels an upload mid-way with ABORTED and leaves no object', async () => {
    const files = as(alice).storage.from('files')
    const ctl = new AbortController()
    let max = 0
    const err = await files
      .upload('cancelled.bin', randomBytes(16 * 1024 * 1024), {
        signal: ctl.signal,
        onProgress: ({ loaded }) => {
          max = loaded
          if (loaded > 1024 * 1024) ctl.abort()
        },
      })
      .catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err).toMatchObject({ code: ErrorCodes.ABORTED, isAborted: true })
    expect(max).toBeLessThan(16 * 1024 * 1024)
    // The server sees the body cut short and commits nothing.
    await new Promise((r) => setTimeout(r, 200))
    await expect(files.info('cancelled.bin')).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
    expect(await files.exists('cancelled.bin')).toBe(false)
    // Aborted before it starts.
    await expect(files.upload('never.bin', 'x', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: ErrorCodes.ABORTED,
    })
  })

  it('downloads ranges, answers 304 to a matching ETag, and describes objects', async () => {
    const files = as(alice).storage.from('files')
    const text = 'abcdefghijklmnopqrstuvwxyz'
    const obj = await files.upload('range.txt', text, { metadata: { a: 1 } })
    expect(await (await files.download('range.txt', { range: { start: 2, end: 4 } })).text()).toBe('cde')
    expect(await (await files.download('range.txt', { range: { start: 23 } })).text()).toBe('xyz')
    expect(await (await files.download('range.txt', { range: { suffix: 2 } })).text()).toBe('yz')
    const res = await files.downloadResponse('range.txt', { range: 'bytes=0-0' })
    expect(res.status).toBe(206)
    expect(res.headers.get('content-range')).toBe(`bytes 0-0/${text.length}`)
    await res.body?.cancel()
    const etag = `"${obj.sha256}"`
    const again = await files.downloadResponse('range.txt', { ifNoneMatch: etag })
    expect(again.status).toBe(304)
    expect(await files.info('range.txt')).toEqual(obj)
    // A prefix of another key is not that key.
    await expect(files.info('range')).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
  })

  it('serves image variants, and public URLs without credentials', async () => {
    const png = makePng(64, 32)
    const images = admin().storage.from('images')
    const obj = await images.upload('pics/banner.png', png, { contentType: 'image/png' })
    expect(obj.mimeType).toBe('image/png')
    const small = await bytesOf(
      await images.download('pics/banner.png', { transform: { width: 16, format: 'png' } }),
    )
    expect(pngSize(small)).toEqual({ width: 16, height: 8 })
    const webp = await bytesOf(
      await images.download('pics/banner.png', {
        transform: { width: 8, height: 8, fit: 'cover', format: 'webp' },
      }),
    )
    expect(new TextDecoder().decode(webp.subarray(0, 4))).toBe('RIFF')
    expect(new TextDecoder().decode(webp.subarray(8, 12))).toBe('WEBP')

    const url = clientFor(s)
      .storage.from('images')
      .getPublicUrl('pics/banner.png', { width: 32, format: 'png' })
    expect(url).toBe(`${s.url}/api/storage/buckets/images/objects/pics/banner.png?width=32&format=png`)
    const r = await fetch(url)
    expect(r.status).toBe(200)
    expect(pngSize(new Uint8Array(await r.arrayBuffer()))).toEqual({ width: 32, height: 16 })
    // Not an image: the allow-list looks at the bytes.
    await expect(
      images.upload('pics/fake.png', '<html>', { contentType: 'image/png' }),
    ).rejects.toMatchObject({
      code: ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
    })
  })

  it('creates signed URLs that work without credentials, and refuses tampered ones', async () => {
    const mine = as(alice).storage.from('mine')
    const key = `${alice.id}/private doc?.txt`
    await mine.upload(key, 'secret text')
    const anon = clientFor(s).storage.from('mine')
    await expect(anon.download(key)).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })

    const signed = await mine.createSignedUrl(key, { expiresIn: 60 })
    expect(signed.method).toBe('GET')
    expect(Date.parse(signed.expiresAt) - Date.now()).toBeLessThanOrEqual(61_000)
    const r = await fetch(signed.url)
    expect(r.status).toBe(200)
    expect(await r.text()).toBe('secret text')

    const token = new URL(signed.url).searchParams.get('token')!
    const tampered = signed.url.replace(token, token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))
    expect((await fetch(tampered)).status).toBe(403)
    const otherKey = signed.url.replace('private%20doc', 'private%20doc2')
    expect((await fetch(otherKey)).status).toBe(403)

    // A write URL: an upload from anyone, owned by the signer.
    const w = await mine.createSignedUrl(`${alice.id}/dropped.txt`, { operation: 'write' })
    expect(w.method).toBe('PUT')
    const dropped = await anon.uploadToSignedUrl(w.url, 'dropped in')
    expect(dropped).toMatchObject({ key: `${alice.id}/dropped.txt`, owner: alice.id })
    // Bob cannot sign what he cannot read.
    await expect(as(bob).storage.from('mine').createSignedUrl(key)).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
    })
  })

  it('signs image variants', async () => {
    await admin().storage.createBucket({ name: `priv-img-${kind}`, allowedMimeTypes: ['image/*'] })
    const b = admin().storage.from(`priv-img-${kind}`)
    await b.upload('p.png', makePng(20, 10))
    const { url } = await b.createSignedUrl('p.png', { transform: { width: 10, format: 'png' } })
    const r = await fetch(url)
    expect(r.status).toBe(200)
    expect(pngSize(new Uint8Array(await r.arrayBuffer()))).toEqual({ width: 10, height: 5 })
  })

  it('lists by prefix and cursor, and iterates over everything', async () => {
    const files = as(alice).storage.from('files')
    const keys = ['list/a', 'list/b', 'list/c/1', 'list/c/2', 'list/d']
    for (const k of keys) await files.upload(k, k)
    await files.upload('listing-other', 'x')
    const p1 = await files.list({ prefix: 'list/', limit: 2 })
    expect(p1.items.map((o) => o.key)).toEqual(['list/a', 'list/b'])
    expect(p1.nextCursor).toEqual(expect.any(String))
    const p2 = await files.list({ prefix: 'list/', limit: 2, after: p1.nextCursor! })
    expect(p2.items.map((o) => o.key)).toEqual(['list/c/1', 'list/c/2'])
    const p3 = await files.list({ prefix: 'list/', limit: 2, after: p2.nextCursor! })
    expect(p3.items.map((o) => o.key)).toEqual(['list/d'])
    expect(p3.nextCursor).toBeNull()
    const all: string[] = []
    for await (const o of files.iterate({ prefix: 'list/', limit: 2 })) all.push(o.key)
    expect(all).toEqual(keys)
    expect((await files.list({ prefix: 'list/c/' })).items.map((o) => o.key)).toEqual([
      'list/c/1',
      'list/c/2',
    ])
  })

  it('removes, copies and moves objects', async () => {
    const files = as(alice).storage.from('files')
    const src = await files.upload('ops/src.txt', 'payload')
    const copy = await files.copy('ops/src.txt', 'ops/copy.txt')
    expect(copy).toMatchObject({ key: 'ops/copy.txt', sha256: src.sha256, size: src.size })
    expect(await (await files.download('ops/copy.txt')).text()).toBe('payload')
    const moved = await files.move('ops/copy.txt', 'ops/moved.txt')
    expect(moved).toMatchObject({ key: 'ops/moved.txt', sha256: src.sha256 })
    expect(await files.exists('ops/copy.txt')).toBe(false)
    const across = await files.copy('ops/src.txt', `${alice.id}/from-files.txt`, { toBucket: 'mine' })
    expect(across).toMatchObject({ bucket: 'mine', owner: alice.id })

    await files.remove('ops/src.txt')
    await expect(files.remove('ops/src.txt')).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
    await files.upload('ops/x', 'x')
    const res = await files.remove(['ops/moved.txt', 'ops/x', 'ops/never'])
    expect([...res.removed].sort()).toEqual(['ops/moved.txt', 'ops/x'])
    expect(res.notFound).toEqual(['ops/never'])
    expect((await files.list({ prefix: 'ops/' })).items).toEqual([])
    await expect(files.copy('ops/none', 'ops/y')).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
  })

  it("keeps an owner-only bucket's objects from another user", async () => {
    const aliceMine = as(alice).storage.from('mine')
    const bobMine = as(bob).storage.from('mine')
    const key = `${alice.id}/diary.txt`
    await aliceMine.upload(key, 'dear diary')
    await expect(bobMine.download(key)).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND, status: 404 })
    await expect(bobMine.info(key)).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
    expect(await bobMine.exists(key)).toBe(false)
    await expect(bobMine.remove(key)).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
    await expect(bobMine.upload(key, 'overwritten')).rejects.toMatchObject({
      code: ErrorCodes.FORBIDDEN,
      status: 403,
    })
    await expect(bobMine.copy(key, `${bob.id}/stolen.txt`)).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
    })
    expect((await bobMine.list()).items.every((o) => o.owner === bob.id)).toBe(true)
    await expect(clientFor(s).storage.from('mine').upload('anon.txt', 'x')).rejects.toBeInstanceOf(
      BastideError,
    )
    expect(await (await aliceMine.download(key)).text()).toBe('dear diary')
  })
})

/** A valid RGB PNG of `width`×`height` (a gradient), built from bytes: signature, IHDR, IDAT, IEND. */
function makePng(width: number, height: number): Uint8Array {
  const raw = new Uint8Array(height * (1 + width * 3))
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3)
    raw[row] = 0 // filter: none
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 255) / width
      raw[row + 2 + x * 3] = (y * 255) / height
      raw[row + 3 + x * 3] = 128
    }
  }
  const ihdr = new Uint8Array(13)
  const dv = new DataView(ihdr.buffer)
  dv.setUint32(0, width)
  dv.setUint32(4, height)
  ihdr.set([8, 2, 0, 0, 0], 8) // 8-bit, truecolor, deflate, no filter method, no interlace
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', new Uint8Array(deflateSync(raw))),
    chunk('IEND', new Uint8Array(0)),
  ]
  return new Uint8Array(Buffer.concat(parts))
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, data.length)
  out.set(new TextEncoder().encode(type), 4)
  out.set(data, 8)
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)))
  return out
}

function crc32(b: Uint8Array): number {
  let c = 0xffffffff
  for (const byte of b) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

function pngSize(b: Uint8Array): { width: number; height: number } {
  expect(Array.from(b.subarray(1, 4))).toEqual([0x50, 0x4e, 0x47])
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  return { width: dv.getUint32(16), height: dv.getUint32(20) }
}
