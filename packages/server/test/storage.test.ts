import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import { sql } from 'kysely'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedUp, signUp } from './support/auth.ts'
import { ADMIN_KEY, startTestServer, type TestServer } from './support/harness.ts'
import { pngBomb } from './support/png-bomb.ts'
import { bastideS3Env, startS3rver, type TestS3 } from './support/s3.ts'

/**
 * Storage over HTTP on a real port, the same suite on local disk and on S3 (s3rver): buckets, streamed
 * uploads and downloads, ranges and validators, sniffing, traversal, limits, owner-only rules for two users
 * and anonymous, signed URLs, listing, copy/move, image variants, multipart, and the reconciler.
 */
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe.each(['local', 's3'] as const)('storage on %s', (kind) => {
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
    alice = await signUp(s, `alice-${kind}@example.com`)
    bob = await signUp(s, `bob-${kind}@example.com`)
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
    return r.json() as any
  }

  const put = (
    b: string,
    key: string,
    body: string | Uint8Array | ReadableStream | Blob,
    headers: Record<string, string> = admin,
    query = '',
  ) =>
    fetch(`${base}/api/storage/buckets/${b}/objects/${key}${query}`, {
      method: 'PUT',
      headers,
      body,
      // A stream body needs this in Node's fetch.
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit)
  const get = (b: string, key: string, headers: Record<string, string> = admin, query = '') =>
    fetch(`${base}/api/storage/buckets/${b}/objects/${key}${query}`, { headers })
  const objectCount = async () =>
    Number(
      (
        await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.objects`.execute(
          s.bastide.database.db,
        )
      ).rows[0]!.n,
    )

  describe('buckets', () => {
    it('are managed by admins only, validated, and refuse deletion while they hold objects', async () => {
      const dup = await fetch(`${base}/api/storage/buckets`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'files' }),
      })
      expect(dup.status).toBe(409)
      const bad = await fetch(`${base}/api/storage/buckets`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Bad Name', rules: { read: 'nope ==' } }),
      })
      expect(bad.status).toBe(400)
      const badBody = (await bad.json()) as any
      expect(badBody.code).toBe('VALIDATION_FAILED')
      expect(Object.keys(badBody.details.fields)).toContain('name')
      const badRule = await fetch(`${base}/api/storage/buckets`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'badrule', rules: { read: 'unknownField = 1' } }),
      })
      expect(((await badRule.json()) as any).details.fields['rules.read']).toBeDefined()
      expect((await fetch(`${base}/api/storage/buckets`, { headers: as(alice) })).status).toBe(403)
      expect((await fetch(`${base}/api/storage/buckets`)).status).toBe(401)
      const list = (await (await fetch(`${base}/api/storage/buckets`, { headers: admin })).json()) as any
      expect(list.items.map((b: any) => b.name)).toEqual(['files', 'images', 'mine', 'small'])

      await bucket({ name: 'temp', rules: {} })
      expect((await put('temp', 'x.txt', 'hello')).status).toBe(201)
      const del = () => fetch(`${base}/api/storage/buckets/temp`, { method: 'DELETE', headers: admin })
      expect((await del()).status).toBe(409)
      expect(
        (await fetch(`${base}/api/storage/buckets/temp/objects/x.txt`, { method: 'DELETE', headers: admin }))
          .status,
      ).toBe(204)
      expect((await del()).status).toBe(204)
      const patched = await fetch(`${base}/api/storage/buckets/small`, {
        method: 'PATCH',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ allowedMimeTypes: ['text/*', 'application/octet-stream'] }),
      })
      expect(((await patched.json()) as any).allowedMimeTypes).toEqual(['text/*', 'application/octet-stream'])
    })
  })

  describe('upload and download', () => {
    const bytes = randomBytes(300_000)

    it('streams bytes in and out with their sha256, and ranges, validators and HEAD', async () => {
      const up = await put('files', 'docs/data.bin', bytes, {
        ...admin,
        'content-type': 'application/octet-stream',
      })
      expect(up.status).toBe(201)
      const info = (await up.json()) as any
      expect(info).toMatchObject({
        bucket: 'files',
        key: 'docs/data.bin',
        size: bytes.length,
        sha256: sha256(bytes),
        version: 1,
      })
      const r = await get('files', 'docs/data.bin')
      expect(r.status).toBe(200)
      expect(Buffer.from(await r.arrayBuffer()).equals(bytes)).toBe(true)
      const etag = r.headers.get('etag')!
      expect(etag).toBe(`"${sha256(bytes)}"`)
      expect(r.headers.get('cache-control')).toContain('private')
      expect(r.headers.get('x-content-type-options')).toBe('nosniff')
      expect(r.headers.get('content-disposition')).toBe('inline; filename="data.bin"')
      expect(r.headers.get('last-modified')).toBe(new Date(info.updated).toUTCString())
      expect((await get('files', 'docs/data.bin', { ...admin, 'if-none-match': etag })).status).toBe(304)

      const range = async (h: string) => {
        const x = await get('files', 'docs/data.bin', { ...admin, range: h })
        return {
          status: x.status,
          cr: x.headers.get('content-range'),
          body: Buffer.from(await x.arrayBuffer()),
        }
      }
      const first = await range('bytes=0-0')
      expect(first).toMatchObject({ status: 206, cr: `bytes 0-0/${bytes.length}` })
      expect(first.body.equals(bytes.subarray(0, 1))).toBe(true)
      const mid = await range('bytes=1000-1999')
      expect(mid.body.equals(bytes.subarray(1000, 2000))).toBe(true)
      const last = await range('bytes=-10')
      expect(last.body.equals(bytes.subarray(bytes.length - 10))).toBe(true)
      expect(last.cr).toBe(`bytes ${bytes.length - 10}-${bytes.length - 1}/${bytes.length}`)
      const open = await range(`bytes=${bytes.length - 5}-`)
      expect(open.body.equals(bytes.subarray(bytes.length - 5))).toBe(true)
      const beyond = await range(`bytes=${bytes.length}-`)
      expect(beyond.status).toBe(416)
      expect(beyond.cr).toBe(`bytes */${bytes.length}`)
      // If-Range with another validator: the whole object.
      const stale = await get('files', 'docs/data.bin', {
        ...admin,
        range: 'bytes=0-0',
        'if-range': '"other"',
      })
      expect(stale.status).toBe(200)
      await stale.arrayBuffer()

      const head = await fetch(`${base}/api/storage/buckets/files/objects/docs/data.bin`, {
        method: 'HEAD',
        headers: admin,
      })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-length')).toBe(String(bytes.length))
    })

    it('replaces an object atomically on overwrite and frees the old bytes', async () => {
      const v1 = (await (await put('files', 'over.txt', 'first version')).json()) as any
      const oldBlob = (
        await sql<{ blob: string }>`SELECT blob FROM bastide.objects WHERE id = ${v1.id}::uuid`.execute(
          s.bastide.database.db,
        )
      ).rows[0]!.blob
      const up = await put('files', 'over.txt', 'second version')
      expect(up.status).toBe(200)
      const v2 = (await up.json()) as any
      expect(v2).toMatchObject({ id: v1.id, version: 2, size: 14 })
      expect(await (await get('files', 'over.txt')).text()).toBe('second version')
      await expect.poll(() => s.bastide.storage.store.stat(oldBlob)).toBeUndefined()
      // The garbage row goes once the bytes are gone (right after, in the same clean-up).
      const garbageRows = async () =>
        (
          await sql`SELECT * FROM bastide.garbage_blobs WHERE blob = ${oldBlob}`.execute(
            s.bastide.database.db,
          )
        ).rows.length
      await expect.poll(garbageRows).toBe(0)
    })

    it('takes the type from the bytes, refuses what a bucket does not accept, and never serves active content inline', async () => {
      const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } })
        .png()
        .toBuffer()
      const asOctet = (await (
        await put('files', 'pic', png, { ...admin, 'content-type': 'application/octet-stream' })
      ).json()) as any
      expect(asOctet.mimeType).toBe('image/png')
      const html = '<!doctype html><script>alert(document.cookie)</script>'
      const spoof = await put('images', 'evil.png', html, { ...admin, 'content-type': 'image/png' })
      expect(spoof.status).toBe(415)
      expect(((await spoof.json()) as any).details.mimeType).toBe('text/html')
      const svg =
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
      expect((await put('images', 'evil.svg', svg, { ...admin, 'content-type': 'image/png' })).status).toBe(
        415,
      )
      expect((await get('images', 'evil.png')).status).toBe(404)

      const stored = (await (
        await put('files', 'page.png', html, { ...admin, 'content-type': 'image/png' })
      ).json()) as any
      expect(stored.mimeType).toBe('text/html')
      const r = await get('files', 'page.png')
      expect(r.headers.get('content-type')).toBe('text/html')
      expect(r.headers.get('content-disposition')).toMatch(/^attachment;/)
      expect(r.headers.get('content-security-policy')).toContain('sandbox')
      await r.arrayBuffer()
    })

    it('refuses traversal and malformed keys, storing nothing', async () => {
      const before = await objectCount()
      // Raw request targets: fetch would resolve `..` and `%2e%2e` before sending.
      const rawPut = (target: string) =>
        new Promise<{ status: number; body: any }>((resolve, reject) => {
          const req = http.request(
            {
              host: '127.0.0.1',
              port: s.bastide.port,
              path: target,
              method: 'PUT',
              headers: { ...admin, 'content-type': 'text/plain' },
            },
            (res) => {
              let text = ''
              res.on('data', (d) => {
                text += d
              })
              res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : null }))
            },
          )
          req.on('error', reject)
          req.end('x')
        })
      for (const key of [
        'a/../b',
        'a/%2e%2e/b',
        'a/%2E%2E/b',
        'a%2F..%2Fb',
        '..%2Fsecret',
        './x',
        'a%5Cb',
        'a%00b',
        'a//b',
        'a/b/',
        '%2Fetc%2Fpasswd',
        '/etc/passwd',
        '%ff',
      ]) {
        const r = await rawPut(`/api/storage/buckets/files/objects/${key}`)
        expect(r.status, key).toBe(400)
        expect(r.body.code, key).toBe('VALIDATION_FAILED')
      }
      // Climbing out of the objects path altogether reaches no route.
      expect((await rawPut('/api/storage/buckets/files/objects/../../files')).status).toBe(404)
      expect(await objectCount()).toBe(before)
    })

    it('stops an upload at the bucket limit, with or without Content-Length, storing nothing', async () => {
      const before = await objectCount()
      const declared = await put('small', 'big.txt', 'x'.repeat(2000))
      expect(declared.status).toBe(413)
      expect(((await declared.json()) as any).details.limit).toBe(1024)
      const chunked = new ReadableStream({
        start(ctl) {
          for (let i = 0; i < 10; i++) ctl.enqueue(new TextEncoder().encode('y'.repeat(500)))
          ctl.close()
        },
      })
      const streamed = await put('small', 'big2.txt', chunked)
      expect(streamed.status).toBe(413)
      expect(await objectCount()).toBe(before)
      expect((await put('small', 'ok.txt', 'z'.repeat(1024))).status).toBe(201)
    })

    it('uploads through multipart/form-data with metadata', async () => {
      const form = new FormData()
      form.append('key', 'forms/note.txt')
      form.append('metadata', JSON.stringify({ album: 'summer' }))
      form.append('file', new Blob(['from a form']), 'note.txt')
      const r = await fetch(`${base}/api/storage/buckets/files/objects`, {
        method: 'POST',
        headers: admin,
        body: form,
      })
      expect(r.status).toBe(201)
      expect((await r.json()) as any).toMatchObject({
        key: 'forms/note.txt',
        size: 11,
        metadata: { album: 'summer' },
      })
      expect(await (await get('files', 'forms/note.txt')).text()).toBe('from a form')
    })

    it('refuses deeply nested or oversized metadata with 400, on every way in', async () => {
      const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`
      const before = await objectCount()
      // 10 000 levels: more than JSON.stringify can recurse through.
      const form = new FormData()
      form.append('key', 'forms/deep.txt')
      form.append('metadata', nested(10_000))
      form.append('file', new Blob(['deep']), 'deep.txt')
      const multipart = await fetch(`${base}/api/storage/buckets/files/objects`, {
        method: 'POST',
        headers: admin,
        body: form,
      })
      expect(multipart.status).toBe(400)
      expect(((await multipart.json()) as any).details.fields.metadata.code).toBe('too_deep')
      // In-process, where no HTTP parser caps the header's length.
      const header = await s.api('PUT', '/api/storage/buckets/files/objects/deep.txt', 'deep', {
        headers: { 'content-type': 'text/plain', 'x-bastide-metadata': nested(10_000) },
      })
      expect(header.status).toBe(400)
      expect(header.body).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
      // The bounds: 8 levels pass, 9 do not; more than 8 KiB of JSON does not either.
      const put8 = await put('files', 'meta/8.txt', 'x', { ...admin, 'x-bastide-metadata': nested(8) })
      expect(put8.status).toBe(201)
      expect(((await put8.json()) as any).metadata).toEqual(JSON.parse(nested(8)))
      const put9 = await put('files', 'meta/9.txt', 'x', { ...admin, 'x-bastide-metadata': nested(9) })
      expect(put9.status).toBe(400)
      expect(((await put9.json()) as any).details.fields.metadata.code).toBe('too_deep')
      const wide = JSON.stringify({ note: 'n'.repeat(9000) })
      const large = await put('files', 'meta/large.txt', 'x', { ...admin, 'x-bastide-metadata': wide })
      expect(large.status).toBe(400)
      expect(((await large.json()) as any).details.fields.metadata.code).toBe('too_large')
      expect(await objectCount()).toBe(before + 1)
    })
  })

  describe('owner-only bucket: two users and anonymous', () => {
    it('lets each user write, read, list and delete only their own objects', async () => {
      expect((await put('mine', 'alice/a.txt', 'alice data', as(alice))).status).toBe(201)
      expect((await put('mine', 'bob/b.txt', 'bob data', as(bob))).status).toBe(201)
      expect((await put('mine', 'anon.txt', 'anon', {})).status).toBe(403)
      // Bob can neither overwrite nor read nor delete Alice's object: 403 on write, 404 otherwise.
      expect((await put('mine', 'alice/a.txt', 'bob was here', as(bob))).status).toBe(403)
      expect((await get('mine', 'alice/a.txt', as(bob))).status).toBe(404)
      expect((await get('mine', 'alice/a.txt', {})).status).toBe(404)
      expect(
        (
          await fetch(`${base}/api/storage/buckets/mine/objects/alice/a.txt`, {
            method: 'DELETE',
            headers: as(bob),
          })
        ).status,
      ).toBe(404)
      expect(await (await get('mine', 'alice/a.txt', as(alice))).text()).toBe('alice data')
      const bobList = (await (
        await fetch(`${base}/api/storage/buckets/mine/objects`, { headers: as(bob) })
      ).json()) as any
      expect(bobList.items.map((o: any) => o.key)).toEqual(['bob/b.txt'])
      const anonList = (await (await fetch(`${base}/api/storage/buckets/mine/objects`)).json()) as any
      expect(anonList.items).toEqual([])
      expect(
        (
          await fetch(`${base}/api/storage/buckets/mine/objects/alice/a.txt`, {
            method: 'DELETE',
            headers: as(alice),
          })
        ).status,
      ).toBe(204)
      expect((await get('mine', 'alice/a.txt', as(alice))).status).toBe(404)
    })

    it('signed URLs: one object, one operation, until they expire', async () => {
      await put('mine', 'alice/photo.txt', 'private photo', as(alice))
      const sign = (body: unknown, who = as(alice)) =>
        fetch(`${base}/api/storage/buckets/mine/signed-urls`, {
          method: 'POST',
          headers: { ...who, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      const res = await sign({ key: 'alice/photo.txt', expiresIn: 60 })
      expect(res.status).toBe(201)
      const { url, method } = (await res.json()) as any
      expect(method).toBe('GET')
      const path = new URL(url).pathname + new URL(url).search
      expect(await (await fetch(`${base}${path}`)).text()).toBe('private photo')
      const token = new URL(url).searchParams.get('token')!
      // Every single-character change of the token fails, including the signature's last character (whose
      // low bits base64 does not use).
      const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1)
      for (const i of [
        0,
        token.indexOf('.') - 1,
        token.indexOf('.') + 1,
        token.length - 2,
        token.length - 1,
      ]) {
        expect((await get('mine', 'alice/photo.txt', {}, `?token=${flip(token, i)}`)).status, `at ${i}`).toBe(
          403,
        )
      }
      await put('mine', 'alice/other.txt', 'other', as(alice))
      expect((await get('mine', 'alice/other.txt', {}, `?token=${token}`)).status).toBe(403)
      expect((await put('mine', 'alice/photo.txt', 'overwritten', {}, `?token=${token}`)).status).toBe(403)
      const expired = s.bastide.storage.signer.sign({
        operation: 'read',
        bucket: 'mine',
        key: 'alice/photo.txt',
        expires: Math.floor(Date.now() / 1000) - 1,
        owner: null,
      })
      expect((await get('mine', 'alice/photo.txt', {}, `?token=${expired}`)).status).toBe(403)
      // Bob cannot sign what he cannot read.
      expect((await sign({ key: 'alice/photo.txt' }, as(bob))).status).toBe(404)

      const w = (await (
        await sign({ key: 'alice/upload.txt', operation: 'write', expiresIn: 60 })
      ).json()) as any
      expect(w.method).toBe('PUT')
      const wp = new URL(w.url)
      const up = await fetch(`${base}${wp.pathname}${wp.search}`, { method: 'PUT', body: 'via signed url' })
      expect(up.status).toBe(201)
      expect(((await up.json()) as any).owner).toBe(alice.id)
      expect(await (await get('mine', 'alice/upload.txt', as(alice))).text()).toBe('via signed url')
    })

    it('builds signed URLs on the configured origin, whatever Host the client sends', async () => {
      // BASTIDE_PUBLIC_URL is unset here: the origin is http://localhost:$PORT. A client's Host (or, with no
      // trusted proxy, X-Forwarded-Host) must not turn a token into a link to another site.
      expect((await put('mine', 'alice/host.txt', 'x', as(alice))).status).toBe(201)
      const body = JSON.stringify({ key: 'alice/host.txt', expiresIn: 60 })
      const r = await new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: s.bastide.port,
            path: '/api/storage/buckets/mine/signed-urls',
            method: 'POST',
            headers: {
              ...as(alice),
              host: 'evil.example',
              'x-forwarded-host': 'evil.example',
              'x-forwarded-proto': 'https',
              'content-type': 'application/json',
              'content-length': String(Buffer.byteLength(body)),
            },
          },
          (res) => {
            let text = ''
            res.on('data', (d) => {
              text += d
            })
            res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }))
          },
        )
        req.on('error', reject)
        req.end(body)
      })
      expect(r.status).toBe(201)
      expect(r.body.url).toMatch(
        new RegExp(
          `^http://localhost:${s.bastide.port}/api/storage/buckets/mine/objects/alice/host\\.txt\\?token=`,
        ),
      )
    })
  })

  describe('listing, copy and move', () => {
    it('lists by prefix in key order with a cursor', async () => {
      for (const k of ['list/b', 'list/a', 'list/c/1', 'list/c/2', 'listing', 'lisu'])
        await put('files', k, k)
      const page = async (q: string) =>
        (await fetch(`${base}/api/storage/buckets/files/objects?${q}`, { headers: admin })).json() as any
      const p1 = await page('prefix=list/&perPage=2')
      expect(p1.items.map((o: any) => o.key)).toEqual(['list/a', 'list/b'])
      const p2 = await page(`prefix=list/&perPage=2&after=${p1.nextCursor}`)
      expect(p2.items.map((o: any) => o.key)).toEqual(['list/c/1', 'list/c/2'])
      expect(p2.nextCursor).toBeNull()
      expect((await page('prefix=list')).items.map((o: any) => o.key)).toEqual([
        'list/a',
        'list/b',
        'list/c/1',
        'list/c/2',
        'listing',
      ])
      expect(
        (await fetch(`${base}/api/storage/buckets/files/objects?after=%%%`, { headers: admin })).status,
      ).toBe(400)
    })

    it('copies and moves objects, within and across buckets', async () => {
      await put('files', 'cp/src.txt', 'copy me')
      const call = (op: string, body: unknown) =>
        fetch(`${base}/api/storage/buckets/files/${op}`, {
          method: 'POST',
          headers: { ...admin, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      expect((await call('copy', { from: 'cp/src.txt', to: 'cp/dst.txt' })).status).toBe(201)
      expect(await (await get('files', 'cp/dst.txt')).text()).toBe('copy me')
      expect(await (await get('files', 'cp/src.txt')).text()).toBe('copy me')
      const blobOf = async (id: string) =>
        (
          await sql<{ blob: string }>`SELECT blob FROM bastide.objects WHERE id = ${id}::uuid`.execute(
            s.bastide.database.db,
          )
        ).rows[0]?.blob
      const src = (await (
        await fetch(`${base}/api/storage/buckets/files/objects?prefix=cp/src`, { headers: admin })
      ).json()) as any
      const srcBlob = await blobOf(src.items[0].id)
      await put('small', 'moved.txt', 'to be replaced')
      const moved = await call('move', { from: 'cp/src.txt', to: 'moved.txt', toBucket: 'small' })
      expect(moved.status).toBe(201)
      const info = (await moved.json()) as any
      // The same row and bytes under a new address: nothing copied, and the replaced object is gone.
      expect(info).toMatchObject({ id: src.items[0].id, bucket: 'small', key: 'moved.txt', version: 2 })
      expect(await blobOf(info.id)).toBe(srcBlob)
      expect((await get('files', 'cp/src.txt')).status).toBe(404)
      expect(await (await get('small', 'moved.txt')).text()).toBe('copy me')
      expect((await call('copy', { from: 'nope', to: 'x' })).status).toBe(404)
      // In an owner-only bucket, Bob can move neither Alice's object nor anything onto her key.
      await put('mine', 'alice/keep.txt', 'hers', as(alice))
      await put('mine', 'bob/mine.txt', 'his', as(bob))
      const moveAs = (u: SignedUp, body: unknown) =>
        fetch(`${base}/api/storage/buckets/mine/move`, {
          method: 'POST',
          headers: { ...as(u), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      expect((await moveAs(bob, { from: 'alice/keep.txt', to: 'bob/stolen.txt' })).status).toBe(404)
      expect((await moveAs(bob, { from: 'bob/mine.txt', to: 'alice/keep.txt' })).status).toBe(403)
      expect(await (await get('mine', 'alice/keep.txt', as(alice))).text()).toBe('hers')
      expect(await (await get('mine', 'bob/mine.txt', as(bob))).text()).toBe('his')
      expect((await moveAs(bob, { from: 'bob/mine.txt', to: 'bob/renamed.txt' })).status).toBe(201)
      expect(await (await get('mine', 'bob/renamed.txt', as(bob))).text()).toBe('his')
    })
  })

  describe('image transformations', () => {
    it('resizes and converts, caches the variant, and drops it when the source changes', async () => {
      const png = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#08f' } })
        .png()
        .toBuffer()
      await put('images', 'pics/banner.png', png)
      const r = await get('images', 'pics/banner.png', {}, '?width=50&format=webp')
      expect(r.status).toBe(200)
      expect(r.headers.get('content-type')).toBe('image/webp')
      expect(r.headers.get('cache-control')).toContain('public')
      const meta = await sharp(Buffer.from(await r.arrayBuffer())).metadata()
      expect(meta).toMatchObject({ format: 'webp', width: 50, height: 25 })
      const again = await get('images', 'pics/banner.png', {}, '?format=webp&width=50')
      expect(again.headers.get('etag')).toBe(r.headers.get('etag'))
      await again.arrayBuffer()
      const variants = async () =>
        Number(
          (
            await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.object_variants`.execute(
              s.bastide.database.db,
            )
          ).rows[0]!.n,
        )
      expect(await variants()).toBe(1)
      const png2 = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#0f0' } })
        .png()
        .toBuffer()
      await put('images', 'pics/banner.png', png2)
      expect(await variants()).toBe(0)
      const fresh = await get('images', 'pics/banner.png', {}, '?width=50&format=webp')
      expect(await sharp(Buffer.from(await fresh.arrayBuffer())).metadata()).toMatchObject({
        width: 50,
        height: 50,
      })
      const bad = await get('images', 'pics/banner.png', {}, '?width=0')
      expect(bad.status).toBe(400)
    })

    it('refuses a decompression bomb before decoding it', async () => {
      const bomb = pngBomb(50_000) // 2.5 gigapixels declared, a few kilobytes stored
      await put('images', 'bomb.png', bomb)
      const r = await get('images', 'bomb.png', {}, '?width=10')
      expect(r.status).toBe(422)
      expect(((await r.json()) as any).code).toBe('UNPROCESSABLE_IMAGE')
    })
  })

  describe('reconciler', () => {
    it('removes bytes nothing points at, and keeps every visible object', async () => {
      const store = s.bastide.storage.store
      const b = (
        await sql<{ id: string }>`SELECT id FROM bastide.buckets WHERE name = 'files'`.execute(
          s.bastide.database.db,
        )
      ).rows[0]!.id
      await store.write(
        `${b}/orphan-${randomBytes(4).toString('hex')}`,
        (async function* () {
          yield Buffer.from('orphaned bytes')
        })(),
      )
      const report = await s.bastide.storage.reconcile({ graceMs: 0 })
      expect(report).toMatchObject({ ran: true, orphans: 1 })
      const rows = await sql<{ blob: string; size: number; sha256: string }>`
        SELECT blob, size, sha256 FROM bastide.objects`.execute(s.bastide.database.db)
      for (const row of rows.rows)
        expect(await store.stat(row.blob), row.blob).toMatchObject({ size: Number(row.size) })
      expect((await s.bastide.storage.reconcile({ graceMs: 0 })).orphans).toBe(0)
    })
  })
})
