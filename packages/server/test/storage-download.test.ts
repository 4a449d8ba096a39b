import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, startTestServer, type TestServer } from './support/harness.ts'

/**
 * Downloads over a real socket, where they are piped straight into Node's response (serve-object.ts): the
 * same status, headers and bytes as the answer built by hono (which a non-matching If-None-Match still
 * takes), HEAD and 304 untouched, a missing blob still a JSON 404, and no file left open by a client that
 * goes away mid-download.
 */
const ALLOWED = 'https://app.example'
const SMALL = randomBytes(300 * 1024)
/** Far more than loopback socket buffers hold, so that a paused client stops the server mid-file. */
const LARGE = randomBytes(32 * 1024 * 1024)
/** Headers that differ between any two answers, or belong to the connection rather than the answer. */
const PER_ANSWER = new Set(['date', 'x-request-id', 'keep-alive', 'connection'])
/** Taken by hono, never by the native path: it does not match the object's ETag. */
const THROUGH_HONO = { 'if-none-match': '"not-this-one"' }

let s: TestServer
const path = (key: string) => `/api/storage/buckets/pub/objects/${key}`
beforeAll(async () => {
  s = await startTestServer({ listen: true, env: { BASTIDE_CORS_ORIGINS: ALLOWED } })
  const admin = { authorization: `Bearer ${ADMIN_KEY}` }
  const b = await fetch(`${s.bastide.url}/api/storage/buckets`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'pub', public: true, rules: { write: '', delete: '' } }),
  })
  expect(b.status).toBe(201)
  for (const [key, bytes] of [
    ['small.bin', SMALL],
    ['large.bin', LARGE],
    ['gone.bin', SMALL],
  ] as const) {
    const r = await fetch(`${s.bastide.url}${path(key)}`, { method: 'PUT', headers: admin, body: bytes })
    expect(r.status, key).toBe(201)
  }
})
afterAll(() => s?.close())

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** One request on its own connection (no keep-alive agent), the whole answer read. */
function raw(method: string, key: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.bastide.url}${path(key)}`, { method, headers, agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (b: Buffer) => parts.push(b))
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

function answerHeaders(a: Answer): Record<string, string | string[] | undefined> {
  return Object.fromEntries(Object.entries(a.headers).filter(([k]) => !PER_ANSWER.has(k)))
}

/** The answer to `headers` natively and through hono: the same status, headers and bytes. */
async function expectSameAsHono(headers: Record<string, string>): Promise<Answer> {
  const native = await raw('GET', 'small.bin', headers)
  const hono = await raw('GET', 'small.bin', { ...headers, ...THROUGH_HONO })
  expect(native.status).toBe(hono.status)
  expect(answerHeaders(native)).toEqual(answerHeaders(hono))
  expect(native.headers['x-request-id']).toBeTruthy()
  expect(native.body.equals(hono.body)).toBe(true)
  return native
}

/** The server's open file descriptors (it runs in this process), and those on the blob of `key`. */
async function openFiles(key: string): Promise<{ count: number; onBlob: number }> {
  const { blob } = (
    await sql<{ blob: string }>`SELECT blob FROM bastide.objects WHERE key = ${key}`.execute(
      s.bastide.database.db,
    )
  ).rows[0]!
  const links = fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      return '' // closed between the listing and the read
    }
  })
  return { count: links.length, onBlob: links.filter((l) => l.endsWith(blob)).length }
}

/** Polls `check` until it holds, a bounded number of times, yielding to the event loop in between. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`never happened: ${what}`)
}

describe('object downloads over a real socket', () => {
  it('answers a plain GET as hono does, byte for byte', async () => {
    const a = await expectSameAsHono({})
    expect(a.status).toBe(200)
    expect(a.headers['content-length']).toBe(String(SMALL.length))
    expect(a.headers['x-content-type-options']).toBe('nosniff')
    expect(a.body.equals(SMALL)).toBe(true)
  })

  it('answers a Range request as hono does', async () => {
    const a = await expectSameAsHono({ range: 'bytes=1000-200999' })
    expect(a.status).toBe(206)
    expect(a.headers['content-range']).toBe(`bytes 1000-200999/${SMALL.length}`)
    expect(a.body.equals(SMALL.subarray(1000, 201000))).toBe(true)
  })

  it('answers an allowed and a disallowed Origin as hono does', async () => {
    const allowed = await expectSameAsHono({ origin: ALLOWED })
    expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED)
    expect(allowed.headers.vary).toMatch(/origin/i)
    const other = await expectSameAsHono({ origin: 'https://evil.example', range: 'bytes=-5' })
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
    expect(other.body.equals(SMALL.subarray(-5))).toBe(true)
  })

  it('answers HEAD and a matching If-None-Match without a body, as before', async () => {
    const get = await raw('GET', 'small.bin', { origin: ALLOWED })
    const head = await raw('HEAD', 'small.bin', { origin: ALLOWED })
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
    expect(answerHeaders(head)).toEqual(answerHeaders(get))
    const etag = get.headers.etag as string
    const notModified = await raw('GET', 'small.bin', { origin: ALLOWED, 'if-none-match': etag })
    expect(notModified.status).toBe(304)
    expect(notModified.body.length).toBe(0)
    expect(notModified.headers.etag).toBe(etag)
    expect(notModified.headers['access-control-allow-origin']).toBe(ALLOWED)
  })

  it('answers a blob missing on disk with a JSON 404', async () => {
    const { blob } = (
      await sql<{ blob: string }>`SELECT blob FROM bastide.objects WHERE key = 'gone.bin'`.execute(
        s.bastide.database.db,
      )
    ).rows[0]!
    await s.bastide.storage.store.remove(blob)
    const a = await raw('GET', 'gone.bin', { origin: ALLOWED })
    expect(a.status).toBe(404)
    expect(a.headers['content-type']).toMatch(/^application\/json/)
    expect(a.headers['access-control-allow-origin']).toBe(ALLOWED)
    expect(JSON.parse(a.body.toString())).toMatchObject({ status: 404 })
  })

  it('closes the file when the client goes away mid-download', async () => {
    // Warm up: the connections and caches a first download opens are not what is counted.
    expect((await raw('GET', 'large.bin')).body.length).toBe(LARGE.length)
    // The server closes the file after the last byte went out, maybe after the client read it.
    await eventually(async () => (await openFiles('large.bin')).onBlob === 0, 'the first download closed')
    const before = await openFiles('large.bin')

    let received = 0
    const req = http.request(`${s.bastide.url}${path('large.bin')}`, { agent: false })
    req.on('error', () => {}) // the abort below
    const firstChunk = new Promise<void>((resolve) =>
      req.on('response', (res) => {
        res.once('data', (b: Buffer) => {
          received += b.length
          res.pause()
          resolve()
        })
      }),
    )
    req.end()
    await firstChunk
    // The client reads no more: the server is stuck mid-file, with the blob open.
    await eventually(async () => (await openFiles('large.bin')).onBlob === 1, 'the blob is open')
    expect(received).toBeLessThan(LARGE.length)

    req.destroy()
    await eventually(async () => {
      const now = await openFiles('large.bin')
      return now.onBlob === 0 && now.count <= before.count
    }, 'the file and the connection are closed')
  })
})
