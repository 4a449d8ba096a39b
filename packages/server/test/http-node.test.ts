import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, createCollection, startTestServer, type TestServer } from './support/harness.ts'

/** The same hygiene as http.test.ts, over a real socket: the server takes Node-only fast paths there. */
let s: TestServer
beforeAll(async () => {
  s = await startTestServer({
    listen: true,
    env: { BASTIDE_BODY_LIMIT: '4096', BASTIDE_CORS_ORIGINS: 'https://app.example' },
  })
  await createCollection(s, {
    name: 'notes',
    fields: [{ name: 'text', type: 'text' }],
    rules: { list: '', view: '', create: '' },
  })
})
afterAll(() => s?.close())

function raw(
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; chunks?: string[] } = {},
) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const req = http.request(`${s.bastide.url}${path}`, { method, headers: opts.headers }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (b) => parts.push(b))
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }),
        )
      })
      req.on('error', reject)
      for (const c of opts.chunks ?? []) req.write(c)
      req.end()
    },
  )
}

describe('over a real socket', () => {
  it('sends security headers, request ids and CORS headers', async () => {
    const r = await raw('GET', '/api/health', { headers: { origin: 'https://app.example' } })
    expect(r.status).toBe(200)
    expect(r.headers['x-content-type-options']).toBe('nosniff')
    expect(r.headers['content-security-policy']).toContain("default-src 'self'")
    expect(r.headers['x-request-id']).toBeTruthy()
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example')
    const evil = await raw('GET', '/api/health', { headers: { origin: 'https://evil.example' } })
    expect(evil.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('answers HEAD with the same CORS headers and request id as GET, errors included', async () => {
    const origin = { origin: 'https://app.example' }
    for (const path of [
      '/api/health',
      '/api/collections/notes/records/00000000-0000-7000-8000-000000000000',
      '/api/storage/buckets/nope/objects/missing.txt',
      '/api/nowhere',
    ]) {
      const get = await raw('GET', path, { headers: origin })
      const head = await raw('HEAD', path, { headers: { ...origin, 'x-request-id': 'head-check-1' } })
      expect(head.status, path).toBe(get.status)
      expect(head.body, path).toBe('')
      expect(head.headers['access-control-allow-origin'], path).toBe('https://app.example')
      expect(head.headers['access-control-expose-headers'], path).toContain('X-Request-Id')
      expect(head.headers.vary, path).toMatch(/origin/i)
      expect(head.headers['x-request-id'], path).toBe('head-check-1')
      expect(head.headers['x-content-type-options'], path).toBe('nosniff')
      expect(head.headers['content-type'], path).toBe(get.headers['content-type'])
    }
  })

  it('reads JSON bodies sent with Content-Length and chunked', async () => {
    const body = JSON.stringify({ text: 'sized' })
    const a = await raw('POST', '/api/collections/notes/records', {
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      chunks: [body],
    })
    expect(a.status).toBe(201)
    expect(JSON.parse(a.body).text).toBe('sized')
    const b = await raw('POST', '/api/collections/notes/records', {
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: ['{"text":', '"chunked"}'],
    })
    expect(b.status).toBe(201)
    expect(JSON.parse(b.body).text).toBe('chunked')
  })

  it('refuses bodies over the limit, declared or streamed, with 413', async () => {
    const big = JSON.stringify({ text: 'x'.repeat(5000) })
    const declared = await raw('POST', '/api/collections/notes/records', {
      headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
      chunks: [big],
    })
    expect(declared.status).toBe(413)
    expect(JSON.parse(declared.body).code).toBe('PAYLOAD_TOO_LARGE')
    const streamed = await raw('POST', '/api/collections/notes/records', {
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: [big.slice(0, 2500), big.slice(2500)],
    })
    expect(streamed.status).toBe(413)
  })

  it('answers If-None-Match with 304 and compresses large lists', async () => {
    for (let i = 0; i < 20; i++) {
      await raw('POST', '/api/collections/notes/records', {
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
        chunks: [JSON.stringify({ text: `note ${i} ${'padding '.repeat(10)}` })],
      })
    }
    const first = await raw('GET', '/api/collections/notes/records?perPage=50')
    const tag = first.headers.etag as string
    expect(tag).toMatch(/^"[0-9a-f]{40}"$/)
    expect(
      (await raw('GET', '/api/collections/notes/records?perPage=50', { headers: { 'if-none-match': tag } }))
        .status,
    ).toBe(304)
    const gz = await raw('GET', '/api/collections/notes/records?perPage=50', {
      headers: { 'accept-encoding': 'gzip' },
    })
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(gz.headers.vary).toMatch(/accept-encoding/i)
    // Any encoding will do: compressed all the same (hono's compress() picks gzip).
    const any = await raw('GET', '/api/collections/notes/records?perPage=50', {
      headers: { 'accept-encoding': '*' },
    })
    expect(any.headers['content-encoding']).toBe('gzip')
    // Refused outright (q=0) and nothing else offered: plain.
    const none = await raw('GET', '/api/collections/notes/records?perPage=50', {
      headers: { 'accept-encoding': 'gzip;q=0' },
    })
    expect(none.headers['content-encoding']).toBeUndefined()
    expect(JSON.parse(none.body).items.length).toBeGreaterThanOrEqual(20)
  })
})

/** Every header but those that differ per answer by nature. */
function stable(h: http.IncomingHttpHeaders): Record<string, unknown> {
  const { date: _d, 'x-request-id': _r, 'content-length': _l, 'keep-alive': _k, connection: _c, ...rest } = h
  return rest
}

describe('hot routes over Node’s own response (native.ts)', () => {
  it('answer with the very headers hono’s path gives, for each CORS case', async () => {
    const created = await raw('POST', '/api/collections/notes/records', {
      headers: { 'content-type': 'application/json', origin: 'https://app.example' },
      chunks: [JSON.stringify({ text: 'native' })],
    })
    expect(created.status).toBe(201)
    const id = JSON.parse(created.body).id as string
    // What every answer carries, on this write too (sent natively: no Accept-Encoding, no replay).
    expect(created.headers['content-type']).toBe('application/json')
    expect(created.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(created.headers.vary).toBe('Accept-Encoding, Origin')
    expect(created.headers['x-content-type-options']).toBe('nosniff')
    expect(created.headers['x-request-id']).toBeTruthy()
    expect(created.headers.etag).toBeUndefined()
    expect(Number(created.headers['content-length'])).toBe(Buffer.byteLength(created.body))

    const origins: Record<string, string>[] = [
      { origin: 'https://app.example' },
      { origin: 'https://evil.example' },
      {},
    ]
    for (const origin of origins) {
      for (const path of [
        `/api/collections/notes/records/${id}`,
        '/api/collections/notes/records?perPage=2',
      ]) {
        const native = await raw('GET', path, { headers: { ...origin, 'x-request-id': 'native-1' } })
        // An If-None-Match that matches nothing takes hono's path (etag middleware) to the same 200.
        const viaHono = await raw('GET', path, { headers: { ...origin, 'if-none-match': '"nothing"' } })
        expect(native.status, path).toBe(200)
        expect(viaHono.status, path).toBe(200)
        expect(native.body, path).toBe(viaHono.body)
        expect(stable(native.headers), path).toEqual(stable(viaHono.headers))
        expect(native.headers['x-request-id']).toBe('native-1')
        expect(Number(native.headers['content-length'])).toBe(Buffer.byteLength(native.body))
      }
    }
  })

  it('leaves errors, 304s and HEAD to hono, with the same headers as before', async () => {
    const missing = await raw('GET', '/api/collections/notes/records/00000000-0000-7000-8000-000000000000', {
      headers: { origin: 'https://app.example' },
    })
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.body).code).toBe('NOT_FOUND')
    expect(missing.headers['access-control-allow-origin']).toBe('https://app.example')
    const list = await raw('GET', '/api/collections/notes/records?perPage=1')
    const again = await raw('GET', '/api/collections/notes/records?perPage=1', {
      headers: { 'if-none-match': list.headers.etag as string },
    })
    expect(again.status).toBe(304)
    expect(again.headers.etag).toBe(list.headers.etag)
    expect(again.headers.vary).toMatch(/accept-encoding/i)
  })

  it('logs the bytes sent of native and hono answers alike (the request log)', async () => {
    const native = await raw('GET', '/api/collections/notes/records?perPage=1', {
      headers: { 'x-request-id': 'bytes-native' },
    })
    const viaHono = await raw('GET', '/api/collections/notes/records?perPage=1', {
      headers: { 'x-request-id': 'bytes-hono', 'if-none-match': '"nothing"' },
    })
    expect(native.body).toBe(viaHono.body)
    await s.bastide.scheduler.runNow('metrics', 'flush-request-log')
    const rows = await s.bastide.database.pool.query<{
      request_id: string
      bytes_out: string
      status: number
    }>(
      `SELECT request_id, bytes_out, status FROM bastide.request_log WHERE request_id IN ('bytes-native', 'bytes-hono')
       ORDER BY request_id`,
    )
    expect(rows.rows.map((r) => [r.request_id, Number(r.bytes_out), r.status])).toEqual([
      ['bytes-hono', Buffer.byteLength(viaHono.body), 200],
      ['bytes-native', Buffer.byteLength(native.body), 200],
    ])
  })
})
