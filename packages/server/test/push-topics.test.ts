import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCollectionsService } from '../src/core/collections/service.ts'
import { topicRulePredicate } from '../src/core/push/topics.ts'
import { createEventBus } from '../src/events/bus.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import { createKey, startTestServer, type TestServer } from './support/harness.ts'

/**
 * Topics: who may subscribe their own device (the topic's rule over the caller's `users` row, checked in SQL),
 * what admins do for any device, and users' per-topic preferences.
 */
let s: TestServer
let staff: SignedUp
let plain: SignedUp
let pushKey: string
/** Callers by name, as the table below names them. */
const as: Record<string, string> = {}

beforeAll(async () => {
  s = await startTestServer()
  staff = await signUp(s, 'staff@example.com')
  plain = await signUp(s, 'plain@example.org')
  pushKey = await createKey(s, ['push'])
  const db = s.bastide.database.db
  await sql`UPDATE data.users SET role = 'staff', verified = true WHERE id = ${staff.id}`.execute(db)
  Object.assign(as, { anon: 'anon', staff: staff.token, plain: plain.token, key: pushKey, admin: 'admin' })
})
afterAll(() => s?.close())

const installation = () => `inst_${randomBytes(12).toString('hex')}`
async function newDevice(who = 'anon'): Promise<string> {
  const id = installation()
  const r = await s.api(
    'POST',
    '/api/push/devices',
    { id, provider: 'fcm', token: `fcm-${randomBytes(16).toString('hex')}`, appId: 'com.example.app' },
    { as: who },
  )
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`)
  return id
}
const topic = (body: unknown) => s.api('POST', '/api/admin/push/topics', body)
const subscribe = (name: string, device: string, who: string) =>
  s.api('POST', `/api/push/topics/${name}/subscriptions`, { device }, { as: who })
const unsubscribe = (name: string, device: string, who: string) =>
  s.api('DELETE', `/api/push/topics/${name}/subscriptions?device=${device}`, undefined, { as: who })
const subscribed = async (name: string, device: string) =>
  (
    await sql`SELECT 1 FROM bastide.push_subscriptions WHERE topic = ${name} AND device_id = ${device}`.execute(
      s.bastide.database.db,
    )
  ).rows.length === 1

describe('subscribe rules', () => {
  // rule → caller → expected status of a self-subscription.
  const table: { rule: string | null; as: string; expect: 204 | 403 }[] = [
    { rule: null, as: 'anon', expect: 403 },
    { rule: null, as: 'plain', expect: 403 },
    { rule: null, as: 'key', expect: 403 },
    { rule: null, as: 'admin', expect: 403 },
    { rule: '', as: 'anon', expect: 204 },
    { rule: '', as: 'plain', expect: 204 },
    { rule: '', as: 'key', expect: 204 },
    { rule: 'role = "staff"', as: 'staff', expect: 204 },
    { rule: 'role = "staff"', as: 'plain', expect: 403 },
    { rule: 'role = "staff"', as: 'anon', expect: 403 },
    { rule: 'role = "staff"', as: 'key', expect: 403 },
    { rule: 'role = "staff"', as: 'admin', expect: 403 },
    { rule: 'verified = true', as: 'staff', expect: 204 },
    { rule: 'verified = true', as: 'plain', expect: 403 },
    { rule: 'email ~ "example.org"', as: 'plain', expect: 204 },
    { rule: 'email ~ "example.org"', as: 'staff', expect: 403 },
    { rule: 'id = @request.auth.id', as: 'plain', expect: 204 },
    { rule: 'id = @request.auth.id', as: 'anon', expect: 403 },
    { rule: 'id != @request.auth.id', as: 'plain', expect: 403 },
    { rule: 'role = "staff" || verified = false', as: 'plain', expect: 204 },
  ]

  it('lets a caller subscribe their device as the topic’s rule says', async () => {
    let i = 0
    for (const row of table) {
      const name = `t${i++}`
      expect((await topic({ name, subscribeRule: row.rule })).status).toBe(201)
      // The caller's own device (registered by them: signed in, it is theirs).
      const device = await newDevice(as[row.as]!)
      const r = await subscribe(name, device, as[row.as]!)
      expect(r.status, JSON.stringify(row)).toBe(row.expect)
      if (r.status === 403) expect(r.body.code).toBe('FORBIDDEN')
      expect(await subscribed(name, device), JSON.stringify(row)).toBe(row.expect === 204)
    }
  })

  it('follows a rule changed by PATCH, and refuses rules that do not bind (400)', async () => {
    expect((await topic({ name: 'staff-news', subscribeRule: 'role = "staff"' })).status).toBe(201)
    const device = await newDevice(plain.token)
    expect((await subscribe('staff-news', device, plain.token)).status).toBe(403)
    const patched = await s.api('PATCH', '/api/admin/push/topics/staff-news', {
      subscribeRule: '',
      description: 'For all',
    })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ name: 'staff-news', subscribeRule: '', description: 'For all' })
    expect((await subscribe('staff-news', device, plain.token)).status).toBe(204)
    // Subscribing twice is fine.
    expect((await subscribe('staff-news', device, plain.token)).status).toBe(204)
    for (const rule of ['nosuchfield = 1', 'role = ', 'role ~~ "x"', 'nosuch.role = "x"']) {
      const r = await topic({ name: 'bad', subscribeRule: rule })
      expect(r.status, rule).toBe(400)
      expect(r.body.details.fields.subscribeRule, rule).toBeDefined()
      expect(
        (await s.api('PATCH', '/api/admin/push/topics/staff-news', { subscribeRule: rule })).status,
      ).toBe(400)
    }
    expect((await topic({ name: 'Bad Name' })).status).toBe(400)
    expect((await topic({ name: 'staff-news' })).status).toBe(409)
  })

  it('checks a rule against the device’s user: no subscribing another user’s or an anonymous device', async () => {
    expect((await topic({ name: 'staff-only', subscribeRule: 'role = "staff"' })).status).toBe(201)
    const plainDevice = await newDevice(plain.token)
    const anonDevice = await newDevice('anon')
    const staffDevice = await newDevice(staff.token)
    for (const d of [plainDevice, anonDevice]) {
      const r = await subscribe('staff-only', d, staff.token)
      expect(r.status).toBe(403)
      expect(await subscribed('staff-only', d)).toBe(false)
    }
    expect((await subscribe('staff-only', staffDevice, staff.token)).status).toBe(204)
    // A rule of '' is anyone's, for any device they hold.
    expect((await topic({ name: 'anyone', subscribeRule: '' })).status).toBe(201)
    expect((await subscribe('anyone', plainDevice, staff.token)).status).toBe(204)
  })

  it('drops a device’s ruled and admin subscriptions when it changes hands, keeping those anyone may make', async () => {
    for (const [name, rule] of [
      ['hands-staff', 'role = "staff"'],
      ['hands-open', ''],
      ['hands-ops', null],
    ] as const)
      expect((await topic({ name, subscribeRule: rule })).status).toBe(201)
    const id = installation()
    const body = {
      id,
      provider: 'fcm',
      token: `fcm-${randomBytes(16).toString('hex')}`,
      appId: 'com.example.app',
    }
    expect((await s.api('POST', '/api/push/devices', body, { as: staff.token })).status).toBe(201)
    expect((await subscribe('hands-staff', id, staff.token)).status).toBe(204)
    expect((await subscribe('hands-open', id, staff.token)).status).toBe(204)
    await s.api('POST', '/api/admin/push/topics/hands-ops/subscriptions', { devices: [id] })
    // The same user registering again keeps everything.
    expect((await s.api('POST', '/api/push/devices', body, { as: staff.token })).body.topics).toEqual([
      'hands-open',
      'hands-ops',
      'hands-staff',
    ])
    // Another user signs in on the device: only the subscription anyone may make is left.
    const r = await s.api('POST', '/api/push/devices', body, { as: plain.token })
    expect(r.status).toBe(200)
    expect(r.body.topics).toEqual(['hands-open'])
    // Signing out is a change of hands too.
    expect((await subscribe('hands-staff', id, plain.token)).status).toBe(403)
  })

  it('gives the fan-out a predicate re-checking a topic’s rule over each device’s user', async () => {
    const db = s.bastide.database.db
    const collections = await createCollectionsService({ db, bus: createEventBus() })
    const passing = async (rule: string | null) => {
      const p = topicRulePredicate(rule, sql.ref('u.id'), collections)
      if (p === null) return null
      const rs = await sql<{ id: string }>`SELECT u.id FROM data.users u
        WHERE u.id IN (${staff.id}, ${plain.id}) AND ${p} ORDER BY u.id`.execute(db)
      return rs.rows.map((r) => r.id).sort()
    }
    expect(await passing(null)).toBeNull()
    expect(await passing('  ')).toBeNull()
    expect(await passing('role = "staff"')).toEqual([staff.id])
    expect(await passing('verified = true && role = "staff"')).toEqual([staff.id])
    expect(await passing('id = @request.auth.id')).toEqual([plain.id, staff.id].sort())
    expect(await passing('email = @request.auth.email && role != "staff"')).toEqual([plain.id])
    // A rule that no longer binds lets nobody through.
    expect(await passing('nosuchfield = 1')).toEqual([])
    // An anonymous device (no user) never passes.
    const nobody = topicRulePredicate('role = "staff"', sql.lit(null), collections)!
    expect((await sql<{ ok: boolean }>`SELECT ${nobody} AS ok`.execute(db)).rows[0]?.ok).toBe(false)
  })

  it('sends a ruled topic only to devices whose user still passes the rule (a demoted user gets nothing)', async () => {
    expect((await topic({ name: 'staff-alerts', subscribeRule: 'role = "staff"' })).status).toBe(201)
    const boss = await signUp(s, 'boss@example.com')
    const db = s.bastide.database.db
    await sql`UPDATE data.users SET role = 'staff' WHERE id = ${boss.id}`.execute(db)
    const device = await newDevice(boss.token)
    expect((await subscribe('staff-alerts', device, boss.token)).status).toBe(204)
    const targeted = async () => {
      const sent = await s.api('POST', '/api/push/messages', {
        to: { topic: 'staff-alerts' },
        title: 'Alert',
      })
      expect(sent.status, JSON.stringify(sent.body)).toBe(202)
      for (let i = 0; i < 600; i++) {
        const m = await s.api('GET', `/api/push/messages/${sent.body.id}`)
        if (m.body.status === 'done') return m.body.counts.targeted as number
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error('the message never ended')
    }
    expect(await targeted()).toBe(1)
    await sql`UPDATE data.users SET role = 'user' WHERE id = ${boss.id}`.execute(db)
    expect(await subscribed('staff-alerts', device)).toBe(true)
    expect(await targeted()).toBe(0)
  })

  it('answers 404 for an unknown topic or device, 400 for a malformed device id', async () => {
    expect((await topic({ name: 'open', subscribeRule: '' })).status).toBe(201)
    const device = await newDevice()
    expect((await subscribe('nope', device, 'anon')).status).toBe(404)
    expect((await subscribe('open', installation(), 'anon')).status).toBe(404)
    expect((await subscribe('open', 'x', 'anon')).status).toBe(400)
    expect((await unsubscribe('nope', device, 'anon')).status).toBe(404)
    expect((await s.api('PATCH', '/api/admin/push/topics/nope', { description: 'x' })).status).toBe(404)
    expect((await s.api('DELETE', '/api/admin/push/topics/nope')).status).toBe(404)
  })

  it('lets the device holder unsubscribe from any topic, including one only admins subscribe to', async () => {
    expect((await topic({ name: 'ops', subscribeRule: null })).status).toBe(201)
    const device = await newDevice()
    const other = await newDevice()
    const added = await s.api('POST', '/api/admin/push/topics/ops/subscriptions', {
      devices: [device, other, installation()],
    })
    expect(added.status).toBe(200)
    expect(added.body).toEqual({ changed: 2 })
    expect(await subscribed('ops', device)).toBe(true)
    // The public list shows topics devices may subscribe to, and the device's own subscriptions.
    const list = await s.api('GET', `/api/push/topics?device=${device}`, undefined, { as: 'anon' })
    expect(list.status).toBe(200)
    expect(list.body.items.map((t: any) => t.name)).not.toContain('ops')
    expect(list.body.items.every((t: any) => t.subscribers === undefined && t.subscribeRule !== null)).toBe(
      true,
    )
    expect(list.body.subscribed).toEqual(['ops'])
    expect((await s.api('GET', '/api/push/topics', undefined, { as: 'anon' })).body.subscribed).toEqual([])
    expect((await unsubscribe('ops', device, 'anon')).status).toBe(204)
    expect(await subscribed('ops', device)).toBe(false)
    expect(await subscribed('ops', other)).toBe(true)
    // Admins see the count; deleting the topic takes its subscriptions.
    const admin = await s.api('GET', '/api/admin/push/topics', undefined, { as: pushKey })
    expect(admin.body.items.find((t: any) => t.name === 'ops')).toMatchObject({
      subscribers: 1,
      subscribeRule: null,
    })
    const removed = await s.api('DELETE', '/api/admin/push/topics/ops/subscriptions', { devices: [other] })
    expect(removed.body).toEqual({ changed: 1 })
    await s.api('POST', '/api/admin/push/topics/ops/subscriptions', { devices: [other] })
    expect((await s.api('DELETE', '/api/admin/push/topics/ops')).status).toBe(204)
    expect(await subscribed('ops', other)).toBe(false)
    // A device's own topics come back with it.
    await s.api('POST', '/api/admin/push/topics/open/subscriptions', { devices: [other] })
    const d = await s.api('GET', `/api/admin/push/devices/${other}`)
    expect(d.body.topics).toEqual(['open'])
  })
})

describe('preferences', () => {
  it('reads and replaces the signed-in user’s map', async () => {
    const get = (who: string) => s.api('GET', '/api/push/preferences', undefined, { as: who })
    const put = (who: string, body: unknown) => s.api('PUT', '/api/push/preferences', body, { as: who })
    expect((await get(plain.token)).body).toEqual({ topics: {} })
    const r = await put(plain.token, { topics: { marketing: false, news: true } })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ topics: { marketing: false, news: true } })
    // PUT replaces the whole map.
    expect((await put(plain.jwt, { topics: { digest: false } })).body).toEqual({ topics: { digest: false } })
    expect((await get(plain.jwt)).body).toEqual({ topics: { digest: false } })
    // One user's map is not another's.
    expect((await get(staff.token)).body).toEqual({ topics: {} })
    // Names a JavaScript object treats specially are refused (as keys they would vanish or misbehave).
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const r = await put(staff.token, JSON.parse(`{"topics":{"${name}":false}}`))
      expect(r.status, name).toBe(400)
      expect((await topic({ name })).status, name).toBe(400)
    }
    expect((await get('anon')).status).toBe(401)
    expect((await put('anon', { topics: {} })).status).toBe(401)
    expect((await put(pushKey, { topics: {} })).status).toBe(401)
    for (const body of [{ topics: { 'Not Valid': false } }, { topics: { a: 'no' } }, { topics: [] }, {}]) {
      expect((await put(plain.token, body)).status, JSON.stringify(body)).toBe(400)
    }
    expect((await get(plain.token)).body).toEqual({ topics: { digest: false } })
  })
})
