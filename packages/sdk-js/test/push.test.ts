import { generateKeyPairSync } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError, memoryStorage } from '../src/index.ts'
import { handleNotificationClick } from '../src/push-sw.ts'
import { PASSWORD } from './support/auth.ts'
import { ADMIN_KEY, clientFor, email, startServer, type TestServer } from './support/server.ts'

/**
 * client.push and client.admin.push against a real server. Messages go to a UnifiedPush distributor played by a
 * loopback HTTP server (allow-listed), which gets the plain JSON payload: the whole pipeline, no provider faked.
 */
let s: TestServer & { url: string }
let distributor: Server
let base = ''
const received: { path: string; body: any }[] = []

beforeAll(async () => {
  distributor = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => {
      raw += c
    })
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(raw) })
      res.writeHead(201).end()
    })
  })
  await new Promise<void>((resolve) => distributor.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(distributor.address() as AddressInfo).port}`
  s = await startServer({ BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1' })
})
afterAll(async () => {
  await s?.close()
  distributor?.closeAllConnections()
  await new Promise((resolve) => distributor?.close(resolve))
})

const admin = () => clientFor(s, { apiKey: ADMIN_KEY })
const fcm = (token: string) => ({ provider: 'fcm' as const, token, appId: 'com.example.app' })

async function signedIn(name: string, storage = memoryStorage()) {
  const c = clientFor(s, { storage })
  const { user } = await c.auth.signUp({ email: email('push'), password: PASSWORD, name })
  return { c, user }
}

describe('client.push: this installation', () => {
  it('generates the installation id once, keeps it in the storage, and re-registers in place', async () => {
    const storage = memoryStorage()
    const app = clientFor(s, { storage })
    expect(await app.push.installationId()).toBeNull()
    const first = await app.push.register({ ...fcm('token-one-aaaaaaaa'), locale: 'fr', appVersion: '1.0.0' })
    expect(first.id).toMatch(/^[A-Za-z0-9_-]{22,}$/)
    expect(first).toMatchObject({ provider: 'fcm', appId: 'com.example.app', locale: 'fr', userId: null })
    expect(first.tokenHint).toBe('aaaaaaaa')
    expect(await storage.getItem('bastide.session.push')).toBe(first.id)
    expect(await app.push.installationId()).toBe(first.id)

    // The token rotated: same device, updated.
    const again = await app.push.register({ ...fcm('token-two-bbbbbbbb'), appVersion: '1.1.0' })
    expect(again).toMatchObject({ id: first.id, tokenHint: 'bbbbbbbb', appVersion: '1.1.0' })

    // The app restarts: a new client on the same storage is the same installation.
    const restarted = clientFor(s, { storage })
    expect(await restarted.push.installationId()).toBe(first.id)
    expect((await restarted.push.register(fcm('token-three-cccccccc'))).id).toBe(first.id)
    const listed = (await admin().admin.push.devices.list()).items.filter((d) => d.id === first.id)
    expect(listed).toHaveLength(1)
    expect(listed[0]!.tokenHint).toBe('cccccccc')
  })

  it('mints one id for concurrent first registrations, and a custom storageKey keeps its own', async () => {
    const storage = memoryStorage()
    const app = clientFor(s, { storage, storageKey: 'other' })
    const [a, b] = await Promise.all([
      app.push.register(fcm('concurrent-1-dddddddd')),
      app.push.register(fcm('concurrent-1-dddddddd')),
    ])
    expect(a.id).toBe(b.id)
    expect(await storage.getItem('other.push')).toBe(a.id)
    expect(await storage.getItem('bastide.session.push')).toBeNull()
  })

  it('unregisters: the device is removed and the id forgotten; a new registration is a new installation', async () => {
    const app = clientFor(s, { storage: memoryStorage() })
    const d = await app.push.register(fcm('to-unregister-eeeeeeee'))
    await app.push.unregister()
    expect(await app.push.installationId()).toBeNull()
    const ids = (await admin().admin.push.devices.list()).items.map((x) => x.id)
    expect(ids).not.toContain(d.id)
    await app.push.unregister() // not registered: nothing to do
    const next = await app.push.register(fcm('to-unregister-eeeeeeee'))
    expect(next.id).not.toBe(d.id)
  })

  it('answers the server config; the VAPID key appears once Web Push credentials are set', async () => {
    const app = clientFor(s)
    const before = await app.push.config()
    expect(before.providers).toContain('unifiedpush')
    expect(before.providers).not.toContain('webpush')
    expect(before.vapidPublicKey).toBeNull()
    const status = await admin().admin.push.credentials.set('webpush', { subject: 'mailto:ops@example.com' })
    expect(status.webpush).toMatchObject({ subject: 'mailto:ops@example.com' })
    const publicKey = status.webpush!.publicKey
    expect(publicKey).toMatch(/^[A-Za-z0-9_-]{80,}$/)
    await expect.poll(async () => (await app.push.config()).vapidPublicKey).toBe(publicKey)
    expect((await app.push.config()).providers).toContain('webpush')
  })
})

describe('client.push: the signed-in user', () => {
  it('owns the devices registered while signed in: list, revoke another, revoke this one', async () => {
    const phone = memoryStorage()
    const { c, user } = await signedIn('Owner', phone)
    const here = await c.push.register(fcm('owner-phone-11111111'))
    expect(here.userId).toBe(user.id)
    // The same user on a second installation (another storage: another device).
    const tablet = clientFor(s, { storage: memoryStorage() })
    await tablet.auth.signInWithPassword({ email: user.email, password: PASSWORD })
    const other = await tablet.push.register(fcm('owner-tablet-22222222'))
    expect((await c.push.devices.list()).map((d) => d.id).sort()).toEqual([here.id, other.id].sort())

    await c.push.devices.revoke(other.id)
    expect((await c.push.devices.list()).map((d) => d.id)).toEqual([here.id])
    // Revoking this installation forgets its id, as unregister does.
    await c.push.devices.revoke(here.id)
    expect(await c.push.installationId()).toBeNull()
    expect(await c.push.devices.list()).toEqual([])
    await c.close()
    await tablet.close()
  })

  it('refuses the user-only calls when anonymous', async () => {
    const anon = clientFor(s)
    const err = await anon.push.devices.list().catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401 })
    await expect(anon.push.preferences.get()).rejects.toMatchObject({ status: 401 })
    await expect(anon.push.preferences.set({ topics: { marketing: false } })).rejects.toMatchObject({
      status: 401,
    })
  })

  it('keeps preferences: set replaces the map', async () => {
    const { c } = await signedIn('Prefs')
    expect(await c.push.preferences.get()).toEqual({ topics: {} })
    expect(await c.push.preferences.set({ topics: { marketing: false, orders: true } })).toEqual({
      topics: { marketing: false, orders: true },
    })
    await c.push.preferences.set({ topics: { marketing: true } })
    expect(await c.push.preferences.get()).toEqual({ topics: { marketing: true } })
    await c.close()
  })
})

describe('client.push.topics', () => {
  beforeAll(async () => {
    const a = admin()
    await a.admin.push.topics.create({ name: 'news', description: 'News', subscribeRule: '' })
    await a.admin.push.topics.create({ name: 'staff', subscribeRule: 'name = "Staff"' })
    await a.admin.push.topics.create({ name: 'internal' })
  })

  it('needs a registered installation to subscribe (no request made)', async () => {
    const app = clientFor(s, { storage: memoryStorage() })
    for (const call of [() => app.push.topics.subscribe('news'), () => app.push.topics.unsubscribe('news')]) {
      const err = await call().catch((e) => e)
      expect(err).toBeInstanceOf(BastideError)
      expect(err).toMatchObject({ code: 'PRECONDITION_FAILED', details: { reason: 'not-registered' } })
      expect(err.message).toMatch(/client\.push\.register/)
    }
    // Listing works before registering: nothing is subscribed.
    const topics = await app.push.topics.list()
    expect(topics.map((t) => [t.name, t.subscribed])).toEqual([
      ['news', false],
      ['staff', false],
    ])
  })

  it('subscribes and unsubscribes under each topic’s rule', async () => {
    const anon = clientFor(s, { storage: memoryStorage() })
    await anon.push.register(fcm('anon-topics-33333333'))
    await anon.push.topics.subscribe('news')
    expect((await anon.push.topics.list()).find((t) => t.name === 'news')).toMatchObject({
      description: 'News',
      subscribed: true,
    })
    // A rule needs a signed-in user who matches; null: only admins subscribe devices.
    await expect(anon.push.topics.subscribe('staff')).rejects.toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
    })
    await expect(anon.push.topics.subscribe('internal')).rejects.toMatchObject({ status: 403 })
    await expect(anon.push.topics.subscribe('no-such-topic')).rejects.toMatchObject({ status: 404 })
    await anon.push.topics.unsubscribe('news')
    expect((await anon.push.topics.list()).every((t) => !t.subscribed)).toBe(true)

    const { c: staff } = await signedIn('Staff')
    await staff.push.register(fcm('staff-topics-44444444'))
    await staff.push.topics.subscribe('staff')
    expect((await staff.push.topics.list()).filter((t) => t.subscribed).map((t) => t.name)).toEqual(['staff'])
    const { c: other } = await signedIn('Other')
    await other.push.register(fcm('other-topics-55555555'))
    await expect(other.push.topics.subscribe('staff')).rejects.toMatchObject({ status: 403 })
    await staff.close()
    await other.close()
  })
})

describe('client.admin.push', () => {
  it('sets, reads and removes provider credentials (public part only)', async () => {
    const a = admin()
    const p8 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
    const apns = await a.admin.push.credentials.set('apns', {
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      bundleId: 'com.example.app',
      privateKey: p8,
    })
    expect(apns.apns).toMatchObject({
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      bundleId: 'com.example.app',
    })
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
    const fcmStatus = await a.admin.push.credentials.set('fcm', {
      serviceAccount: JSON.stringify({
        type: 'service_account',
        project_id: 'demo-project',
        client_email: 'push@demo-project.iam.gserviceaccount.com',
        private_key: rsa,
        token_uri: 'https://oauth2.googleapis.com/token',
      }),
    })
    expect(fcmStatus.fcm).toMatchObject({
      projectId: 'demo-project',
      clientEmail: 'push@demo-project.iam.gserviceaccount.com',
    })
    const status = await a.admin.push.credentials.get()
    expect(JSON.stringify(status)).not.toContain('PRIVATE KEY')
    await expect(
      a.admin.push.credentials.set('apns', {
        teamId: 'T',
        keyId: 'K',
        bundleId: 'b',
        privateKey: 'not a key',
      }),
    ).rejects.toMatchObject({ status: 400 })
    expect((await a.admin.push.credentials.remove('apns')).apns).toBeNull()
    expect((await a.admin.push.credentials.remove('fcm')).fcm).toBeNull()
  })

  it('manages topics and subscribes any devices', async () => {
    const a = admin()
    const t = await a.admin.push.topics.create({ name: 'beta', description: 'Beta testers' })
    expect(t).toMatchObject({ name: 'beta', description: 'Beta testers', subscribeRule: null })
    expect(await a.admin.push.topics.update('beta', { subscribeRule: '' })).toMatchObject({
      subscribeRule: '',
    })
    const app = clientFor(s, { storage: memoryStorage() })
    const d = await app.push.register(fcm('beta-device-66666666'))
    await a.admin.push.topics.subscribe('beta', [d.id])
    expect((await a.admin.push.topics.list()).find((x) => x.name === 'beta')?.subscribers).toBe(1)
    expect((await app.push.topics.list()).find((x) => x.name === 'beta')?.subscribed).toBe(true)
    await a.admin.push.topics.unsubscribe('beta', [d.id])
    expect((await a.admin.push.topics.list()).find((x) => x.name === 'beta')?.subscribers).toBe(0)
    await a.admin.push.topics.remove('beta')
    expect((await a.admin.push.topics.list()).map((x) => x.name)).not.toContain('beta')
  })

  it('lists devices by user and removes one', async () => {
    const a = admin()
    const { c, user } = await signedIn('Listed')
    const d = await c.push.register(fcm('listed-device-77777777'))
    const page = await a.admin.push.devices.list({ user: user.id })
    expect(page.items.map((x) => x.id)).toEqual([d.id])
    expect(page.nextCursor).toBeNull()
    await a.admin.push.devices.remove(d.id)
    expect((await a.admin.push.devices.list({ user: user.id })).items).toEqual([])
    await c.close()
  })

  it('sends to a UnifiedPush device, counts and lists deliveries', async () => {
    const a = admin()
    const { c, user } = await signedIn('Recipient')
    const d = await c.push.register({ provider: 'unifiedpush', token: `${base}/up/recipient`, appId: 'web' })
    const msg = await a.admin.push.send({
      to: { users: [user.id] },
      title: 'Hello',
      body: 'From the SDK test',
      data: { url: '/orders/42' },
    })
    expect(msg).toMatchObject({ status: 'queued', to: { users: [user.id] }, title: 'Hello' })
    await expect.poll(async () => (await a.admin.push.messages.get(msg.id)).status).toBe('done')
    expect((await a.admin.push.messages.get(msg.id)).counts).toMatchObject({
      targeted: 1,
      sent: 1,
      failed: 0,
    })
    const got = received.find((r) => r.path === '/up/recipient')
    expect(got?.body).toMatchObject({
      title: 'Hello',
      body: 'From the SDK test',
      data: { url: '/orders/42' },
      messageId: msg.id,
    })
    const deliveries = await a.admin.push.messages.deliveries(msg.id)
    expect(deliveries.items).toHaveLength(1)
    expect(deliveries.items[0]).toMatchObject({ deviceId: d.id, provider: 'unifiedpush', status: 'sent' })
    expect((await a.admin.push.messages.deliveries(msg.id, { status: 'failed' })).items).toEqual([])
    const page = await a.admin.push.messages.list({ limit: 1 })
    expect(page.items[0]!.id).toBe(msg.id)
    await c.close()
  })

  it('schedules and cancels; a second cancel is a conflict', async () => {
    const a = admin()
    const msg = await a.admin.push.send({
      to: { all: true },
      title: 'Later',
      sendAt: new Date(Date.now() + 3_600_000).toISOString(),
    })
    expect(msg.status).toBe('scheduled')
    expect((await a.admin.push.messages.list({ status: 'scheduled' })).items.map((m) => m.id)).toContain(
      msg.id,
    )
    expect((await a.admin.push.messages.cancel(msg.id)).status).toBe('canceled')
    await expect(a.admin.push.messages.cancel(msg.id)).rejects.toMatchObject({
      code: 'CONFLICT',
      status: 409,
    })
    await expect(a.admin.push.send({ to: {}, title: 'nobody' })).rejects.toMatchObject({ status: 400 })
  })

  it('takes a key with the push scope; refuses anonymous callers and other scopes', async () => {
    const a = admin()
    const { key } = await a.admin.keys.create({ name: 'pusher', scopes: ['push'] })
    const pusher = clientFor(s, { apiKey: key })
    expect((await pusher.admin.push.send({ to: { all: true }, title: 'Scoped' })).source).toBe('api')
    expect(await pusher.admin.push.credentials.get()).toHaveProperty('webpush')
    const { key: other } = await a.admin.keys.create({ name: 'schema-only', scopes: ['schema'] })
    await expect(clientFor(s, { apiKey: other }).admin.push.messages.list()).rejects.toMatchObject({
      status: 403,
    })
    await expect(clientFor(s).admin.push.messages.list()).rejects.toMatchObject({ status: 401 })
  })
})

describe('handleNotificationClick (the worker’s clients and location stand in for a service worker’s)', () => {
  // A click cannot be simulated in headless Chromium (DevTools has no such command): the URL logic is checked
  // here, against the two worker globals it uses.
  async function click(data: unknown, open: string[] = []) {
    const calls: string[] = []
    const g = globalThis as Record<string, unknown>
    g.location = new URL('https://app.example.com/sw.js')
    g.clients = {
      matchAll: async () => open.map((url) => ({ url, focus: async () => calls.push(`focus ${url}`) })),
      openWindow: async (url: string) => calls.push(`open ${url}`),
    }
    let closed = false
    const waited: Promise<unknown>[] = []
    try {
      const r = await handleNotificationClick({
        notification: { data, close: () => void (closed = true) },
        waitUntil: (p) => void waited.push(p),
      })
      expect(waited).toHaveLength(1)
      return { r, calls, closed }
    } finally {
      delete g.location
      delete g.clients
    }
  }

  it('opens data.url (relative to the worker’s origin), or focuses a window already there', async () => {
    expect(await click({ url: '/orders/42' })).toEqual({
      r: 'https://app.example.com/orders/42',
      calls: ['open https://app.example.com/orders/42'],
      closed: true,
    })
    expect((await click({ url: '/orders/42' }, ['https://app.example.com/orders/42'])).calls).toEqual([
      'focus https://app.example.com/orders/42',
    ])
  })

  it('only closes the notification without a url, or with one that is not a web page', async () => {
    for (const data of [undefined, {}, { url: 'javascript:alert(1)' }, { url: 'data:text/html,x' }]) {
      expect(await click(data)).toEqual({ r: null, calls: [], closed: true })
    }
  })
})
