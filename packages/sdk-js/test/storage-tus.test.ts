import { createHash, randomBytes } from 'node:crypto'
import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import { bastideS3Env, startS3rver, type TestS3 } from '@bastide/server/test/support/s3.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError, ErrorCodes, memoryStorage } from '../src/index.ts'
import type { UploadProgress } from '../src/services/storage.ts'
import { base64 } from '../src/services/tus.ts'
import { ADMIN_KEY, clientFor, email, startServer, type TestServer } from './support/server.ts'

/**
 * Resumable uploads (tus 1.0) through the SDK, on local disk and on S3 (s3rver): chunked uploads into
 * objects, an upload aborted after a few chunks and resumed from its URL by a new client, automatic resume
 * through a store, termination, and the server's refusals (anonymous, size limit).
 */
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const KiB = 1024

describe.each(['local', 's3'] as const)('resumable uploads on %s', (kind) => {
  let s: TestServer & { url: string }
  let s3: TestS3 | undefined
  let alice: SignedUp
  let bob: SignedUp
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
    const storage = clientFor(s, { apiKey: ADMIN_KEY }).storage
    await storage.createBucket({
      name: 'mine',
      rules: {
        read: 'owner = @request.auth.id',
        write: "@request.auth.id != '' && owner = @request.auth.id",
        delete: 'owner = @request.auth.id',
      },
    })
    await storage.createBucket({ name: 'small', maxFileSize: 1024, rules: { read: '', write: '' } })
  })
  afterAll(async () => {
    await s?.close()
    await s3?.close()
  })

  it('uploads in chunks into an object, with progress to the total', async () => {
    const bytes = randomBytes(3 * 1024 * KiB + 5)
    const events: UploadProgress[] = []
    const urls: string[] = []
    const up = as(alice)
      .storage.from('mine')
      .uploadResumable(`${alice.id}/big.bin`, new Blob([bytes]), {
        chunkSize: 1024 * KiB,
        metadata: { note: 'résumé' },
        contentType: 'application/octet-stream',
        onProgress: (p) => events.push(p),
        onUrl: (u) => void urls.push(u),
      })
    const obj = await up.done
    expect(obj).toMatchObject({
      key: `${alice.id}/big.bin`,
      size: bytes.length,
      sha256: sha256(bytes),
      owner: alice.id,
      metadata: { note: 'résumé' },
    })
    expect(urls).toEqual([up.url])
    expect(up.url).toMatch(new RegExp(`^${s.url}/api/storage/uploads/[0-9a-f]{32}$`))
    expect(events[0]).toEqual({ loaded: 0, total: bytes.length })
    expect(events.at(-1)).toEqual({ loaded: bytes.length, total: bytes.length })
    expect(events.map((e) => e.loaded)).toEqual(expect.arrayContaining([1024 * KiB, 2048 * KiB, 3072 * KiB]))
    const back = new Uint8Array(await (await as(alice).storage.from('mine').download(obj.key)).arrayBuffer())
    expect(sha256(back)).toBe(sha256(bytes))
  })

  it('resumes an aborted upload from its URL in a new client, into the same object', async () => {
    const bytes = randomBytes(2 * 1024 * KiB + 333)
    const chunkSize = 256 * KiB
    const key = `${alice.id}/resumed.bin`
    const first = as(alice)
      .storage.from('mine')
      .uploadResumable(key, bytes, {
        chunkSize,
        onProgress: ({ loaded }) => {
          if (loaded >= 3 * chunkSize) first.abort()
        },
      })
    const err = await first.done.catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err.code).toBe(ErrorCodes.ABORTED)
    const url = first.url!
    expect(url).toEqual(expect.any(String))
    await expect(as(alice).storage.from('mine').info(key)).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
    })

    // Another client (a restarted app) signed in as the same user, given only the URL.
    const events: number[] = []
    const second = as(alice)
      .storage.from('mine')
      .uploadResumable(key, new Blob([bytes]), {
        chunkSize,
        resumeFrom: url,
        onProgress: ({ loaded }) => events.push(loaded),
      })
    const obj = await second.done
    expect(second.url).toBe(url)
    expect(events[0]).toBeGreaterThanOrEqual(3 * chunkSize)
    expect(events.at(-1)).toBe(bytes.length)
    expect(obj).toMatchObject({ key, size: bytes.length, sha256: sha256(bytes), owner: alice.id, version: 1 })
    const back = new Uint8Array(await (await as(alice).storage.from('mine').download(key)).arrayBuffer())
    expect(sha256(back)).toBe(sha256(bytes))
  })

  it('resumes automatically through a store, and forgets the URL once done', async () => {
    const store = memoryStorage()
    const bytes = randomBytes(1024 * KiB)
    const key = `${alice.id}/stored.bin`
    const ctl = new AbortController()
    const first = as(alice)
      .storage.from('mine')
      .uploadResumable(key, bytes, {
        chunkSize: 128 * KiB,
        resume: { storage: store },
        signal: ctl.signal,
        onProgress: ({ loaded }) => {
          if (loaded >= 256 * KiB) ctl.abort()
        },
      })
    await expect(first.done).rejects.toMatchObject({ code: ErrorCodes.ABORTED })
    const events: number[] = []
    const second = as(alice)
      .storage.from('mine')
      .uploadResumable(key, bytes, {
        chunkSize: 128 * KiB,
        resume: { storage: store },
        onProgress: ({ loaded }) => events.push(loaded),
      })
    expect((await second.done).sha256).toBe(sha256(bytes))
    expect(second.url).toBe(first.url)
    expect(events[0]).toBeGreaterThanOrEqual(256 * KiB)
    // Done: the next upload of the same file starts afresh.
    const third = as(alice)
      .storage.from('mine')
      .uploadResumable(key, bytes, { resume: { storage: store } })
    expect((await third.done).version).toBe(2)
    expect(third.url).not.toBe(first.url)
  })

  it("hides an upload from anyone but its creator, and starts afresh on a URL that isn't there", async () => {
    const bytes = randomBytes(300 * KiB)
    const up = as(alice)
      .storage.from('mine')
      .uploadResumable(`${alice.id}/hidden.bin`, bytes, {
        chunkSize: 100 * KiB,
        onProgress: ({ loaded }) => {
          if (loaded >= 100 * KiB) up.abort()
        },
      })
    await expect(up.done).rejects.toMatchObject({ code: ErrorCodes.ABORTED })
    await expect(
      as(bob).http.send(up.url!, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } }),
    ).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
    })
    // Bob given Alice's URL: not his, so a new upload of his own.
    const events: number[] = []
    const bobs = as(bob)
      .storage.from('mine')
      .uploadResumable(`${bob.id}/own.bin`, bytes, {
        resumeFrom: up.url!,
        onProgress: (p) => events.push(p.loaded),
      })
    expect(await bobs.done).toMatchObject({ owner: bob.id, size: bytes.length })
    expect(events[0]).toBe(0)
    expect(bobs.url).not.toBe(up.url)
  })

  it('cancels an upload on the server', async () => {
    const up = as(alice)
      .storage.from('mine')
      .uploadResumable(`${alice.id}/cancelled.bin`, randomBytes(512 * KiB), {
        chunkSize: 128 * KiB,
        onProgress: ({ loaded }) => {
          if (loaded >= 128 * KiB) void up.cancel()
        },
      })
    await expect(up.done).rejects.toMatchObject({ code: ErrorCodes.ABORTED })
    await up.cancel()
    await expect(
      as(alice).http.send(up.url!, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } }),
    ).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND })
    await expect(as(alice).storage.from('mine').info(`${alice.id}/cancelled.bin`)).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
    })
  })

  it('refuses anonymous callers, a write the rules forbid, and a file over the size limit', async () => {
    await expect(
      clientFor(s).storage.from('mine').uploadResumable('anon.bin', 'x').done,
    ).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED })
    await expect(
      as(bob).storage.from('mine').uploadResumable(`${alice.id}/big.bin`, 'x').done,
    ).rejects.toMatchObject({ status: 403 })
    await expect(
      as(alice).storage.from('small').uploadResumable('big.bin', new Uint8Array(2048)).done,
    ).rejects.toMatchObject({ code: ErrorCodes.PAYLOAD_TOO_LARGE })
    expect(await as(alice).storage.from('small').uploadResumable('ok.txt', 'tiny').done).toMatchObject({
      size: 4,
    })
  })
})

describe('base64', () => {
  it('matches Buffer for every length and byte', () => {
    for (let n = 0; n < 64; n++) {
      const b = randomBytes(n)
      expect(base64(b)).toBe(Buffer.from(b).toString('base64'))
    }
  })
})
