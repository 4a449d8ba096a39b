import { createHash, randomBytes, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BlobNotFoundError, BlobTooLargeError, type FileStore } from '../src/storage/file-store.ts'
import { createLocalFileStore, type LocalFileStore } from '../src/storage/local-file-store.ts'
import { createS3FileStore } from '../src/storage/s3-file-store.ts'
import { startS3rver } from './support/s3.ts'

const MiB = 1024 * 1024

interface Backend {
  readonly store: FileStore
  /** Temp files left behind by failed writes (local disk only). */
  leftovers(): string[]
  close(): Promise<void>
}

const backends: { kind: 'local' | 's3'; start: () => Promise<Backend> }[] = [
  {
    kind: 'local',
    async start() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-test-files-'))
      const root = path.join(dir, 'storage')
      return {
        store: createLocalFileStore({ root }),
        leftovers: () =>
          fs.existsSync(path.join(root, 'tmp')) ? fs.readdirSync(path.join(root, 'tmp')) : [],
        async close() {
          fs.rmSync(dir, { recursive: true, force: true })
        },
      }
    },
  },
  {
    kind: 's3',
    async start() {
      const s3 = await startS3rver()
      const store = await createS3FileStore({ ...s3, bucket: `test-${randomUUID()}`, pathStyle: true })
      return { store, leftovers: () => [], close: () => s3.close() }
    },
  },
]

/** `total` random bytes in 64 KiB chunks, hashed on the way: never the whole body in memory. */
function generated(total: number, chunkSize = 64 * 1024) {
  const hash = createHash('sha256')
  return {
    body: (async function* () {
      for (let sent = 0; sent < total; sent += chunkSize) {
        const chunk = randomBytes(Math.min(chunkSize, total - sent))
        hash.update(chunk)
        yield chunk
      }
    })(),
    sha256: () => hash.digest('hex'),
  }
}

