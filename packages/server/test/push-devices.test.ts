import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import openapiTS, { astToString } from 'openapi-typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPushDevices, MAX_DEVICES_PER_USER } from '../src/core/push/devices.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import { createKey, startTestServer, type TestServer } from './support/harness.ts'

/**
 * /api/push/devices and /api/admin/push/devices: registration by installation id (in place, token takeover),
 * removal by whoever holds the id, a user's own devices, and who may reach the admin routes.
 */
let s: TestServer
let ada: SignedUp
let bob: SignedUp
let pushKey: string
let otherKey: string

beforeAll(async () => {
  s = await startTestServer()
  ada = await signUp(s, 'ada@example.com')
  bob = await signUp(s, 'bob@example.com')
  pushKey = await createKey(s, ['push'])
  otherKey = await createKey(s, ['records:read'])
})
afterAll(() => s?.close())

const installation = () => `inst_${randomBytes(12).toString('hex')}`
const apnsToken = () => randomBytes(32).toString('hex')
const device = (o: Record<string, unknown> = {}) => ({
  id: installation(),
  provider: 'apns',
  token: apnsToken(),
  appId: 'com.example.app',
  ...o,
})
const register = (body: unknown, as = 'anon') => s.api('POST', '/api/push/devices', body, { as })
const row = async (id: string) =>
  (await sql<any>`SELECT * FROM bastide.push_devices WHERE id = ${id}`.execute(s.bastide.database.db)).rows[0]

describe('registration', () => {
  it('registers an anonymous installation, then updates it in place by id', async () => {
    const d: Record<string, unknown> & { id: string; token: string } = device({
      locale: 'fr',
      appVersion: '1.0.0',
    })
    const first = await register(d)
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({
      id: d.id,
      provider: 'apns',
      appId: 'com.example.app',
      environment: 'production',
      locale: 'fr',
      appVersion: '1.0.0',
      userId: null,
      tokenHint: d.token.slice(-8),
      topics: [],
    })
    // The token itself never comes back.
    expect(JSON.stringify(first.body)).not.toContain(d.token)
    const token = apnsToken()
    // What the new registration leaves out is cleared: it describes the installation as it is now.
    const { appVersion: _gone, ...rest } = d
    const again = await register({ ...rest, token, locale: 'de', environment: 'sandbox' })
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ id: d.id, locale: 'de', environment: 'sandbox', appVersion: null })
    expect(again.body.createdAt).toBe(first.body.createdAt)
    const r = await row(d.id)
    expect(r.token).toBe(token)
    expect(
      (await sql`SELECT count(*)::int AS n FROM bastide.push_devices`.execute(s.bastide.database.db)).rows[0],
    ).toEqual({ n: 1 })
  })

  it('gives a signed-in caller’s device to that user, and takes it back when re-registered anonymously', async () => {
    const d = device()
    const mine = await register(d, ada.token)
    expect(mine.status).toBe(201)
    expect(mine.body.userId).toBe(ada.id)
    // The access JWT is the same user.
    expect((await register(d, ada.jwt)).body.userId).toBe(ada.id)
    // Signed out on that device: the installation is nobody's again.
    expect((await register(d)).body.userId).toBeNull()
    // A key or the admin key registering is no user either.
    expect((await register(d, pushKey)).body.userId).toBeNull()
    expect((await register(d, 'admin')).body.userId).toBeNull()
  })

  it('moves a token to the new installation id (an app reinstalled): the old row goes', async () => {
    const old = device()
    await register(old, ada.token)
    const reinstalled = { ...old, id: installation() }
    const r = await register(reinstalled, ada.token)
    expect(r.status).toBe(201)
    expect(await row(old.id)).toBeUndefined()
    expect((await row(reinstalled.id)).token).toBe(old.token)
    // The same token under another provider is another device.
    const web = device({
      provider: 'unifiedpush',
      token: 'https://push.example.net/up/abc',
      appId: 'org.example.up',
    })
    expect((await register(web)).status).toBe(201)
    expect((await register({ ...web, id: installation(), provider: 'webpush' })).status).toBe(400)
  })

  it('refuses malformed registrations with a 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [device({ id: 'short' }), 'id'],
      [device({ id: 'has spaces in it, not allowed' }), 'id'],
      [device({ provider: 'carrier-pigeon' }), 'provider'],
      [device({ token: 'not hex' }), 'token'],
      [device({ provider: 'webpush', token: 'http://insecure.example/x' }), 'token'],
      [device({ provider: 'webpush', token: 'https://fcm.googleapis.com/wp/x' }), 'keys'],
      [device({ provider: 'fcm', token: 'abc:def', environment: 'sandbox' }), 'environment'],
      [device({ locale: 'not a locale!' }), 'locale'],
      [device({ extra: 1 }), 'body'],
      [device({ appId: '' }), 'appId'],
      // An APNs topic header value: no control characters, nothing an HTTP/2 header could not carry.
      [device({ appId: 'com.example.app\napns-priority: 10' }), 'appId'],
      [device({ appId: 'com example app' }), 'appId'],
      [device({ appId: 'a'.repeat(156) }), 'appId'],
      [device({ provider: 'fcm', token: 'abc:def', appId: 'com.example/app' }), 'appId'],
    ]
    for (const [body, field] of cases) {
      const r = await register(body)
      expect(r.status, JSON.stringify(body)).toBe(400)
      expect(r.body.code).toBe('VALIDATION_FAILED')
      expect(Object.keys(r.body.details.fields).join(','), JSON.stringify(body)).toContain(field)
    }
    const ok = await register(
      device({
        provider: 'webpush',
        token: 'https://fcm.googleapis.com/wp/abc',
        appId: 'web',
        keys: {
          p256dh: Buffer.concat([Buffer.from([4]), randomBytes(64)]).toString('base64url'),
          auth: randomBytes(16).toString('base64url'),
        },
      }),
    )
    expect(ok.status).toBe(201)
    expect(ok.body.environment).toBeNull()
    expect(
      (
        await s.api('POST', '/api/push/devices', 'not json', {
          as: 'anon',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(400)
  })
})

