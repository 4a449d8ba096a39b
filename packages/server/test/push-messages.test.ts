import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedUp, signUp } from './support/auth.ts'
import { createKey, startTestServer, type TestServer } from './support/harness.ts'
import {
  startUnifiedPushReceiver,
  type UnifiedPushReceiver,
} from './support/push-peers/unifiedpush-receiver.ts'

/**
 * Push messages end to end: the HTTP API, the fan-out and send jobs, and a real UnifiedPush peer on loopback
 * (devices without keys get the JSON payload POSTed in clear). Retries use RETRIES=2 and a 1 s first delay.
 */

let s: TestServer
let sqlc: pg.Client
let up: UnifiedPushReceiver
let alice: SignedUp
let bob: SignedUp
const POLL = { timeout: 30_000, interval: 100 }

beforeAll(async () => {
  up = await startUnifiedPushReceiver()
  s = await startTestServer({
    env: {
      BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1',
      BASTIDE_PUSH_RETRIES: '2',
      BASTIDE_PUSH_RETRY_DELAY_SECONDS: '1',
      // Small pages and batches: several fan-out pages and send jobs per message.
      BASTIDE_PUSH_BATCH_SIZE: '2',
    },
  })
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
  alice = await signUp(s, 'alice@push.test', { name: 'alice' })
  bob = await signUp(s, 'bob@push.test', { name: 'bob' })
}, 60_000)
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
  await up?.close()
})