async function readAll(stream: Readable | undefined): Promise<Buffer> {
  if (!stream) throw new Error('no blob')
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe.each(backends)('FileStore ($kind)', ({ kind, start }) => {
  let backend: Backend
  let store: FileStore
  beforeAll(async () => {
    backend = await start()
    store = backend.store
  })
  afterAll(async () => {
    await store?.close?.()
    await backend?.close()
  })

  it('writes and reads back the same bytes, with their size and sha256', async () => {
    const bytes = randomBytes(100_000)
    const result = await store.write(
      'b1/roundtrip',
      Readable.from([bytes.subarray(0, 40_000), bytes.subarray(40_000)]),
      {
        contentType: 'application/octet-stream',
      },
    )
    expect(result).toEqual({ size: bytes.length, sha256: sha256(bytes) })
    expect((await readAll(await store.read('b1/roundtrip'))).equals(bytes)).toBe(true)
  })

  it('writes an empty blob', async () => {
    expect(await store.write('b1/empty', Readable.from([]))).toEqual({
      size: 0,
      sha256: sha256(Buffer.alloc(0)),
    })
    expect(await store.stat('b1/empty')).toMatchObject({ size: 0 })
  })

  it('reads byte ranges, end inclusive', async () => {
    await store.write('b1/range', Readable.from([Buffer.from('abcdefghij')]))
    const range = async (start: number, end: number) =>
      (await readAll(await store.read('b1/range', { start, end }))).toString()
    // s3rver reads `bytes=0-0` as `bytes=0-` (`options.end || Infinity`); real S3 and MinIO do not.
    if (kind === 'local') expect(await range(0, 0)).toBe('a')
    expect(await range(0, 1)).toBe('ab')
    expect(await range(3, 6)).toBe('defg')
    expect(await range(9, 9)).toBe('j')
    expect(await range(0, 9)).toBe('abcdefghij')
  })

  it('stats a blob', async () => {
    const before = Date.now()
    await store.write('b1/stat', Readable.from([Buffer.alloc(1234, 1)]))
    const s = await store.stat('b1/stat')
    expect(s?.size).toBe(1234)
    // Second precision on S3 (HTTP dates).
    expect(s?.modified.getTime()).toBeGreaterThan(before - 2000)
  })

  it('answers undefined for a missing blob', async () => {
    expect(await store.read('b1/missing')).toBeUndefined()
    expect(await store.read('b1/missing', { start: 0, end: 1 })).toBeUndefined()
    expect(await store.stat('b1/missing')).toBeUndefined()
    expect(await store.stat('nowhere/at/all')).toBeUndefined()
  })

  it('removes idempotently', async () => {
    await store.write('b1/remove', Readable.from([Buffer.from('x')]))
    await store.remove('b1/remove')
    expect(await store.stat('b1/remove')).toBeUndefined()
    await store.remove('b1/remove')
    await store.remove('never/existed')
  })

  it('removes many at once, missing ones included', async () => {
    const keys = ['many/1', 'many/2', 'many/3']
    for (const k of keys) await store.write(k, Readable.from([Buffer.from(k)]))
    await store.removeMany([...keys, 'many/missing'])
    for (const k of keys) expect(await store.stat(k)).toBeUndefined()
    await store.removeMany([])
  })

  it('copies a blob', async () => {
    await store.write('b1/original', Readable.from([Buffer.from('copy me')]))
    await store.copy('b1/original', 'b2/copied')
    expect((await readAll(await store.read('b2/copied'))).toString()).toBe('copy me')
    expect((await readAll(await store.read('b1/original'))).toString()).toBe('copy me')
    await expect(store.copy('b1/missing', 'b2/never')).rejects.toBeInstanceOf(BlobNotFoundError)
    expect(await store.stat('b2/never')).toBeUndefined()
  })

  it('lists the blobs under a prefix, and only those', async () => {
    const keys = ['list/a/1', 'list/a/sub/2', 'list/ab/3', 'list/b/4']
    for (const k of keys) await store.write(k, Readable.from([Buffer.from(k)]))
    const listed = async (prefix: string) => {
      const out: { key: string; size: number }[] = []
      for await (const b of store.list(prefix)) {
        expect(b.modified).toBeInstanceOf(Date)
        out.push({ key: b.key, size: b.size })
      }
      return out.sort((x, y) => x.key.localeCompare(y.key))
    }
    expect(await listed('list/a/')).toEqual([
      { key: 'list/a/1', size: 8 },
      { key: 'list/a/sub/2', size: 12 },
    ])
    expect((await listed('list/a')).map((b) => b.key)).toEqual(['list/a/1', 'list/a/sub/2', 'list/ab/3'])
    expect((await listed('list/')).length).toBe(4)
    expect(await listed('list/none/')).toEqual([])
    expect((await listed('')).map((b) => b.key)).toEqual(expect.arrayContaining(keys))
  })

  it('replaces the blob when a key is written again', async () => {
    await store.write('b1/overwrite', Readable.from([Buffer.from('first version')]))
    await store.write('b1/overwrite', Readable.from([Buffer.from('second')]))
    expect((await readAll(await store.read('b1/overwrite'))).toString()).toBe('second')
    expect((await store.stat('b1/overwrite'))?.size).toBe(6)
  })

  it('rejects a blob over maxBytes and stores nothing', async () => {
    const small = store.write('limit/small', generated(2000, 100).body, { maxBytes: 1000 })
    await expect(small).rejects.toBeInstanceOf(BlobTooLargeError)
    await expect(small).rejects.toMatchObject({ limit: 1000 })
    expect(await store.stat('limit/small')).toBeUndefined()
    // Past several parts on S3: the multipart upload must be abandoned, not completed.
    const large = store.write('limit/large', generated(30 * MiB).body, { maxBytes: 20 * MiB })
    await expect(large).rejects.toBeInstanceOf(BlobTooLargeError)
    expect(await store.stat('limit/large')).toBeUndefined()
    // Exactly at the limit is fine.
    expect((await store.write('limit/exact', generated(1000).body, { maxBytes: 1000 })).size).toBe(1000)
    expect(backend.leftovers()).toEqual([])
  })

  it('stores nothing when the source fails midway', async () => {
    for (const size of [10_000, 10 * MiB]) {
      async function* failing() {
        yield* generated(size).body
        throw new Error('client went away')
      }
      await expect(store.write(`fail/${size}`, failing())).rejects.toThrow('client went away')
      expect(await store.stat(`fail/${size}`)).toBeUndefined()
    }
    expect(backend.leftovers()).toEqual([])
  })

  it('stores nothing when aborted', async () => {
    const before = new AbortController()
    before.abort()
    await expect(
      store.write('abort/before', Readable.from([Buffer.from('x')]), { signal: before.signal }),
    ).rejects.toThrow()
    expect(await store.stat('abort/before')).toBeUndefined()

    const during = new AbortController()
    async function* slow() {
      // More than one S3 part, so that the abort lands in a multipart upload.
      yield* generated(9 * MiB).body
      during.abort()
      await new Promise((r) => setTimeout(r, 100))
      yield Buffer.from('too late')
    }
    await expect(store.write('abort/during', slow(), { signal: during.signal })).rejects.toMatchObject({
      name: 'AbortError',
    })
    expect(await store.stat('abort/during')).toBeUndefined()
    expect(backend.leftovers()).toEqual([])
  })

  it.each([
    '',
    '/absolute',
    '../escape',
    'a/../b',
    'a/./b',
    'a//b',
    'trailing/',
    'with space',
    'accentué',
    'back\\slash',
    'x'.repeat(513),
  ])('refuses the blob key %j', async (key) => {
    await expect(store.write(key, Readable.from([Buffer.from('x')]))).rejects.toThrow(/Invalid blob key/)
    await expect(store.read(key)).rejects.toThrow(/Invalid blob key/)
    await expect(store.stat(key)).rejects.toThrow(/Invalid blob key/)
    await expect(store.remove(key)).rejects.toThrow(/Invalid blob key/)
  })

  it('streams 50 MB both ways in bounded memory', async () => {
    const total = 50 * MiB
    const source = generated(total)
    const baseline = process.memoryUsage().rss
    let peak = baseline
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 5)
    try {
      const result = await store.write('big/blob', source.body)
      expect(result).toEqual({ size: total, sha256: source.sha256() })
      const stream = await store.read('big/blob')
      if (!stream) throw new Error('no blob')
      const hash = createHash('sha256')
      let size = 0
      for await (const chunk of stream) {
        hash.update(chunk as Buffer)
        size += (chunk as Buffer).length
      }
      expect({ size, sha256: hash.digest('hex') }).toEqual(result)
    } finally {
      clearInterval(sampler)
    }
    // s3rver runs in this process and buffers on its own, so only the local store is measured.
    if (kind === 'local') expect(peak - baseline).toBeLessThan(60 * MiB)
  })
})