describe('removal and a user’s own devices', () => {
  it('keeps at most 50 devices per user: one more evicts the least recently seen, and the list is bounded', async () => {
    const erin = await signUp(s, 'erin@example.com')
    // Straight to the service: the per-address rate limit is not what this checks.
    const devices = createPushDevices({ db: s.bastide.database.db })
    const ids: string[] = []
    for (let i = 0; i < MAX_DEVICES_PER_USER; i++) {
      const d = device({ provider: 'fcm', token: `fcm-${randomBytes(12).toString('hex')}` }) as any
      await devices.register(d, erin.id)
      ids.push(d.id)
    }
    // ids[0] is seen again: ids[1] becomes the least recently seen.
    const db = s.bastide.database.db
    await sql`UPDATE bastide.push_devices SET last_seen = now() - interval '1 day' WHERE user_id = ${erin.id}`.execute(
      db,
    )
    await sql`UPDATE bastide.push_devices SET last_seen = now() - interval '1 hour' WHERE id = ANY(${ids.slice(2)}::text[])`.execute(
      db,
    )
    await sql`UPDATE bastide.push_devices SET last_seen = now() WHERE id = ${ids[0]}`.execute(db)
    const extra = device({ provider: 'fcm', token: `fcm-${randomBytes(12).toString('hex')}` }) as any
    expect((await devices.register(extra, erin.id)).created).toBe(true)
    const mine = await s.api('GET', '/api/push/devices', undefined, { as: erin.token })
    expect(mine.status).toBe(200)
    const listed = mine.body.items.map((d: any) => d.id)
    expect(listed).toHaveLength(MAX_DEVICES_PER_USER)
    expect(listed).toContain(extra.id)
    expect(listed).toContain(ids[0])
    expect(listed).not.toContain(ids[1])
    expect(await row(ids[1]!)).toBeUndefined()
    // Anonymous devices are not capped per user, and other users' devices are untouched.
    const [{ n }] = (
      await sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM bastide.push_devices WHERE user_id = ${erin.id}`.execute(db)
    ).rows as [{ n: number }]
    expect(n).toBe(MAX_DEVICES_PER_USER)
  })

  it('removes a device by id, idempotently', async () => {
    const d = device()
    await register(d)
    expect((await s.api('DELETE', `/api/push/devices/${d.id}`, undefined, { as: 'anon' })).status).toBe(204)
    expect(await row(d.id)).toBeUndefined()
    expect((await s.api('DELETE', `/api/push/devices/${d.id}`, undefined, { as: 'anon' })).status).toBe(204)
    expect((await s.api('DELETE', '/api/push/devices/x', undefined, { as: 'anon' })).status).toBe(204)
  })

  it('lists the signed-in user’s devices only, and lets them revoke one', async () => {
    const carol = await signUp(s, 'carol@example.com')
    const dave = await signUp(s, 'dave@example.com')
    const c1 = device()
    const c2 = device({
      provider: 'fcm',
      token: `fcm:${randomBytes(20).toString('hex')}`,
      appId: 'com.example.app',
    })
    const d1 = device()
    await register(c1, carol.token)
    await register(c2, carol.token)
    await register(d1, dave.token)
    const list = await s.api('GET', '/api/push/devices', undefined, { as: carol.token })
    expect(list.status).toBe(200)
    expect(list.body.items.map((d: any) => d.id).sort()).toEqual([c1.id, c2.id].sort())
    expect(list.body.items.every((d: any) => d.userId === carol.id)).toBe(true)
    const daves = await s.api('GET', '/api/push/devices', undefined, { as: dave.jwt })
    expect(daves.body.items.map((d: any) => d.id)).toEqual([d1.id])
    // Anonymous callers have no devices of their own to list; keys neither.
    expect((await s.api('GET', '/api/push/devices', undefined, { as: 'anon' })).status).toBe(401)
    expect((await s.api('GET', '/api/push/devices', undefined, { as: pushKey })).status).toBe(401)
    // Revoking one: it is gone from the list.
    expect((await s.api('DELETE', `/api/push/devices/${c1.id}`, undefined, { as: carol.token })).status).toBe(
      204,
    )
    const after = await s.api('GET', '/api/push/devices', undefined, { as: carol.token })
    expect(after.body.items.map((d: any) => d.id)).toEqual([c2.id])
  })

  it('removes a user’s devices, subscriptions and preferences with the user', async () => {
    const eve = await signUp(s, 'eve@example.com')
    const d = device()
    await register(d, eve.token)
    expect((await s.api('POST', '/api/admin/push/topics', { name: 'news', subscribeRule: '' })).status).toBe(
      201,
    )
    expect(
      (await s.api('POST', '/api/push/topics/news/subscriptions', { device: d.id }, { as: eve.token }))
        .status,
    ).toBe(204)
    expect(
      (await s.api('PUT', '/api/push/preferences', { topics: { news: false } }, { as: eve.token })).status,
    ).toBe(200)
    expect((await s.api('DELETE', `/api/admin/users/${eve.id}`)).status).toBe(204)
    expect(await row(d.id)).toBeUndefined()
    const db = s.bastide.database.db
    expect(
      (await sql`SELECT 1 FROM bastide.push_subscriptions WHERE device_id = ${d.id}`.execute(db)).rows,
    ).toEqual([])
    expect(
      (await sql`SELECT 1 FROM bastide.push_preferences WHERE user_id = ${eve.id}`.execute(db)).rows,
    ).toEqual([])
  })
})

describe('admin routes', () => {
  it('answers 401 to anonymous callers and 403 to users and keys without the push scope', async () => {
    const d = device()
    await register(d, bob.token)
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/admin/push/devices'],
      ['GET', `/api/admin/push/devices?user=${bob.id}`],
      ['GET', `/api/admin/push/devices/${d.id}`],
      ['DELETE', `/api/admin/push/devices/${d.id}`],
      ['GET', '/api/admin/push/topics'],
      ['POST', '/api/admin/push/topics', { name: 'x' }],
      ['PATCH', '/api/admin/push/topics/x', { description: 'y' }],
      ['DELETE', '/api/admin/push/topics/x'],
      ['POST', '/api/admin/push/topics/x/subscriptions', { devices: [d.id] }],
      ['DELETE', '/api/admin/push/topics/x/subscriptions', { devices: [d.id] }],
      ['GET', '/api/admin/push/credentials'],
      ['PUT', '/api/admin/push/credentials/webpush', { subject: 'mailto:ops@example.com' }],
      ['DELETE', '/api/admin/push/credentials/webpush'],
    ]
    for (const [method, path, body] of routes) {
      const what = `${method} ${path}`
      expect((await s.api(method, path, body, { as: 'anon' })).status, what).toBe(401)
      // bob owns the device, and still cannot reach it (nor revoke it) through the admin routes.
      expect((await s.api(method, path, body, { as: bob.token })).status, what).toBe(403)
      expect((await s.api(method, path, body, { as: ada.jwt })).status, what).toBe(403)
      expect((await s.api(method, path, body, { as: otherKey })).status, what).toBe(403)
    }
    expect(await row(d.id)).toBeDefined()
    // A key with the push scope, and admins, get through.
    expect((await s.api('GET', `/api/admin/push/devices/${d.id}`, undefined, { as: pushKey })).status).toBe(
      200,
    )
    expect((await s.api('GET', '/api/admin/push/credentials', undefined, { as: pushKey })).status).toBe(200)
    expect((await s.api('GET', '/api/admin/push/topics', undefined, { as: 'admin' })).status).toBe(200)
    expect(
      (await s.api('DELETE', `/api/admin/push/devices/${d.id}`, undefined, { as: pushKey })).status,
    ).toBe(204)
    expect(
      (await s.api('DELETE', `/api/admin/push/devices/${d.id}`, undefined, { as: pushKey })).status,
    ).toBe(404)
    expect((await s.api('GET', `/api/admin/push/devices/${d.id}`)).status).toBe(404)
  })

  it('lists every device by pages, or one user’s', async () => {
    const frank = await signUp(s, 'frank@example.com')
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const d = device()
      ids.push(d.id)
      await register(d, frank.token)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const q: string = `user=${frank.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`
      const r = await s.api('GET', `/api/admin/push/devices?${q}`, undefined, { as: pushKey })
      expect(r.status).toBe(200)
      expect(r.body.items.length).toBeLessThanOrEqual(2)
      seen.push(...r.body.items.map((d: any) => d.id))
      cursor = r.body.nextCursor
      pages++
    } while (cursor && pages < 10)
    expect(seen).toEqual([...ids].sort())
    const all = await s.api('GET', '/api/admin/push/devices?limit=500')
    expect(all.body.items.length).toBeGreaterThan(5)
    expect(all.body.nextCursor).toBeNull()
    expect((await s.api('GET', '/api/admin/push/devices?user=nope')).status).toBe(400)
    expect((await s.api('GET', '/api/admin/push/devices?limit=0')).status).toBe(400)
  })
})

describe('rate limit', () => {
  it('limits registrations per client address, with 429 and Retry-After', async () => {
    // Every in-process call is the same client (`local`): spend what is left of this minute's allowance.
    let limited: Awaited<ReturnType<typeof register>> | undefined
    for (let i = 0; i < 130 && !limited; i++) {
      const r = await register(device())
      if (r.status === 429) limited = r
      else expect(r.status).toBe(201)
    }
    expect(limited?.body.code).toBe('RATE_LIMITED')
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

describe('API document', () => {
  const METHODS = new Set(['get', 'put', 'post', 'patch', 'delete'])
  const ops = (doc: any): string[] =>
    Object.entries<any>(doc.paths)
      .filter(([p]) => p.startsWith('/api/push') || p.startsWith('/api/admin/push'))
      .flatMap(([p, item]) =>
        Object.keys(item)
          .filter((m) => METHODS.has(m))
          .map((m) => `${m.toUpperCase()} ${p}`),
      )

  it('documents every push route for admins, and only the app-facing ones publicly', async () => {
    const full = (await s.api('GET', '/api/openapi.json')).body
    expect(ops(full).sort()).toEqual(
      [
        'GET /api/push/config',
        'GET /api/push/devices',
        'POST /api/push/devices',
        'DELETE /api/push/devices/{id}',
        'GET /api/push/topics',
        'POST /api/push/topics/{name}/subscriptions',
        'DELETE /api/push/topics/{name}/subscriptions',
        'GET /api/push/preferences',
        'PUT /api/push/preferences',
        'POST /api/push/messages',
        'GET /api/push/messages',
        'GET /api/push/messages/{id}',
        'DELETE /api/push/messages/{id}',
        'GET /api/push/messages/{id}/deliveries',
        'GET /api/admin/push/credentials',
        'PUT /api/admin/push/credentials/{provider}',
        'DELETE /api/admin/push/credentials/{provider}',
        'GET /api/admin/push/devices',
        'GET /api/admin/push/devices/{id}',
        'DELETE /api/admin/push/devices/{id}',
        'GET /api/admin/push/topics',
        'POST /api/admin/push/topics',
        'PATCH /api/admin/push/topics/{name}',
        'DELETE /api/admin/push/topics/{name}',
        'POST /api/admin/push/topics/{name}/subscriptions',
        'DELETE /api/admin/push/topics/{name}/subscriptions',
      ].sort(),
    )
    const pub = (await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })).body
    expect(ops(pub).sort()).toEqual(
      [
        'GET /api/push/config',
        'GET /api/push/devices',
        'POST /api/push/devices',
        'DELETE /api/push/devices/{id}',
        'GET /api/push/topics',
        'POST /api/push/topics/{name}/subscriptions',
        'DELETE /api/push/topics/{name}/subscriptions',
        'GET /api/push/preferences',
        'PUT /api/push/preferences',
      ].sort(),
    )
    for (const doc of [full, pub]) {
      const text = JSON.stringify(doc)
      for (const r of new Set(text.match(/#\/components\/schemas\/[A-Za-z0-9_.-]+/g) ?? []))
        expect(doc.components.schemas[r.split('/').pop()!], r).toBeDefined()
      expect(astToString(await openapiTS(doc))).toContain('PushDevice')
    }
  })
})
