import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { BastideError, createClient } from '../src/index.ts'

/**
 * The requests `client.admin.functions` and `client.functions` send, as a real HTTP server receives them: method,
 * path, query, body, credentials. The answers are canned per path (the server's own behaviour is tested in
 * functions.test.ts against a real Bastide).
 */
interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly body: string
}

let server: Server
let url: string
const seen: Seen[] = []
type Answer = { status: number; type?: string; body?: string }
let answer: (req: Seen) => Answer = () => ({ status: 200, type: 'application/json', body: '{}' })

beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const s: Seen = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    }
    seen.push(s)
    const a = answer(s)
    res.writeHead(a.status, a.type ? { 'content-type': a.type } : {})
    res.end(a.body ?? '')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))
beforeEach(() => {
  seen.length = 0
  answer = () => ({ status: 200, type: 'application/json', body: '{}' })
})

const KEY = `bst_sk_${'k'.repeat(30)}`
const json = (value: unknown, status = 200): Answer => ({
  status,
  type: 'application/json',
  body: JSON.stringify(value),
})

describe('client.admin.functions', () => {
  const client = () => createClient({ url, apiKey: KEY, autoRefresh: false }).admin.functions

  it('sends each call to its route with the key', async () => {
    answer = (r) =>
      r.url === '/api/admin/functions'
        ? json({ items: [{ name: 'a' }] })
        : r.method === 'DELETE' || r.url.includes('/secrets/')
          ? { status: 204 }
          : json({ name: 'a', version: 2 })
    const fns = client()
    expect(await fns.list()).toEqual([{ name: 'a' }])
    await fns.get('a')
    await fns.deploy('a', 'export default 1')
    await fns.version('a', 3)
    await fns.rollback('a', 1)
    await fns.setSecret('a', 'MAIL_KEY', 's3cret')
    await fns.deleteSecret('a', 'MAIL_KEY')
    await fns.invocations('a', { status: 'error', trigger: 'cron', cursor: 'c1', limit: 5 })
    await fns.invoke('a', { trigger: 'cron', schedule: '* * * * *', at: '2026-01-01T00:00:00.000Z' })
    await fns.remove('a')
    expect(seen.map((r) => [r.method, r.url, r.body])).toEqual([
      ['GET', '/api/admin/functions', ''],
      ['GET', '/api/admin/functions/a', ''],
      ['PUT', '/api/admin/functions/a', JSON.stringify({ source: 'export default 1' })],
      ['GET', '/api/admin/functions/a/versions/3', ''],
      ['POST', '/api/admin/functions/a/rollback', JSON.stringify({ version: 1 })],
      ['PUT', '/api/admin/functions/a/secrets/MAIL_KEY', JSON.stringify({ value: 's3cret' })],
      ['DELETE', '/api/admin/functions/a/secrets/MAIL_KEY', ''],
      ['GET', '/api/admin/functions/a/invocations?status=error&trigger=cron&cursor=c1&limit=5', ''],
      [
        'POST',
        '/api/admin/functions/a/invoke',
        JSON.stringify({ event: { trigger: 'cron', schedule: '* * * * *', at: '2026-01-01T00:00:00.000Z' } }),
      ],
      ['DELETE', '/api/admin/functions/a', ''],
    ])
    for (const r of seen) expect(r.headers.authorization).toBe(`Bearer ${KEY}`)
    expect(seen[2]!.headers['content-type']).toBe('application/json')
  })

  it('never retries a deploy (each one is a version), and rejects with the server error', async () => {
    answer = () => json({ code: 'FUNCTION_INVALID', message: 'SyntaxError at 1:8', status: 400 }, 400)
    const err = await client()
      .deploy('a', 'export default {')
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err).toMatchObject({ code: 'FUNCTION_INVALID', status: 400, message: 'SyntaxError at 1:8' })
    answer = () => json({ code: 'UNAVAILABLE', message: 'busy', status: 503 }, 503)
    await expect(client().deploy('a', 'x')).rejects.toMatchObject({ status: 503 })
    expect(seen.filter((r) => r.method === 'PUT')).toHaveLength(2)
  })
})

describe('client.functions', () => {
  it('invoke: POSTs a JSON body below /api/functions/<name>, with the session, and parses JSON', async () => {
    answer = () => json({ total: 42 })
    const client = createClient({ url, apiKey: KEY, autoRefresh: false })
    const r = await client.functions.invoke<{ total: number }>('checkout', {
      body: { cart: 'c1' },
      path: '/carts/c1',
      query: { dry: true },
    })
    expect(r).toEqual({ total: 42 })
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/functions/checkout/carts/c1?dry=true',
      body: '{"cart":"c1"}',
    })
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${KEY}`)
  })

  it('invoke: GET without a body; text answers as text, empty ones as undefined', async () => {
    const client = createClient({ url })
    answer = () => ({ status: 200, type: 'text/plain; charset=utf-8', body: 'hello' })
    expect(await client.functions.invoke('hello')).toBe('hello')
    answer = () => ({ status: 204 })
    expect(await client.functions.invoke('hello', { method: 'DELETE' })).toBeUndefined()
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /api/functions/hello',
      'DELETE /api/functions/hello',
    ])
    expect(seen[0]!.headers.authorization).toBeUndefined()
  })

  it('fetch: the Response as it came, raw bodies sent as they are', async () => {
    answer = (r) => ({ status: 200, type: 'text/csv', body: `echo:${r.body}` })
    const client = createClient({ url })
    const res = await client.functions.fetch('export', {
      method: 'PUT',
      body: new Uint8Array([104, 105]),
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(res.headers.get('content-type')).toBe('text/csv')
    expect(await res.text()).toBe('echo:hi')
    expect(seen[0]!.headers['content-type']).toBe('application/octet-stream')
  })

  it('rejects a failed function once, without retrying (even a GET), unless asked', async () => {
    answer = () => json({ code: 'FUNCTION_FAILED', message: 'boom', status: 502 }, 502)
    const client = createClient({ url, retry: { baseDelayMs: 1, maxDelayMs: 1 } })
    await expect(client.functions.invoke('flaky')).rejects.toMatchObject({
      code: 'FUNCTION_FAILED',
      status: 502,
    })
    expect(seen).toHaveLength(1)
    await expect(client.functions.invoke('flaky', { retry: true })).rejects.toMatchObject({ status: 502 })
    expect(seen).toHaveLength(4)
  })

  it('rejects a JSON content type whose body is not JSON with INVALID_RESPONSE', async () => {
    answer = () => ({ status: 200, type: 'application/json', body: '{oops' })
    await expect(createClient({ url }).functions.invoke('bad-json')).rejects.toMatchObject({
      code: 'INVALID_RESPONSE',
      status: 200,
    })
  })

  it('encodes the name', async () => {
    answer = () => json(null)
    await createClient({ url }).functions.invoke('a/b')
    expect(seen[0]!.url).toBe('/api/functions/a%2Fb')
  })
})
