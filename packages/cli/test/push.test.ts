import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {
  ADMIN_KEY,
  createKey,
  startTestServer,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import {
  startUnifiedPushReceiver,
  type UnifiedPushReceiver,
} from '@bastide/server/test/support/push-peers/unifiedpush-receiver.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './support/run-cli.ts'

/**
 * `bastide push`: credentials set from files and shown without secrets, topics, devices, a message sent to a
 * UnifiedPush device (a loopback receiver) followed with --wait to its counts, its deliveries, a scheduled one
 * canceled, and the exit codes of bad usage and of a key without the push scope.
 */

let s: TestServer
let as: (key: string) => string[]
let receiver: UnifiedPushReceiver
const dir = tempDir('bastide-cli-push-')
const DEVICE = 'cli-test-device-0000001'

beforeAll(async () => {
  receiver = await startUnifiedPushReceiver()
  s = await startTestServer({ listen: true, env: { BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1' } })
  as = (key) => ['--url', s.bastide.url, '--key', key]
  const device = await s.api(
    'POST',
    '/api/push/devices',
    { id: DEVICE, provider: 'unifiedpush', token: receiver.endpoint('cli'), appId: 'web', locale: 'fr' },
    { as: 'anon' },
  )
  expect(device.status).toBe(201)
})
afterAll(async () => {
  await s?.close()
  await receiver?.close()
})

describe('bastide push credentials', () => {
  it('sets APNs, FCM and Web Push credentials from files, shows them without secrets, removes one', async () => {
    const none = await runCli([...as(ADMIN_KEY), 'push', 'credentials'])
    expect(none.code, none.stderr).toBe(0)
    expect(none.stdout).toMatch(/^apns\s+not configured$/m)

    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const p8 = ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
    fs.writeFileSync(path.join(dir, 'AuthKey_ABC123DEFG.p8'), p8)
    const apns = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'credentials',
      'set',
      'apns',
      '--team-id',
      'TEAM123456',
      '--key-id',
      'ABC123DEFG',
      '--key-file',
      path.join(dir, 'AuthKey_ABC123DEFG.p8'),
      '--bundle-id',
      'com.example.app',
    ])
    expect(apns.code, apns.stderr).toBe(0)
    expect(apns.stdout).toContain('team TEAM123456, key ABC123DEFG, bundle com.example.app')

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const sa = {
      type: 'service_account',
      project_id: 'bastide-test',
      client_email: 'push@bastide-test.iam.gserviceaccount.com',
      private_key: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      token_uri: 'https://oauth2.googleapis.com/token',
    }
    fs.writeFileSync(path.join(dir, 'sa.json'), JSON.stringify(sa))
    const fcm = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'credentials',
      'set',
      'fcm',
      '--service-account',
      path.join(dir, 'sa.json'),
    ])
    expect(fcm.code, fcm.stderr).toBe(0)
    expect(fcm.stdout).toContain('project bastide-test, push@bastide-test.iam.gserviceaccount.com')

    // Generating VAPID keys is never implied: it would strand every browser subscribed with the old key.
    const implied = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'credentials',
      'set',
      'webpush',
      '--subject',
      'mailto:ops@example.com',
    ])
    expect(implied.code).toBe(2)
    expect(implied.stderr).toContain('--generate')
    const webpush = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'credentials',
      'set',
      'webpush',
      '--subject',
      'mailto:ops@example.com',
      '--generate',
      '--json',
    ])
    expect(webpush.code, webpush.stderr).toBe(0)
    const status = webpush.json()
    expect(status.webpush).toMatchObject({
      subject: 'mailto:ops@example.com',
      publicKey: expect.stringMatching(/^[A-Za-z0-9_-]{80,}$/),
    })
    expect(status.apns).toMatchObject({
      teamId: 'TEAM123456',
      keyId: 'ABC123DEFG',
      bundleId: 'com.example.app',
    })
    expect(status.fcm).toMatchObject({ projectId: 'bastide-test' })
    // No secret ever comes back.
    expect(webpush.stdout).not.toContain('PRIVATE KEY')
    expect(webpush.stdout).not.toContain('privateKey')

    const removed = await runCli([...as(ADMIN_KEY), 'push', 'credentials', 'remove', 'fcm', '--json'])
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.json().fcm).toBeNull()

    const missing = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'credentials',
      'set',
      'fcm',
      '--service-account',
      path.join(dir, 'nope.json'),
    ])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('nope.json')
  })
})

describe('bastide push topics', () => {
  it('creates, lists and deletes a topic', async () => {
    const created = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'topics',
      'create',
      'news',
      '--rule',
      '',
      '--description',
      'Breaking news',
    ])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain('Created topic news (anyone).')
    expect(
      (await runCli([...as(ADMIN_KEY), 'push', 'topics', 'create', 'staff', '--json'])).json(),
    ).toMatchObject({ name: 'staff', subscribeRule: null })

    const list = await runCli([...as(ADMIN_KEY), 'push', 'topics'])
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toMatch(/^news\s+0\s+anyone\s+Breaking news$/m)
    expect(list.stdout).toMatch(/^staff\s+0\s+admins only$/m)

    const deleted = await runCli([...as(ADMIN_KEY), 'push', 'topics', 'delete', 'staff'])
    expect(deleted.code, deleted.stderr).toBe(0)
    const after = (await runCli([...as(ADMIN_KEY), 'push', 'topics', '--json'])).json()
    expect(after.items.map((t: any) => t.name)).toEqual(['news'])
    expect((await runCli([...as(ADMIN_KEY), 'push', 'topics', 'delete', 'staff'])).code).toBe(1)
  })
})