describe('local FileStore only', () => {
  let dir: string
  let store: LocalFileStore
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-test-files-'))
    store = createLocalFileStore({ root: path.join(dir, 'storage') })
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('keeps blobs under root/blobs', async () => {
    await store.write('bucket/blob', Readable.from([Buffer.from('on disk')]))
    expect(fs.readFileSync(path.join(dir, 'storage/blobs/bucket/blob'), 'utf8')).toBe('on disk')
  })

  it('sweeps stale temp files and keeps fresh ones', async () => {
    const tmp = path.join(dir, 'storage/tmp')
    fs.mkdirSync(tmp, { recursive: true })
    fs.writeFileSync(path.join(tmp, 'stale.part'), 'crashed')
    const hourAgo = new Date(Date.now() - 3_600_000)
    fs.utimesSync(path.join(tmp, 'stale.part'), hourAgo, hourAgo)
    fs.writeFileSync(path.join(tmp, 'fresh.part'), 'in progress')
    expect(await store.sweepTemp(60_000)).toBe(1)
    expect(fs.readdirSync(tmp)).toEqual(['fresh.part'])
  })

  it('refuses paths outside its root', async () => {
    fs.writeFileSync(path.join(dir, 'outside'), 'secret')
    await expect(store.read('../../outside')).rejects.toThrow()
    await expect(store.remove('../outside')).rejects.toThrow()
    await expect(store.write('../../outside', Readable.from([Buffer.from('x')]))).rejects.toThrow()
    for await (const _ of store.list('')) void _
    await expect(async () => {
      for await (const _ of store.list('../')) void _
    }).rejects.toThrow()
    expect(fs.readFileSync(path.join(dir, 'outside'), 'utf8')).toBe('secret')
  })
})
