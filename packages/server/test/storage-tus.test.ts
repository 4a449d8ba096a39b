import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedUp, signUp } from './support/auth.ts'
import { ADMIN_KEY, startTestServer, type TestServer } from './support/harness.ts'
import { bastideS3Env, startS3rver, type TestS3 } from './support/s3.ts'

/**
 * Resumable uploads (tus 1.0) at /api/storage/uploads, driven with plain fetch on a real port, on local disk
 * and on S3 (s3rver): chunked uploads finishing into objects, an upload cut off mid-PATCH and resumed from
 * another connection, uploader-only access, bucket rules, limits and types checked at creation and finish.
 */
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
const TUS = { 'tus-resumable': '1.0.0' }
const OCTETS = 'application/offset+octet-stream'

describe.each(['local', 's3'] as const)('resumable uploads on %s', (kind) => {
  let s: TestServer
  let s3: TestS3 | undefined
  let base: string
  let alice: SignedUp
  let bob: SignedUp
  const admin = { authorization: `Bearer ${ADMIN_KEY}` }
  const as = (u: SignedUp) => ({ authorization: `Bearer ${u.jwt}` })

  beforeAll(async () => {
    const env: Record<string, string> = {}
    if (kind === 's3') {
      s3 = await startS3rver()
      Object.assign(env, bastideS3Env(s3))
    }
    s = await startTestServer({ listen: true, env })
    base = s.bastide.url
    alice = await signUp(s, `alice-tus-${kind}@example.com`)
    bob = await signUp(s, `bob-tus-${kind}@example.com`)
    expect(s.bastide.storage.store.kind).toBe(kind)
    await bucket({ name: 'files', rules: { read: '', write: '', delete: '' } })
    await bucket({
      name: 'mine',
      rules: {
        read: 'owner = @request.auth.id',
        write: "@request.auth.id != '' && owner = @request.auth.id",
        delete: 'owner = @request.auth.id',
      },
    })
    await bucket({ name: 'locked', rules: { read: '' } })
    await bucket({ name: 'images', allowedMimeTypes: ['image/*'], public: true, rules: { write: '' } })
    await bucket({ name: 'small', maxFileSize: 1024, rules: { read: '', write: '' } })
  })
  afterAll(async () => {
    await s?.close()
    await s3?.close()
  })

  async function bucket(def: Record<string, unknown>) {
    const r = await fetch(`${base}/api/storage/buckets`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify(def),
    })
    if (r.status !== 201) throw new Error(`bucket: ${r.status} ${await r.text()}`)
  }

  const create = (
    who: Record<string, string>,
    length: number | undefined,
    meta: Record<string, string>,
    extra: Record<string, string> = {},
  ) =>
    fetch(`${base}/api/storage/uploads`, {
      method: 'POST',
      headers: {
        ...TUS,
        ...who,
        ...(length === undefined ? {} : { 'upload-length': String(length) }),
        'upload-metadata': Object.entries(meta)
          .map(([k, v]) => `${k} ${b64(v)}`)
          .join(','),
        ...extra,
      },
    })
  /** Creates an upload and returns its URL. */
  const start = async (who: Record<string, string>, length: number, meta: Record<string, string>) => {
    const r = await create(who, length, meta)
    if (r.status !== 201) throw new Error(`create: ${r.status} ${await r.text()}`)
    const location = r.headers.get('location')!
    // On the configured origin (BASTIDE_PUBLIC_URL unset: http://localhost:$PORT); this suite talks to the
    // address it listens on.
    expect(location).toMatch(
      new RegExp(`^http://localhost:${s.bastide.port}/api/storage/uploads/[0-9a-f]{32}$`),
    )
    expect(r.headers.get('tus-resumable')).toBe('1.0.0')
    return `${base}${new URL(location).pathname}`
  }
  const patch = (url: string, who: Record<string, string>, offset: number, body: Uint8Array) =>
    fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...who, 'content-type': OCTETS, 'upload-offset': String(offset) },
      body,
    })
  const head = (url: string, who: Record<string, string>) =>
    fetch(url, { method: 'HEAD', headers: { ...TUS, ...who } })
  const objectOf = (r: Response) => JSON.parse(decodeURIComponent(r.headers.get('bastide-object')!))
  const download = async (bucketName: string, key: string, who: Record<string, string> = admin) => {
    const r = await fetch(`${base}/api/storage/buckets/${bucketName}/objects/${key}`, { headers: who })
    return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()) }
  }

  it('uploads 3 MB in three PATCHes into an object with the same bytes', async () => {
    const bytes = randomBytes(3 * 1024 * 1024)
    const url = await start(as(alice), bytes.length, {
      bucket: 'mine',
      key: 'alice/big.bin',
      contentType: 'application/octet-stream',
      metadata: JSON.stringify({ note: 'résumé' }),
    })
    const initial = await head(url, as(alice))
    expect(initial.status).toBe(200)
    expect(initial.headers.get('upload-offset')).toBe('0')
    expect(initial.headers.get('upload-length')).toBe(String(bytes.length))
    expect(initial.headers.get('cache-control')).toBe('no-store')

    const third = bytes.length / 3
    for (let i = 0; i < 2; i++) {
      const r = await patch(url, as(alice), i * third, bytes.subarray(i * third, (i + 1) * third))
      expect(r.status).toBe(204)
      expect(r.headers.get('upload-offset')).toBe(String((i + 1) * third))
      expect(r.headers.get('upload-expires')).toBeTruthy()
      expect(r.headers.get('bastide-object')).toBeNull()
    }
    expect((await head(url, as(alice))).headers.get('upload-offset')).toBe(String(2 * third))
    // A PATCH at a stale offset is refused without touching the upload.
    const stale = await patch(url, as(alice), 0, bytes.subarray(0, 10))
    expect(stale.status).toBe(409)
    expect(((await stale.json()) as any).code).toBe('CONFLICT')

    const last = await patch(url, as(alice), 2 * third, bytes.subarray(2 * third))
    expect(last.status).toBe(204)
    expect(last.headers.get('upload-offset')).toBe(String(bytes.length))
    const info = objectOf(last)
    expect(info).toMatchObject({
      bucket: 'mine',
      key: 'alice/big.bin',
      size: bytes.length,
      sha256: sha256(bytes),
      owner: alice.id,
      mimeType: 'application/octet-stream',
      metadata: { note: 'résumé' },
      version: 1,
    })
    const got = await download('mine', 'alice/big.bin', as(alice))
    expect(got.status).toBe(200)
    expect(sha256(got.bytes)).toBe(sha256(bytes))
    // The upload is gone once it became an object.
    expect((await head(url, as(alice))).status).toBe(404)
    if (kind === 's3') {
      // Nothing of it is left in the bucket (info, part markers, the assembled bytes).
      const left: string[] = []
      for await (const b of s.bastide.storage.store.list('tus/')) left.push(b.key)
      expect(left).toEqual([])
    }
  })

  it('resumes from another connection after a PATCH is cut off mid-body', async () => {
    // On S3 only whole parts (8 MiB here) survive a cut: send more than one before cutting.
    const bytes = randomBytes(12 * 1024 * 1024)
    const url = await start(as(alice), bytes.length, { bucket: 'files', key: 'resumed.bin' })
    const sent = 10 * 1024 * 1024
    await new Promise<void>((resolve) => {
      const req = http.request(url, {
        method: 'PATCH',
        agent: false,
        headers: {
          ...TUS,
          ...as(alice),
          'content-type': OCTETS,
          'upload-offset': '0',
          'content-length': String(bytes.length),
        },
      })
      req.on('error', () => resolve())
      req.on('close', () => resolve())
      req.write(bytes.subarray(0, sent), () => {
        // Long enough for the bytes to reach the server, then the connection drops.
        setTimeout(() => req.destroy(), 300)
      })
    })
    let offset = -1
    for (let i = 0; i < 50; i++) {
      const h = await head(url, as(alice))
      expect(h.status).toBe(200)
      offset = Number(h.headers.get('upload-offset'))
      if (offset > 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(offset).toBeGreaterThan(0)
    expect(offset).toBeLessThanOrEqual(sent)
    const rest = await patch(url, as(alice), offset, bytes.subarray(offset))
    expect(rest.status).toBe(204)
    expect(objectOf(rest)).toMatchObject({ key: 'resumed.bin', size: bytes.length, sha256: sha256(bytes) })
    const got = await download('files', 'resumed.bin')
    expect(got.bytes.equals(bytes)).toBe(true)
  })

  it('belongs to its uploader: others get 404, anonymous 401, rules refuse creation with 403', async () => {
    const bytes = randomBytes(5000)
    const url = await start(as(alice), bytes.length, { bucket: 'mine', key: 'alice/private.bin' })
    expect((await patch(url, as(bob), 0, bytes)).status).toBe(404)
    expect((await head(url, as(bob))).status).toBe(404)
    const del = await fetch(url, { method: 'DELETE', headers: { ...TUS, ...as(bob) } })
    expect(del.status).toBe(404)
    expect(((await del.json()) as any).code).toBe('NOT_FOUND')
    expect((await head(url, {})).status).toBe(401)
    expect((await patch(url, {}, 0, bytes)).status).toBe(401)
    // Still intact for alice.
    const done = await patch(url, as(alice), 0, bytes)
    expect(done.status).toBe(204)
    expect(objectOf(done).owner).toBe(alice.id)

    // Bob may not overwrite alice's object (an update must pass the rule on the existing row)...
    const over = await create(as(bob), 10, { bucket: 'mine', key: 'alice/private.bin' })
    expect(over.status).toBe(403)
    expect(((await over.json()) as any).code).toBe('FORBIDDEN')
    // ...nor write where the rule is locked; anonymous callers may not start uploads at all.
    expect((await create(as(alice), 10, { bucket: 'locked', key: 'x.bin' })).status).toBe(403)
    const anon = await create({}, 10, { bucket: 'files', key: 'anon.bin' })
    expect(anon.status).toBe(401)
    expect(((await anon.json()) as any).code).toBe('UNAUTHORIZED')
    // Client-sent uploader metadata is overwritten: bob's upload stays bob's.
    const forged = await start(as(bob), 3, { bucket: 'mine', key: 'bob/x.bin', uploader: `user:${alice.id}` })
    expect((await head(forged, as(alice))).status).toBe(404)
    const own = await patch(forged, as(bob), 0, Buffer.from('abc'))
    expect(own.status).toBe(204)
    expect(objectOf(own).owner).toBe(bob.id)
  })

  it('refuses at creation what cannot become an object: missing bucket, too large, deferred length, bad metadata', async () => {
    const missing = await create(as(alice), 10, { bucket: 'nope', key: 'x.bin' })
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as any).code).toBe('NOT_FOUND')
    const big = await create(as(alice), 1025, { bucket: 'small', key: 'x.bin' })
    expect(big.status).toBe(413)
    expect((await big.json()) as any).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit: 1024 } })
    const deferred = await create(
      as(alice),
      undefined,
      { bucket: 'files', key: 'x.bin' },
      { 'upload-defer-length': '1' },
    )
    expect(deferred.status).toBe(400)
    const noKey = await create(as(alice), 10, { bucket: 'files' })
    expect(noKey.status).toBe(400)
    expect(((await noKey.json()) as any).code).toBe('VALIDATION_FAILED')
    const badKey = await create(as(alice), 10, { bucket: 'files', key: '../x' })
    expect(badKey.status).toBe(400)
    // Metadata is held to the same bounds as any upload's (at most 8 levels deep), before a byte is sent.
    const deep = await create(as(alice), 10, {
      bucket: 'files',
      key: 'deep.bin',
      metadata: `${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}`,
    })
    expect(deep.status).toBe(400)
    expect(((await deep.json()) as any).details.fields.metadata.code).toBe('too_deep')
    // No more bytes than declared.
    const url = await start(as(alice), 10, { bucket: 'files', key: 'ten.bin' })
    expect((await patch(url, as(alice), 0, randomBytes(11))).status).toBe(413)
  })

  it('answers the final PATCH with 415 when the bytes are not of an allowed type, and keeps nothing', async () => {
    const html = Buffer.from(`<!DOCTYPE html><html><body>${'x'.repeat(2000)}</body></html>`)
    const url = await start(as(alice), html.length, {
      bucket: 'images',
      key: 'fake.png',
      contentType: 'image/png',
    })
    expect((await patch(url, as(alice), 0, html.subarray(0, 1000))).status).toBe(204)
    const last = await patch(url, as(alice), 1000, html.subarray(1000))
    expect(last.status).toBe(415)
    expect(((await last.json()) as any).code).toBe('UNSUPPORTED_MEDIA_TYPE')
    expect((await download('images', 'fake.png')).status).toBe(404)
    expect((await head(url, as(alice))).status).toBe(404)
  })

  it('puts Location on the configured origin, whatever Host the client sends', async () => {
    const r = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: s.bastide.port,
          path: '/api/storage/uploads',
          method: 'POST',
          headers: {
            ...TUS,
            ...as(alice),
            host: 'evil.example',
            'x-forwarded-host': 'evil.example',
            'upload-length': '3',
            'upload-metadata': `bucket ${b64('files')},key ${b64('host.bin')}`,
          },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location }))
        },
      )
      req.on('error', reject)
      req.end()
    })
    expect(r.status).toBe(201)
    expect(r.location).toMatch(
      new RegExp(`^http://localhost:${s.bastide.port}/api/storage/uploads/[0-9a-f]{32}$`),
    )
  })

  it('creates with the first bytes (creation-with-upload) and tells its capabilities to OPTIONS', async () => {
    const bytes = Buffer.from('hello, resumable world')
    const r = await fetch(`${base}/api/storage/uploads`, {
      method: 'POST',
      headers: {
        ...TUS,
        ...as(alice),
        'upload-length': String(bytes.length),
        'upload-metadata': `bucket ${b64('files')},key ${b64('hello.txt')}`,
        'content-type': OCTETS,
      },
      body: bytes,
    })
    expect(r.status).toBe(201)
    expect(objectOf(r)).toMatchObject({ key: 'hello.txt', size: bytes.length, mimeType: 'text/plain' })
    expect((await download('files', 'hello.txt')).bytes.equals(bytes)).toBe(true)

    const opts = await fetch(`${base}/api/storage/uploads`, { method: 'OPTIONS' })
    expect(opts.status).toBe(204)
    expect(opts.headers.get('tus-version')).toBe('1.0.0')
    expect(opts.headers.get('tus-extension')).toContain('creation')
    expect(opts.headers.get('access-control-expose-headers')).toContain('Upload-Offset')
    const preflight = await fetch(`${base}/api/storage/uploads/abc`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PATCH' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Upload-Offset')
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PATCH')
  })
})