/** Registers a UnifiedPush device (no keys) whose endpoint is the receiver's `/up/<name>`; resolves with its id. */
async function device(name: string, o: { as?: SignedUp; locale?: string } = {}): Promise<string> {
  const id = `dev-${name}-${randomBytes(8).toString('hex')}`
  const r = await s.api(
    'POST',
    '/api/push/devices',
    {
      id,
      provider: 'unifiedpush',
      token: up.endpoint(name),
      appId: 'com.example.app',
      ...(o.locale ? { locale: o.locale } : {}),
    },
    { as: o.as ? o.as.token : 'anon' },
  )
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`)
  return id
}

async function send(body: unknown, as = 'admin') {
  return s.api('POST', '/api/push/messages', body, { as })
}

async function sent(body: unknown): Promise<any> {
  const r = await send(body)
  expect(r.status, JSON.stringify(r.body)).toBe(202)
  return r.body
}

async function done(id: string): Promise<any> {
  await expect
    .poll(async () => (await s.api('GET', `/api/push/messages/${id}`)).body.status, POLL)
    .toBe('done')
  return (await s.api('GET', `/api/push/messages/${id}`)).body
}

async function deliveries(id: string): Promise<any[]> {
  const r = await s.api('GET', `/api/push/messages/${id}/deliveries?limit=200`)
  expect(r.status).toBe(200)
  return r.body.items
}

/** What the receiver got for a message, by endpoint name. */
function bodiesOf(messageId: string): Map<string, any[]> {
  const out = new Map<string, any[]>()
  for (const r of up.received.filter((x) => x.body?.messageId === messageId)) {
    const list = out.get(r.endpoint) ?? []
    list.push(r.body)
    out.set(r.endpoint, list)
  }
  return out
}

describe('targets', () => {
  it('sends to users: every device of theirs, localized by the device locale', async () => {
    const a1 = await device('alice-phone', { as: alice, locale: 'fr-CA' })
    const a2 = await device('alice-tablet', { as: alice, locale: 'pt-BR' })
    const a3 = await device('alice-laptop', { as: alice })
    await device('bob-phone', { as: bob, locale: 'fr' })
    const m = await sent({
      to: { users: [alice.id] },
      title: 'Hello',
      body: 'A new message',
      localized: {
        fr: { title: 'Bonjour' },
        'pt-BR': { title: 'Olá', body: 'Uma mensagem' },
        pt: { title: 'Oi' },
      },
      data: { thread: '42' },
    })
    expect(m).toMatchObject({ status: 'queued', to: { users: [alice.id] }, source: 'api', sendAt: null })
    const end = await done(m.id)
    expect(end.counts).toEqual({ targeted: 3, pending: 0, sent: 3, failed: 0, invalidToken: 0, optedOut: 0 })
    expect(end.completedAt).not.toBeNull()
    const got = bodiesOf(m.id)
    expect([...got.keys()].sort()).toEqual(['alice-laptop', 'alice-phone', 'alice-tablet'])
    // fr-CA has no variant of its own: its language's; pt-BR has one; no locale: the default.
    expect(got.get('alice-phone')).toEqual([
      expect.objectContaining({ title: 'Bonjour', body: 'A new message', data: { thread: '42' } }),
    ])
    expect(got.get('alice-tablet')).toEqual([expect.objectContaining({ title: 'Olá', body: 'Uma mensagem' })])
    expect(got.get('alice-laptop')).toEqual([
      expect.objectContaining({ title: 'Hello', body: 'A new message' }),
    ])
    const ds = await deliveries(m.id)
    expect(ds.map((d) => d.deviceId).sort()).toEqual([a1, a2, a3].sort())
    for (const d of ds)
      expect(d).toMatchObject({ status: 'sent', attempts: 1, userId: alice.id, provider: 'unifiedpush' })
    // Each payload names its delivery: the receiver can tell a repeat.
    expect(got.get('alice-phone')![0].deliveryId).toBe(ds.find((d) => d.deviceId === a1).id)
  })

  it('sends to devices, anonymous ones included', async () => {
    const anon = await device('anon-1')
    const other = await device('anon-2')
    const m = await sent({ to: { devices: [anon, 'dev-unknown-0000000000'] }, body: 'just you' })
    const end = await done(m.id)
    expect(end.counts).toMatchObject({ targeted: 1, sent: 1 })
    expect([...bodiesOf(m.id).keys()]).toEqual(['anon-1'])
    expect((await deliveries(m.id))[0]).toMatchObject({ deviceId: anon, userId: null, status: 'sent' })
    expect(other).toBeTruthy()
  })

  it('sends to a topic, skipping (and counting) users who opted out of it', async () => {
    expect((await s.api('POST', '/api/admin/push/topics', { name: 'news', subscribeRule: '' })).status).toBe(
      201,
    )
    const t1 = await device('news-alice', { as: alice })
    const t2 = await device('news-bob', { as: bob })
    const t3 = await device('news-anon')
    await device('not-subscribed')
    const sub = await s.api('POST', '/api/admin/push/topics/news/subscriptions', { devices: [t1, t2, t3] })
    expect(sub.status, JSON.stringify(sub.body)).toBe(200)
    const pref = await s.api('PUT', '/api/push/preferences', { topics: { news: false } }, { as: bob.token })
    expect(pref.status, JSON.stringify(pref.body)).toBe(200)
    const m = await sent({ to: { topic: 'news' }, title: 'Extra' })
    expect(m.topic).toBe('news')
    const end = await done(m.id)
    expect(end.counts).toEqual({ targeted: 2, pending: 0, sent: 2, failed: 0, invalidToken: 0, optedOut: 1 })
    expect([...bodiesOf(m.id).keys()].sort()).toEqual(['news-alice', 'news-anon'])

    // `topic` on another target: the same preference applies (bob's devices are skipped).
    const m2 = await sent({ to: { users: [alice.id, bob.id] }, topic: 'news', title: 'Also news' })
    const end2 = await done(m2.id)
    expect(end2.counts.optedOut).toBeGreaterThan(0)
    expect([...bodiesOf(m2.id).keys()].every((k) => k.startsWith('alice') || k === 'news-alice')).toBe(true)

    const unknown = await send({ to: { topic: 'no-such-topic' }, title: 'x' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.code).toBe('NOT_FOUND')
  })

  it('sends to the users a filter over the users collection matches', async () => {
    const m = await sent({ to: { filter: 'name = "bob"' }, title: 'For bob' })
    const end = await done(m.id)
    const bobDevices = Number(
      (await sqlc.query('SELECT count(*) AS n FROM bastide.push_devices WHERE user_id = $1', [bob.id]))
        .rows[0].n,
    )
    expect(bobDevices).toBeGreaterThan(0)
    expect(end.counts).toMatchObject({ targeted: bobDevices, sent: bobDevices })
    for (const d of await deliveries(m.id)) expect(d.userId).toBe(bob.id)

    const bad = await send({ to: { filter: 'name = ' }, title: 'x' })
    expect(bad.status).toBe(400)
    const unknownField = await send({ to: { filter: 'nope = 1' }, title: 'x' })
    expect(unknownField.status).toBe(400)
  })

  it('sends to every device', async () => {
    const all = Number((await sqlc.query('SELECT count(*) AS n FROM bastide.push_devices')).rows[0].n)
    const m = await sent({ to: { all: true }, body: 'everyone' })
    const end = await done(m.id)
    expect(end.counts).toMatchObject({ targeted: all, sent: all, pending: 0 })
    expect(bodiesOf(m.id).size).toBe(all)
  })
})

describe('scheduling', () => {
  it('keeps a message scheduled until sendAt, then sends it', async () => {
    const dev = await device('scheduled-1')
    const sendAt = new Date(Date.now() + 2_000)
    const m = await sent({ to: { devices: [dev] }, title: 'later', sendAt: sendAt.toISOString() })
    expect(m.status).toBe('scheduled')
    expect(Date.parse(m.sendAt)).toBe(sendAt.getTime())
    const job = await sqlc.query(
      `SELECT start_after FROM pgboss.job WHERE name = 'push.fanout' AND data::text LIKE $1`,
      [`%${m.id}%`],
    )
    expect(job.rows).toHaveLength(1)
    expect(job.rows[0].start_after.getTime()).toBeGreaterThanOrEqual(sendAt.getTime())
    const end = await done(m.id)
    expect(end.counts.sent).toBe(1)
    // Not before its time: the delivery was written after sendAt.
    const [d] = await deliveries(m.id)
    expect(Date.parse(d.updatedAt)).toBeGreaterThanOrEqual(sendAt.getTime())
  })

  it('sends a message whose sendAt is past now', async () => {
    const dev = await device('scheduled-2')
    const m = await sent({
      to: { devices: [dev] },
      title: 'now',
      sendAt: new Date(Date.now() - 60_000).toISOString(),
    })
    expect(m.status).toBe('queued')
    expect((await done(m.id)).counts.sent).toBe(1)
  })

  it('cancels a scheduled message (and only a scheduled one)', async () => {
    const dev = await device('canceled-1')
    const m = await sent({
      to: { devices: [dev] },
      title: 'never',
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
    })
    const c = await s.api('DELETE', `/api/push/messages/${m.id}`)
    expect(c.status).toBe(200)
    expect(c.body).toMatchObject({ id: m.id, status: 'canceled' })
    expect(c.body.completedAt).not.toBeNull()
    const job = await sqlc.query(
      `SELECT 1 FROM pgboss.job WHERE name = 'push.fanout' AND data::text LIKE $1`,
      [`%${m.id}%`],
    )
    expect(job.rows).toHaveLength(0)
    expect((await s.api('DELETE', `/api/push/messages/${m.id}`)).status).toBe(409)
    const now = await sent({ to: { devices: [dev] }, title: 'now' })
    await done(now.id)
    const late = await s.api('DELETE', `/api/push/messages/${now.id}`)
    expect(late.status).toBe(409)
    expect(late.body.code).toBe('CONFLICT')
    expect((await s.api('DELETE', '/api/push/messages/00000000-0000-4000-8000-000000000000')).status).toBe(
      404,
    )
    expect(bodiesOf(m.id).size).toBe(0)
  })
})

describe('provider answers', () => {
  it('removes the device of an invalid token (410) and marks the delivery invalid_token', async () => {
    const dev = await device('gone')
    up.always('gone', { status: 410 })
    const m = await sent({ to: { devices: [dev] }, title: 'bye' })
    const end = await done(m.id)
    expect(end.counts).toMatchObject({ targeted: 1, invalidToken: 1, sent: 0 })
    const [d] = await deliveries(m.id)
    expect(d).toMatchObject({ status: 'invalid_token', attempts: 1, deviceId: dev })
    expect(d.reason).toMatch(/^410/)
    expect((await s.api('GET', `/api/admin/push/devices/${dev}`)).status).toBe(404)
  })

  it('retries a 5xx: 500 twice then 201 is sent after 3 attempts', async () => {
    const dev = await device('flaky')
    up.script('flaky', [{ status: 500 }, { status: 500 }])
    const m = await sent({ to: { devices: [dev] }, title: 'eventually' })
    await done(m.id)
    const [d] = await deliveries(m.id)
    expect(d).toMatchObject({ status: 'sent', attempts: 3 })
    expect(bodiesOf(m.id).get('flaky')).toHaveLength(3)
  })

  it('fails after BASTIDE_PUSH_RETRIES retries, keeping the reason', async () => {
    const dev = await device('down')
    up.always('down', { status: 500 })
    const m = await sent({ to: { devices: [dev] }, title: 'never arrives' })
    const end = await done(m.id)
    expect(end.counts).toMatchObject({ failed: 1, sent: 0, pending: 0 })
    const [d] = await deliveries(m.id)
    expect(d).toMatchObject({ status: 'failed', attempts: 3 })
    expect(d.reason).toMatch(/^500/)
    expect(bodiesOf(m.id).get('down')).toHaveLength(3)
  })

  it('honours Retry-After: the retry is not queued before it', async () => {
    const dev = await device('busy')
    up.script('busy', [{ status: 429, headers: { 'retry-after': '4' } }])
    const m = await sent({ to: { devices: [dev] }, title: 'slow down' })
    await expect.poll(() => bodiesOf(m.id).get('busy')?.length ?? 0, POLL).toBe(1)
    const first = up.received.find((r) => r.body?.messageId === m.id)!
    const [pending] = await (async () => {
      await expect.poll(async () => (await deliveries(m.id))[0]?.attempts, POLL).toBeGreaterThanOrEqual(1)
      return deliveries(m.id)
    })()
    const jobs = await sqlc.query(
      `SELECT start_after FROM pgboss.job WHERE name = 'push.send' AND data::text LIKE $1 ORDER BY created_on`,
      [`%${pending.id}%`],
    )
    expect(jobs.rows).toHaveLength(2)
    expect(jobs.rows[1].start_after.getTime()).toBeGreaterThanOrEqual(first.at + 4_000)
    await done(m.id)
    const [d] = await deliveries(m.id)
    expect(d).toMatchObject({ status: 'sent', attempts: 2 })
  })
})

describe('what cannot be sent', () => {
  it('fails the deliveries of a provider without credentials, with no provider call', async () => {
    const id = `dev-fcm-${randomBytes(8).toString('hex')}`
    const r = await s.api(
      'POST',
      '/api/push/devices',
      {
        id,
        provider: 'fcm',
        token: `fcm-token-${randomBytes(16).toString('hex')}`,
        appId: 'com.example.app',
      },
      { as: 'anon' },
    )
    expect(r.status).toBe(201)
    const m = await sent({ to: { devices: [id] }, title: 'no FCM here' })
    const end = await done(m.id)
    expect(end.counts).toMatchObject({ targeted: 1, failed: 1 })
    const [d] = await deliveries(m.id)
    expect(d).toMatchObject({ status: 'failed', attempts: 0, reason: 'FCM credentials are not configured' })
  })

  it('fails a delivery whose device was removed before its (re)try', async () => {
    const dev = await device('removed-later')
    // The retry is due 5 s after the 429: the device is removed well before.
    up.script('removed-later', [{ status: 429, headers: { 'retry-after': '5' } }])
    const m = await sent({ to: { devices: [dev] }, title: 'to a device that goes' })
    await expect.poll(async () => (await deliveries(m.id))[0]?.attempts, POLL).toBe(1)
    expect((await s.api('DELETE', `/api/admin/push/devices/${dev}`)).status).toBe(204)
    await done(m.id)
    const [d] = await deliveries(m.id)
    expect(d).toMatchObject({ status: 'failed', attempts: 1, reason: 'device removed' })
    expect(bodiesOf(m.id).get('removed-later')).toHaveLength(1)
  })
})

describe('reading messages', () => {
  it('lists newest first with counts, pages, and filters by status', async () => {
    const first = await s.api('GET', '/api/push/messages?limit=2')
    expect(first.status).toBe(200)
    expect(first.body.items).toHaveLength(2)
    expect(first.body.nextCursor).toMatch(/^\d+$/)
    const next = await s.api('GET', `/api/push/messages?limit=2&cursor=${first.body.nextCursor}`)
    expect(next.body.items).toHaveLength(2)
    const ids = [...first.body.items, ...next.body.items].map((m: any) => m.id)
    expect(new Set(ids).size).toBe(4)
    expect(Date.parse(first.body.items[0].createdAt)).toBeGreaterThanOrEqual(
      Date.parse(next.body.items[0].createdAt),
    )
    for (const m of first.body.items)
      expect(m.counts).toEqual(expect.objectContaining({ targeted: expect.any(Number) }))
    const canceled = await s.api('GET', '/api/push/messages?status=canceled')
    expect(canceled.body.items.length).toBeGreaterThan(0)
    expect(canceled.body.items.every((m: any) => m.status === 'canceled')).toBe(true)
    expect((await s.api('GET', '/api/push/messages?cursor=abc')).status).toBe(400)
    expect((await s.api('GET', '/api/push/messages?status=nope')).status).toBe(400)
    expect((await s.api('GET', '/api/push/messages/not-a-uuid')).status).toBe(404)
  })

  it('reads a page of messages with one count query (no N+1)', async () => {
    s.resetQueries()
    await s.api('GET', '/api/push/messages?limit=20')
    const counts = s.queries.filter((q) => /push_deliveries/.test(q))
    expect(counts).toHaveLength(1)
  })

  it('pages deliveries and filters them by status', async () => {
    const all = (await s.api('GET', '/api/push/messages?limit=200')).body.items.find(
      (m: any) => m.to.all === true,
    )
    const p1 = await s.api('GET', `/api/push/messages/${all.id}/deliveries?limit=2`)
    expect(p1.body.items).toHaveLength(2)
    const p2 = await s.api(
      'GET',
      `/api/push/messages/${all.id}/deliveries?limit=2&cursor=${p1.body.nextCursor}`,
    )
    expect(p2.body.items[0].id).not.toBe(p1.body.items[0].id)
    const failed = await s.api('GET', `/api/push/messages/${all.id}/deliveries?status=failed`)
    expect(failed.body.items).toEqual([])
  })
})

describe('input', () => {
  const users = Array.from({ length: 1001 }, () => '00000000-0000-4000-8000-000000000000')
  const cases: [string, unknown][] = [
    ['no target', { title: 'x' }],
    ['an empty target', { to: {}, title: 'x' }],
    ['two targets', { to: { all: true, topic: 'news' }, title: 'x' }],
    ['over 1000 users', { to: { users }, title: 'x' }],
    ['a user id that is not one', { to: { users: ['bob'] }, title: 'x' }],
    ['all: false', { to: { all: false }, title: 'x' }],
    ['nothing to show', { to: { all: true } }],
    ['data that is not strings', { to: { all: true }, data: { n: 1 } }],
    [
      'a notification over 4096 bytes',
      { to: { all: true }, title: 'x'.repeat(1000), body: 'y'.repeat(3500) },
    ],
    [
      'a localized variant over 4096 bytes',
      { to: { all: true }, title: 'x', localized: { fr: { body: 'é'.repeat(2100) } } },
    ],
    ['a ttl over 28 days', { to: { all: true }, title: 'x', ttlSeconds: 2_419_201 }],
    ['a negative ttl', { to: { all: true }, title: 'x', ttlSeconds: -1 }],
    [
      'sendAt over 30 days ahead',
      { to: { all: true }, title: 'x', sendAt: new Date(Date.now() + 31 * 86_400_000).toISOString() },
    ],
    ['sendAt that is no date', { to: { all: true }, title: 'x', sendAt: 'tomorrow' }],
    ['an unknown field', { to: { all: true }, title: 'x', colour: 'red' }],
    ['an http image', { to: { all: true }, title: 'x', image: 'http://example.com/a.png' }],
    ['a topic other than to.topic', { to: { topic: 'news' }, topic: 'other', title: 'x' }],
    ['not an object', 'hello'],
  ]
  it.each(cases)('refuses %s with a 400', async (_, body) => {
    const r = await send(body)
    expect(r.status, JSON.stringify(r.body)).toBe(400)
    expect(['VALIDATION_FAILED', 'BAD_REQUEST', 'INVALID_FILTER']).toContain(r.body.code)
  })

  it('accepts a silent data message, and the largest allowed values', async () => {
    const r = await send({ to: { users: [alice.id] }, silent: true, data: { sync: '1' }, ttlSeconds: 0 })
    expect(r.status, JSON.stringify(r.body)).toBe(202)
    expect(r.body).toMatchObject({ silent: true, priority: 'normal', ttlSeconds: 0 })
    const ok = await send({
      to: { all: true },
      title: 'x',
      ttlSeconds: 2_419_200,
      sendAt: new Date(Date.now() + 29 * 86_400_000).toISOString(),
    })
    expect(ok.status).toBe(202)
    expect(ok.body.status).toBe('scheduled')
    await s.api('DELETE', `/api/push/messages/${ok.body.id}`)
  })
})

describe('who may send', () => {
  it('401 anonymous, 403 users and keys without the push scope; keys with it and admins may', async () => {
    const push = await createKey(s, ['push'])
    const records = await createKey(s, ['records:read'])
    const body = { to: { users: [alice.id] }, title: 'matrix' }
    const rows: { as: string; expect: number; source?: string }[] = [
      { as: 'anon', expect: 401 },
      { as: alice.token, expect: 403 },
      { as: records, expect: 403 },
      { as: push, expect: 202, source: 'api' },
      { as: 'admin', expect: 202, source: 'api' },
    ]
    for (const row of rows) {
      const r = await send(body, row.as)
      expect(r.status, `${row.as}: ${JSON.stringify(r.body)}`).toBe(row.expect)
      if (row.source) expect(r.body.source).toBe(row.source)
      for (const [method, path] of [
        ['GET', '/api/push/messages'],
        ['GET', '/api/push/messages/00000000-0000-4000-8000-000000000000'],
        ['GET', '/api/push/messages/00000000-0000-4000-8000-000000000000/deliveries'],
        ['DELETE', '/api/push/messages/00000000-0000-4000-8000-000000000000'],
      ] as const) {
        const g = await s.api(method, path, undefined, { as: row.as })
        expect(g.status, `${row.as} ${method} ${path}`).toBe(
          row.expect === 202 ? (path === '/api/push/messages' ? 200 : 404) : row.expect,
        )
      }
    }
  })

  it('a console admin session sends as `console`', async () => {
    const admin = { email: 'root@push.test', password: 'granite lantern over the harbour', name: 'Root' }
    expect((await s.api('POST', '/api/admin/setup', admin)).status).toBeLessThan(300)
    const signIn = await s.api(
      'POST',
      '/api/admin/auth/sign-in/email',
      { email: admin.email, password: admin.password },
      { as: 'anon' },
    )
    expect(signIn.status).toBe(200)
    const r = await send({ to: { users: [alice.id] }, title: 'from the console' }, signIn.body.token)
    expect(r.status).toBe(202)
    expect(r.body.source).toBe('console')
  })
})
