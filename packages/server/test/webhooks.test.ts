import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sendDelivery } from '../src/core/webhooks/send-delivery.ts'
import { verifySignature } from '../src/core/webhooks/sign-payload.ts'
import { signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createCollection,
  createKey,
  createRecord,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from './support/harness.ts'
import { startQuietBastide } from './support/own-cluster.ts'

/** A real HTTP receiver on loopback: every request kept by path; each path answers its queued statuses, then 200. */
interface Receiver {
  readonly base: string
  got(path: string): { headers: IncomingHttpHeaders; raw: string; body: any }[]
  /** The statuses `path` answers next, in order; `always` once they are used up. */
  answer(path: string, statuses: number[], always?: number): void
  close(): Promise<void>
}

async function startReceiver(): Promise<Receiver> {
  const got = new Map<string, { headers: IncomingHttpHeaders; raw: string; body: any }[]>()
  const plans = new Map<string, { next: number[]; always: number }>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const path = req.url ?? '/'
      let list = got.get(path)
      if (!list) got.set(path, (list = []))
      list.push({ headers: req.headers, raw, body: JSON.parse(raw) })
      const plan = plans.get(path)
      const status = plan?.next.shift() ?? plan?.always ?? 200
      res.writeHead(status, {
        'content-type': 'text/plain',
        ...(status >= 300 && status < 400 ? { location: '/elsewhere' } : {}),
      })
      res.end(status >= 300 ? `nope ${'x'.repeat(5000)}` : 'ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got: (path) => got.get(path) ?? [],
    answer: (path, next, always = 200) => plans.set(path, { next: [...next], always }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** What a receiver computes, written out here rather than through the server's own helper. */
function signatureOk(secret: string, raw: string, header: string): boolean {
  const parts = header.split(',')
  const t = parts.find((p) => p.startsWith('t='))!.slice(2)
  const expected = createHmac('sha256', secret).update(`${t}.${raw}`).digest('hex')
  return parts.includes(`v1=${expected}`) && Math.abs(Date.now() / 1000 - Number(t)) < 300
}

const RETRIES = 2

describe('webhooks', () => {
  let s: TestServer
  let rx: Receiver

  beforeAll(async () => {
    rx = await startReceiver()
    s = await startTestServer({
      env: {
        BASTIDE_WEBHOOKS_ALLOW_HOSTS: '127.0.0.1',
        BASTIDE_WEBHOOKS_RETRIES: String(RETRIES),
        BASTIDE_WEBHOOKS_RETRY_DELAY_SECONDS: '1',
        BASTIDE_WEBHOOKS_TIMEOUT_MS: '5000',
      },
    })
    await createCollection(s, {
      name: 'posts',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'note', type: 'text', hidden: true },
      ],
    })
    await createCollection(s, { name: 'comments', fields: [{ name: 'body', type: 'text' }] })
  })
  afterAll(async () => {
    await s?.close()
    await rx?.close()
  })

  const hook = async (body: Record<string, unknown>) => {
    const r = await s.api('POST', '/api/admin/webhooks', body)
    if (r.status !== 201) throw new Error(`create webhook: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body as { id: string; secret: string; secretHint: string }
  }
  const deliveries = async (id: string, query = '') =>
    (await s.api('GET', `/api/admin/webhooks/${id}/deliveries${query}`)).body

  it('POSTs each subscribed change once, signed, with the delivery id as idempotency key and hidden fields left out', async () => {
    const a = await hook({ url: `${rx.base}/a`, collection: 'posts', actions: ['update', 'create'] })
    // Only here to know when the delete was fanned out (one job fans a change out to every webhook).
    const b = await hook({ url: `${rx.base}/a-deletes`, collection: 'posts', actions: ['delete'] })
    expect(a.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/)
    expect(a.secret.startsWith(a.secretHint.replace('…', ''))).toBe(true)
    const shown = await s.api('GET', `/api/admin/webhooks/${a.id}`)
    expect(shown.body).toMatchObject({ collection: 'posts', actions: ['create', 'update'], enabled: true })
    expect(shown.body.secret).toBeUndefined()
    expect(JSON.stringify((await s.api('GET', '/api/admin/webhooks')).body)).not.toContain(a.secret)

    const post = await createRecord(s, 'posts', { title: 'hello', note: 'internal' })
    await expect.poll(() => rx.got('/a').length).toBe(1)
    const [created] = rx.got('/a')
    expect(created!.headers['content-type']).toBe('application/json')
    expect(created!.headers['user-agent']).toBe('Bastide-Webhooks/1')
    expect(created!.headers['bastide-event']).toBe('record.created')
    expect(created!.headers['bastide-delivery']).toBe(created!.body.id)
    expect(signatureOk(a.secret, created!.raw, String(created!.headers['bastide-signature']))).toBe(true)
    expect(verifySignature(a.secret, created!.raw, String(created!.headers['bastide-signature']))).toBe(true)
    expect(verifySignature(b.secret, created!.raw, String(created!.headers['bastide-signature']))).toBe(false)
    // Too old a timestamp (a replayed capture) is refused whatever the MAC.
    const t = Number(/t=(\d+)/.exec(String(created!.headers['bastide-signature']))![1])
    expect(
      verifySignature(a.secret, created!.raw, String(created!.headers['bastide-signature']), {
        now: t + 301,
      }),
    ).toBe(false)
    expect(verifySignature(a.secret, `${created!.raw} `, String(created!.headers['bastide-signature']))).toBe(
      false,
    )
    expect(created!.body).toMatchObject({
      event: 'record.created',
      collection: 'posts',
      record: { id: post.id, title: 'hello' },
    })
    expect(created!.body.record).not.toHaveProperty('note')
    expect(created!.body).not.toHaveProperty('previous')

    await s.api('PATCH', `/api/collections/posts/records/${post.id}`, { title: 'hello again' })
    await expect.poll(() => rx.got('/a').length).toBe(2)
    const updated = rx.got('/a')[1]!.body
    expect(updated).toMatchObject({
      event: 'record.updated',
      record: { title: 'hello again' },
      previous: { id: post.id, title: 'hello' },
    })
    expect(updated.previous).not.toHaveProperty('note')
    expect(updated.id).not.toBe(created!.body.id)

    expect((await s.api('DELETE', `/api/collections/posts/records/${post.id}`)).status).toBe(204)
    await expect.poll(() => rx.got('/a-deletes').length).toBe(1)
    expect(rx.got('/a-deletes')[0]!.body).toMatchObject({ event: 'record.deleted', record: { id: post.id } })
    // The delete's fan-out is done, and it made no delivery for `a` (not subscribed to deletes).
    // Each status is recorded once the receiver's answer is in, a moment after it got the body.
    await expect
      .poll(async () => (await deliveries(a.id)).items.map((d: any) => [d.event, d.status]))
      .toEqual([
        ['record.updated', 'delivered'],
        ['record.created', 'delivered'],
      ])
    const history = await deliveries(a.id)
    expect(history.items[1]).toMatchObject({ id: created!.body.id, recordId: post.id })
    expect(history.items[1].attempts).toEqual([
      expect.objectContaining({ statusCode: 200, responseBody: 'ok', error: null }),
    ])
    const one = await s.api('GET', `/api/admin/webhooks/${a.id}/deliveries/${created!.body.id}`)
    expect(one.body.payload).toEqual(created!.body)

    // Pages, newest first.
    const p1 = await deliveries(a.id, '?limit=1')
    expect(p1.items.map((d: any) => d.event)).toEqual(['record.updated'])
    const p2 = await deliveries(a.id, `?limit=1&cursor=${p1.nextCursor}`)
    expect(p2.items.map((d: any) => d.event)).toEqual(['record.created'])
    expect(p2.nextCursor).toBeNull()
    expect((await s.api('GET', `/api/admin/webhooks/${a.id}/deliveries?cursor=abc`)).status).toBe(400)
  })

  it(`retries a failing receiver exactly ${RETRIES} times, then fails the delivery; a redelivery after it recovers succeeds under the same id`, async () => {
    rx.answer('/b', [], 500)
    const w = await hook({ url: `${rx.base}/b`, collection: 'comments', actions: ['create'] })
    await createRecord(s, 'comments', { body: 'first' })
    await expect
      .poll(async () => (await deliveries(w.id)).items[0]?.status, { timeout: 60_000 })
      .toBe('failed')
    const [d] = (await deliveries(w.id)).items
    expect(d.attempts).toHaveLength(RETRIES + 1)
    for (const a of d.attempts) {
      expect(a).toMatchObject({ statusCode: 500, error: 'The receiver answered 500.' })
      expect(a.responseBody).toHaveLength(1024)
    }
    // Out of retries: the job is failed (dead-lettered), so no further attempt comes.
    // (The queue marks the job failed once the handler's last throw is in, just after the history's write.)
    await expect
      .poll(async () => {
        const job = await s.api('GET', `/api/admin/jobs/webhooks.deliver/${d.id}`)
        return [job.status, job.body.state, job.body.attempts]
      })
      .toEqual([200, 'failed', RETRIES + 1])
    expect(rx.got('/b')).toHaveLength(RETRIES + 1)
    expect(new Set(rx.got('/b').map((r) => r.headers['bastide-delivery']))).toEqual(new Set([d.id]))

    rx.answer('/b', [], 200)
    const again = await s.api('POST', `/api/admin/webhooks/${w.id}/deliveries/${d.id}/redeliver`)
    expect(again.status).toBe(202)
    expect(again.body).toMatchObject({ id: d.id })
    await expect.poll(async () => (await deliveries(w.id)).items[0]?.status).toBe('delivered')
    const done = (await deliveries(w.id)).items[0]
    expect(done.attempts.map((a: any) => a.statusCode)).toEqual([...Array(RETRIES + 1).fill(500), 200])
    const last = rx.got('/b').at(-1)!
    expect(last.body.id).toBe(d.id)
    expect(last.raw).toBe(rx.got('/b')[0]!.raw)
  })

  it('delivers once the receiver recovers within the retries', async () => {
    rx.answer('/c', [503])
    const w = await hook({ url: `${rx.base}/c`, collection: '*', actions: ['delete'] })
    const c = await createRecord(s, 'comments', { body: 'doomed' })
    expect((await s.api('DELETE', `/api/collections/comments/records/${c.id}`)).status).toBe(204)
    await expect
      .poll(async () => (await deliveries(w.id)).items[0]?.status, { timeout: 30_000 })
      .toBe('delivered')
    const [d] = (await deliveries(w.id)).items
    expect(d.attempts.map((a: any) => a.statusCode)).toEqual([503, 200])
    expect(rx.got('/c').map((r) => r.body.id)).toEqual([d.id, d.id])
    expect(rx.got('/c')[0]!.body).toMatchObject({ event: 'record.deleted', collection: 'comments' })
  })

  it('pings on demand and rotates the secret (the previous one still signs for a while)', async () => {
    const w = await hook({ url: `${rx.base}/d`, collection: 'posts', actions: ['create'] })
    const ping = await s.api('POST', `/api/admin/webhooks/${w.id}/test`)
    expect(ping.status).toBe(200)
    expect(ping.body).toMatchObject({ event: 'ping', status: 'delivered', attempts: [{ statusCode: 200 }] })
    expect(rx.got('/d')[0]!.body).toMatchObject({ id: ping.body.id, event: 'ping', record: null })
    const rotated = await s.api('POST', `/api/admin/webhooks/${w.id}/rotate-secret`)
    expect(rotated.status).toBe(200)
    expect(rotated.body.secret).toMatch(/^whsec_/)
    expect(rotated.body.secret).not.toBe(w.secret)
    await s.api('POST', `/api/admin/webhooks/${w.id}/test`)
    const [, second] = rx.got('/d')
    const header = String(second!.headers['bastide-signature'])
    expect(header.match(/v1=/g)).toHaveLength(2)
    expect(signatureOk(rotated.body.secret, second!.raw, header)).toBe(true)
    expect(signatureOk(w.secret, second!.raw, header)).toBe(true)

    rx.answer('/d', [418, 302])
    const failed = await s.api('POST', `/api/admin/webhooks/${w.id}/test`)
    expect(failed.body).toMatchObject({ status: 'failed', attempts: [{ statusCode: 418 }] })
    // Redirects are not followed: a 3xx is not a delivery.
    const moved = await s.api('POST', `/api/admin/webhooks/${w.id}/test`)
    expect(moved.body).toMatchObject({
      status: 'failed',
      attempts: [{ error: expect.stringMatching(/redirect/) }],
    })
    expect(rx.got('/elsewhere')).toHaveLength(0)
  })

  it('answers console admins and functions keys only; ids of one webhook do not reach another', async () => {
    const w = await hook({ url: `${rx.base}/e`, collection: 'posts', actions: ['create'] })
    const other = await hook({ url: `${rx.base}/e2`, collection: 'posts', actions: ['create'] })
    const ping = await s.api('POST', `/api/admin/webhooks/${w.id}/test`)
    const user = await signUp(s, 'webhook-user@example.com')
    const schemaKey = await createKey(s, ['schema', 'records:read', 'records:write'])
    const functionsKey = await createKey(s, ['functions'])
    const calls: [string, string, unknown?][] = [
      ['GET', '/api/admin/webhooks'],
      ['POST', '/api/admin/webhooks', { url: `${rx.base}/x`, collection: 'posts', actions: ['create'] }],
      ['GET', `/api/admin/webhooks/${w.id}`],
      ['PATCH', `/api/admin/webhooks/${w.id}`, { enabled: false }],
      ['DELETE', `/api/admin/webhooks/${w.id}`],
      ['POST', `/api/admin/webhooks/${w.id}/rotate-secret`],
      ['POST', `/api/admin/webhooks/${w.id}/test`],
      ['GET', `/api/admin/webhooks/${w.id}/deliveries`],
      ['POST', `/api/admin/webhooks/${w.id}/deliveries/${ping.body.id}/redeliver`],
    ]
    for (const [method, path, body] of calls) {
      for (const [as, status] of [
        ['anon', 401],
        [user.token, 403],
        [user.jwt, 403],
        [schemaKey, 403],
      ] as const) {
        const r = await s.api(method, path, body, { as })
        expect([method, path, as === 'anon' ? 'anon' : 'token', r.status]).toEqual([
          method,
          path,
          as === 'anon' ? 'anon' : 'token',
          status,
        ])
        expect(r.body).toMatchObject({ status, code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN' })
      }
    }
    expect((await s.api('GET', `/api/admin/webhooks/${w.id}`)).body.enabled).toBe(true)
    const byKey = await s.api('GET', `/api/admin/webhooks/${w.id}/deliveries`, undefined, {
      as: functionsKey,
    })
    expect(byKey.status).toBe(200)
    expect(byKey.body.items.map((d: any) => d.id)).toEqual([ping.body.id])
    // A delivery only under its own webhook.
    for (const path of [
      `/api/admin/webhooks/${other.id}/deliveries/${ping.body.id}`,
      `/api/admin/webhooks/${other.id}/deliveries/${ping.body.id}/redeliver`,
    ]) {
      const r = await s.api(path.endsWith('redeliver') ? 'POST' : 'GET', path)
      expect(r.status).toBe(404)
      expect(r.body.code).toBe('NOT_FOUND')
    }
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid'])
      expect((await s.api('GET', `/api/admin/webhooks/${id}`)).status).toBe(404)
    expect(
      (await s.api('DELETE', `/api/admin/webhooks/${w.id}`, undefined, { as: functionsKey })).status,
    ).toBe(204)
    expect((await s.api('GET', `/api/admin/webhooks/${w.id}/deliveries`)).status).toBe(404)
    const full = await s.api('GET', '/api/openapi.json')
    expect(Object.keys(full.body.paths)).toContain('/api/admin/webhooks/{id}/deliveries/{delivery}/redeliver')
    const pub = await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })
    expect(Object.keys(pub.body.paths).filter((p) => p.startsWith('/api/admin/webhooks'))).toEqual([])
    const audit = await s.api('GET', '/api/admin/audit?action=webhook.*')
    expect(audit.body.items.map((e: any) => e.action)).toEqual(
      expect.arrayContaining(['webhook.create', 'webhook.delete']),
    )
    expect(JSON.stringify(audit.body)).not.toContain(w.secret)
  })

  it('refuses private, loopback and link-local destinations (422) and bad input (400)', async () => {
    const base = { collection: 'posts', actions: ['create'] }
    for (const url of [
      'http://10.1.2.3/hook',
      'http://192.168.0.10/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]:8080/hook',
      'http://localhost:9/hook',
      'http://127.0.0.2/hook',
    ]) {
      const r = await s.api('POST', '/api/admin/webhooks', { ...base, url })
      expect([url, r.status, r.body.code]).toEqual([url, 422, 'DESTINATION_REFUSED'])
    }
    for (const body of [
      { ...base, url: 'ftp://example.com/hook' },
      { ...base, url: 'not a url' },
      { ...base, url: 'https://user:pw@example.com/hook' },
      { ...base, url: `${rx.base}/f`, collection: 'nope' },
      { ...base, url: `${rx.base}/f`, actions: [] },
      { ...base, url: `${rx.base}/f`, actions: ['explode'] },
      { ...base, url: `${rx.base}/f`, extra: 1 },
      { collection: 'posts', actions: ['create'] },
    ]) {
      const r = await s.api('POST', '/api/admin/webhooks', body)
      expect([JSON.stringify(body), r.status, r.body.code]).toEqual([
        JSON.stringify(body),
        400,
        'VALIDATION_FAILED',
      ])
    }
    const w = await hook({ ...base, url: `${rx.base}/f` })
    const moved = await s.api('PATCH', `/api/admin/webhooks/${w.id}`, { url: 'http://172.16.0.1/hook' })
    expect(moved.status).toBe(422)
    expect((await s.api('GET', `/api/admin/webhooks/${w.id}`)).body.url).toBe(`${rx.base}/f`)
  })

  it('a webhook saved on one node is honoured by writes on another (NOTIFY reloads what each node enqueues)', async () => {
    const env = {
      BASTIDE_SECRET: TEST_SECRET,
      BASTIDE_DATA_DIR: s.config.dataDir,
      BASTIDE_CONSOLE_DIR: 'off',
      BASTIDE_WEBHOOKS_ALLOW_HOSTS: '127.0.0.1',
    }
    const other = await startQuietBastide(s.dbUrl, env)
    try {
      // Saved on the first node after the second started: the second learns of it by NOTIFY.
      const w = await hook({ url: `${rx.base}/h`, collection: 'comments', actions: ['create'] })
      const write = () =>
        other.app.request('/api/collections/comments/records', {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ body: 'from the other node' }),
        })
      // Each poll writes once more, until a write lands after the other node reloaded.
      await expect
        .poll(async () => {
          expect((await write()).status).toBe(201)
          return rx.got('/h').length
        })
        .toBeGreaterThan(0)
      expect(rx.got('/h')[0]!.body).toMatchObject({ event: 'record.created', collection: 'comments' })
      expect((await deliveries(w.id)).items.length).toBeGreaterThan(0)
    } finally {
      await other.close()
    }
  })

  it('checks the destination again at send time (safeFetch): not allow-listed, nothing is sent', async () => {
    const r = await sendDelivery({
      url: `${rx.base}/g`,
      payload: {
        id: '00000000-0000-4000-8000-000000000001',
        event: 'ping',
        collection: 'posts',
        record: null,
        at: new Date().toISOString(),
      },
      secrets: ['whsec_test'],
      allowHosts: [],
      timeoutMs: 2000,
    })
    expect(r.statusCode).toBeNull()
    expect(r.error).toMatch(/127\.0\.0\.1|refused|private|loopback/i)
    expect(rx.got('/g')).toHaveLength(0)
  })
})