describe('bastide push send', () => {
  it('sends to a device, waits for the delivery, and shows the message with its deliveries', async () => {
    const devices = await runCli([...as(ADMIN_KEY), 'push', 'devices', '--json'])
    expect(devices.code, devices.stderr).toBe(0)
    expect(devices.json().items).toMatchObject([{ id: DEVICE, provider: 'unifiedpush', userId: null }])
    expect((await runCli([...as(ADMIN_KEY), 'push', 'devices'])).stdout).toContain(DEVICE)

    const sent = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'send',
      '--device',
      DEVICE,
      '--title',
      'Hello',
      '--body',
      'From the CLI',
      '--data',
      'url=/orders/42',
      'kind=order',
      '--wait',
      '--json',
    ])
    expect(sent.code, sent.stderr).toBe(0)
    const m = sent.json()
    expect(m).toMatchObject({
      status: 'done',
      to: { devices: [DEVICE] },
      title: 'Hello',
      body: 'From the CLI',
      data: { url: '/orders/42', kind: 'order' },
      source: 'api',
      counts: { targeted: 1, sent: 1, failed: 0, invalidToken: 0, pending: 0 },
    })
    expect(receiver.received.map((r) => r.body)).toContainEqual(
      expect.objectContaining({ title: 'Hello', body: 'From the CLI', messageId: m.id }),
    )

    const text = await runCli([...as(ADMIN_KEY), 'push', 'message', m.id])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^status:\s+done$/m)
    expect(text.stdout).toMatch(/^counts:\s+targeted 1, sent 1, failed 0, invalid token 0, pending 0$/m)
    expect(text.stdout).toMatch(new RegExp(`^${DEVICE}\\s+unifiedpush\\s+sent\\s+1\\b`, 'm'))
    const json = (await runCli([...as(ADMIN_KEY), 'push', 'message', m.id, '--json'])).json()
    expect(json.deliveries.items).toMatchObject([{ deviceId: DEVICE, status: 'sent', attempts: 1 }])

    const list = await runCli([...as(ADMIN_KEY), 'push', 'messages', '--status', 'done'])
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toMatch(
      new RegExp(`^${m.id}\\s+done\\s+devices ${DEVICE}\\s+Hello\\s+1/1\\s+0\\s+api`, 'm'),
    )
  })

  it('schedules a message with --at and cancels it', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString()
    const sent = await runCli([...as(ADMIN_KEY), 'push', 'send', '--all', '--title', 'Later', '--at', at])
    expect(sent.code, sent.stderr).toBe(0)
    const [id, status] = sent.stdout.trim().split(/\s+/)
    expect(status).toBe('scheduled')
    const canceled = await runCli([...as(ADMIN_KEY), 'push', 'cancel', id!])
    expect(canceled.code, canceled.stderr).toBe(0)
    expect(canceled.stdout.trim()).toBe(`${id}  canceled`)
    // Only while scheduled.
    expect((await runCli([...as(ADMIN_KEY), 'push', 'cancel', id!])).code).toBe(1)
  })

  it('exits 2 on bad usage, 1 when the server refuses, 3 for a key without the push scope', async () => {
    const usage = [
      ['send', '--title', 'x'],
      ['send', '--all', '--topic', 'news', '--title', 'x'],
      ['send', '--all'],
      ['send', '--all', '--title', 'x', '--data', 'novalue'],
      ['send', '--all', '--title', 'x', '--at', 'tomorrow'],
      ['messages', '--status', 'sent'],
    ]
    for (const args of usage) {
      const r = await runCli([...as(ADMIN_KEY), 'push', ...args])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
    }
    const refused = await runCli([
      ...as(ADMIN_KEY),
      'push',
      'send',
      '--topic',
      'no-such-topic',
      '--title',
      'x',
    ])
    expect(refused.code, refused.stderr).toBe(1)
    expect(
      (await runCli([...as(ADMIN_KEY), 'push', 'message', '00000000-0000-7000-8000-000000000000'])).code,
    ).toBe(1)

    const key = await createKey(s, ['metrics'])
    const forbidden = await runCli([...as(key), 'push', 'messages'])
    expect(forbidden.code).toBe(3)
    const pushKey = await createKey(s, ['push'])
    const allowed = await runCli([...as(pushKey), 'push', 'messages', '--json'])
    expect(allowed.code, allowed.stderr).toBe(0)
    expect(allowed.json().items.length).toBeGreaterThanOrEqual(2)
  })
})
