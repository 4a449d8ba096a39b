import crypto from 'node:crypto'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createApnsSender } from '../src/core/push/providers/apns-sender.ts'
import { createFcmSender } from '../src/core/push/providers/fcm-sender.ts'
import { createSenders } from '../src/core/push/providers/index.ts'
import { parseRetryAfter } from '../src/core/push/providers/retry-after.ts'
import type {
  FcmServiceAccount,
  OutgoingDevice,
  OutgoingPush,
  PushSender,
  VapidCredentials,
} from '../src/core/push/providers/types.ts'
import {
  createWebPushSender,
  PER_HOST_CONCURRENCY,
  PUSH_SERVICES,
  webPushTopic,
} from '../src/core/push/providers/web-push-sender.ts'
import { type ApnsPeer, startApnsPeer } from './support/push-peers/apns-peer.ts'
import { type FcmPeer, startFcmPeer } from './support/push-peers/fcm-peer.ts'
import { peerTls } from './support/push-peers/in-flight.ts'
import { startWebPushReceiver, type WebPushReceiver } from './support/push-peers/web-push-receiver.ts'

/** The clock shared by senders and peers: tests move it to age tokens. */
let clock = Date.now()
const now = () => clock

const senders: PushSender[] = []
const track = <T extends PushSender>(s: T): T => {
  senders.push(s)
  return s
}
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()))
})

function push(
  device: Partial<OutgoingDevice> & Pick<OutgoingDevice, 'provider' | 'token'>,
  o: Partial<OutgoingPush> = {},
): OutgoingPush {
  return {
    deliveryId: crypto.randomUUID(),
    messageId: crypto.randomUUID(),
    device: {
      id: crypto.randomUUID(),
      keys: null,
      appId: 'com.example.app',
      environment: 'production',
      ...device,
    },
    ttlSeconds: 3600,
    priority: 'high',
    silent: false,
    ...o,
  }
}
const hexToken = () => crypto.randomBytes(32).toString('hex')

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates, never negative', () => {
    expect(parseRetryAfter('120', 0)).toBe(120_000)
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:01:00 GMT', 30_000)).toBe(30_000)
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:00 GMT', 30_000)).toBe(0)
    expect(parseRetryAfter('soon', 0)).toBeUndefined()
    expect(parseRetryAfter(undefined, 0)).toBeUndefined()
  })
})

describe('APNs sender', () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const creds = {
    teamId: 'TEAM123456',
    keyId: 'KEY1234567',
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    bundleId: 'com.example.app',
  }
  let peer: ApnsPeer
  const sender = (concurrency = 10) =>
    track(createApnsSender(creds, { concurrency, ca: peer.ca, origin: peer.origin, now }))

  beforeAll(async () => {
    peer = await startApnsPeer({
      publicKey,
      keyId: creds.keyId,
      teamId: creds.teamId,
      topics: ['com.example.app'],
      now,
    })
  })
  afterAll(() => peer.close())

  it('sends an alert with the headers and payload APNs documents', async () => {
    const token = hexToken()
    const item = push(
      { provider: 'apns', token },
      {
        title: 'Hello',
        subtitle: 'Sub',
        body: 'World',
        data: { orderId: '42', aps: 'ignored' },
        badge: 3,
        sound: 'default',
        image: 'https://cdn.example.com/i.png',
        category: 'ORDER',
        threadId: 'orders',
        collapseKey: 'order-42',
        ttlSeconds: 600,
      },
    )
    const [result] = await sender().send([item])
    expect(result).toEqual({ ok: true, providerId: item.deliveryId })
    const got = peer.accepted.find((a) => a.token === token)!
    expect(got.headers).toMatchObject({
      'apns-topic': 'com.example.app',
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-expiration': String(Math.floor(clock / 1000) + 600),
      'apns-collapse-id': 'order-42',
      'apns-id': item.deliveryId,
    })
    expect(got.payload).toEqual({
      aps: {
        alert: { title: 'Hello', subtitle: 'Sub', body: 'World' },
        badge: 3,
        sound: 'default',
        category: 'ORDER',
        'thread-id': 'orders',
        'mutable-content': 1,
      },
      orderId: '42',
      image: 'https://cdn.example.com/i.png',
    })
  })

  it('sends a silent push as a background push of priority 5', async () => {
    const token = hexToken()
    const [result] = await sender().send([
      push({ provider: 'apns', token }, { silent: true, data: { sync: '1' } }),
    ])
    expect(result?.ok).toBe(true)
    const got = peer.accepted.find((a) => a.token === token)!
    expect(got.headers).toMatchObject({ 'apns-push-type': 'background', 'apns-priority': '5' })
    expect(got.payload).toEqual({ aps: { 'content-available': 1 }, sync: '1' })
  })

  it('signs one provider token for many sends and renews it after 50 minutes', async () => {
    const s = sender()
    const before = peer.jwts.size
    const results = [
      ...(await s.send(Array.from({ length: 5 }, () => push({ provider: 'apns', token: hexToken() })))),
      ...(await s.send(Array.from({ length: 5 }, () => push({ provider: 'apns', token: hexToken() })))),
    ]
    expect(results.every((r) => r.ok)).toBe(true)
    expect(peer.jwts.size).toBe(before + 1)
    clock += 51 * 60_000
    expect((await s.send([push({ provider: 'apns', token: hexToken() })]))[0]?.ok).toBe(true)
    expect(peer.jwts.size).toBe(before + 2)
  })

  it('renews the token once on 403 ExpiredProviderToken and sends the item again', async () => {
    const token = hexToken()
    peer.script(token, { status: 403, reason: 'ExpiredProviderToken' })
    const s = sender()
    await s.send([push({ provider: 'apns', token: hexToken() })])
    const before = peer.jwts.size
    const [result] = await s.send([push({ provider: 'apns', token })])
    expect(result?.ok).toBe(true)
    expect(peer.answers.filter((a) => a.token === token).map((a) => a.status)).toEqual([403, 200])
    expect(peer.jwts.size).toBe(before + 1)

    const twice = hexToken()
    peer.script(
      twice,
      { status: 403, reason: 'InvalidProviderToken' },
      { status: 403, reason: 'InvalidProviderToken' },
    )
    expect((await s.send([push({ provider: 'apns', token: twice })]))[0]).toEqual({
      ok: false,
      kind: 'failed',
      reason: '403 InvalidProviderToken',
    })
  })

  it('maps Unregistered, BadDeviceToken and DeviceTokenNotForTopic to invalid-token', async () => {
    const gone = hexToken()
    peer.script(gone, { status: 410, reason: 'Unregistered' })
    const results = await sender().send([
      push({ provider: 'apns', token: gone }),
      push({ provider: 'apns', token: 'not-a-token' }),
      push({ provider: 'apns', token: hexToken(), appId: 'com.other.app' }),
    ])
    expect(results).toEqual([
      { ok: false, kind: 'invalid-token', reason: 'Unregistered' },
      { ok: false, kind: 'invalid-token', reason: 'BadDeviceToken' },
      { ok: false, kind: 'invalid-token', reason: 'DeviceTokenNotForTopic' },
    ])
  })

  it('maps 429, 500 and 503 to retry with Retry-After, other errors to failed', async () => {
    const [a, b, c, d] = [hexToken(), hexToken(), hexToken(), hexToken()]
    const date = new Date(clock + 90_000).toUTCString()
    peer.script(a, { status: 429, reason: 'TooManyRequests', retryAfter: '120' })
    peer.script(b, { status: 503, reason: 'ServiceUnavailable', retryAfter: date })
    peer.script(c, { status: 500, reason: 'InternalServerError' })
    peer.script(d, { status: 413, reason: 'PayloadTooLarge' })
    const results = await sender().send([a, b, c, d].map((token) => push({ provider: 'apns', token })))
    expect(results).toEqual([
      { ok: false, kind: 'retry', reason: '429 TooManyRequests', retryAfterMs: 120_000 },
      { ok: false, kind: 'retry', reason: '503 ServiceUnavailable', retryAfterMs: Date.parse(date) - clock },
      { ok: false, kind: 'retry', reason: '500 InternalServerError' },
      { ok: false, kind: 'failed', reason: '413 PayloadTooLarge' },
    ])
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    peer.inFlight.holdInWaves(3, 10)
    try {
      const results = await sender(3).send(
        Array.from({ length: 10 }, () => push({ provider: 'apns', token: hexToken() })),
      )
      expect(results.every((r) => r.ok)).toBe(true)
      expect(peer.inFlight.max).toBe(3)
    } finally {
      peer.inFlight.stopHolding()
    }
  })

  it('reconnects after GOAWAY, and a closed gateway is a retry', async () => {
    const s = sender()
    expect((await s.send([push({ provider: 'apns', token: hexToken() })]))[0]?.ok).toBe(true)
    peer.goaway()
    // A request racing the GOAWAY is refused by the peer (REFUSED_STREAM) and sent again on a new connection.
    for (let i = 0; i < 3; i++)
      expect((await s.send([push({ provider: 'apns', token: hexToken() })]))[0]?.ok).toBe(true)

    const closed = track(
      createApnsSender(creds, { concurrency: 1, ca: peer.ca, origin: 'https://127.0.0.1:1', now }),
    )
    const [r] = await closed.send([push({ provider: 'apns', token: hexToken() })])
    expect(r).toMatchObject({ ok: false, kind: 'retry' })
  })
})

describe('FCM sender', () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  let peer: FcmPeer
  let account: FcmServiceAccount
  const sender = (concurrency = 10, a: FcmServiceAccount = account) =>
    track(
      createFcmSender(a, { concurrency, ca: peer.ca, origin: peer.origin, now, allowHosts: ['127.0.0.1'] }),
    )

  beforeAll(async () => {
    peer = await startFcmPeer({
      projectId: 'demo-project',
      clientEmail: 'push@demo-project.iam.gserviceaccount.com',
      publicKey,
      now,
    })
    account = {
      project_id: 'demo-project',
      client_email: 'push@demo-project.iam.gserviceaccount.com',
      private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      token_uri: peer.tokenUri,
    }
  })
  afterAll(() => peer.close())

  it('sends the v1 message shape, and a silent one as data only', async () => {
    const item = push(
      { provider: 'fcm', token: 'tok-alert', appId: 'com.example.app' },
      {
        title: 'Hello',
        body: 'World',
        image: 'https://cdn.example.com/i.png',
        data: { orderId: '42' },
        sound: 'default',
        category: 'OPEN_ORDER',
        collapseKey: 'order-42',
        badge: 2,
        ttlSeconds: 600,
      },
    )
    const silent = push(
      { provider: 'fcm', token: 'tok-silent' },
      { silent: true, priority: 'normal', data: { sync: '1' } },
    )
    const results = await sender().send([item, silent])
    expect(results[0]).toMatchObject({
      ok: true,
      providerId: expect.stringMatching(/^projects\/demo-project\/messages\//),
    })
    expect(results[1]?.ok).toBe(true)
    const exp = String(Math.floor(clock / 1000) + 600)
    expect(peer.accepted.find((a) => a.message.token === 'tok-alert')?.message).toEqual({
      token: 'tok-alert',
      notification: { title: 'Hello', body: 'World', image: 'https://cdn.example.com/i.png' },
      data: { orderId: '42' },
      android: {
        priority: 'HIGH',
        ttl: '600s',
        collapse_key: 'order-42',
        notification: {
          sound: 'default',
          tag: 'order-42',
          click_action: 'OPEN_ORDER',
          notification_count: 2,
        },
      },
      apns: {
        headers: {
          'apns-priority': '10',
          'apns-push-type': 'alert',
          'apns-expiration': exp,
          'apns-collapse-id': 'order-42',
        },
        payload: { aps: { sound: 'default', category: 'OPEN_ORDER', 'mutable-content': 1, badge: 2 } },
      },
    })
    const got = peer.accepted.find((a) => a.message.token === 'tok-silent')?.message
    expect(got).toEqual({
      token: 'tok-silent',
      data: { sync: '1' },
      android: { priority: 'NORMAL', ttl: '3600s' },
      apns: {
        headers: {
          'apns-priority': '5',
          'apns-push-type': 'background',
          'apns-expiration': String(Math.floor(clock / 1000) + 3600),
        },
        payload: { aps: { 'content-available': 1 } },
      },
    })
  })

  it('exchanges one access token for concurrent sends and renews it 5 minutes before expiry', async () => {
    const s = sender()
    const before = peer.exchanges
    const batches = await Promise.all(
      [1, 2, 3].map((b) =>
        s.send(Array.from({ length: 4 }, (_, i) => push({ provider: 'fcm', token: `tok-${b}-${i}` }))),
      ),
    )
    expect(batches.flat().every((r) => r.ok)).toBe(true)
    expect(peer.exchanges).toBe(before + 1)
    clock += 3599_000 - 5 * 60_000 - 1000
    expect((await s.send([push({ provider: 'fcm', token: 'tok-x' })]))[0]?.ok).toBe(true)
    expect(peer.exchanges).toBe(before + 1)
    clock += 2000
    expect((await s.send([push({ provider: 'fcm', token: 'tok-y' })]))[0]?.ok).toBe(true)
    expect(peer.exchanges).toBe(before + 2)
  })

  it('renews the access token once on 401 and sends the item again', async () => {
    const s = sender()
    await s.send([push({ provider: 'fcm', token: 'tok-a' })])
    const before = peer.exchanges
    peer.revokeTokens()
    expect((await s.send([push({ provider: 'fcm', token: 'tok-b' })]))[0]?.ok).toBe(true)
    expect(peer.exchanges).toBe(before + 1)
  })

  it('maps UNREGISTERED and an invalid token to invalid-token, other 400s to failed', async () => {
    peer.script('tok-gone', {
      status: 404,
      errorCode: 'UNREGISTERED',
      message: 'Requested entity was not found.',
    })
    peer.script('tok-unreg', { status: 400, errorCode: 'UNREGISTERED' })
    peer.script('tok-bad-payload', {
      status: 400,
      errorCode: 'INVALID_ARGUMENT',
      message: "Invalid value at 'message.data[0].value'",
    })
    const results = await sender().send([
      push({ provider: 'fcm', token: 'tok-gone' }),
      push({ provider: 'fcm', token: 'tok-unreg' }),
      push({ provider: 'fcm', token: 'not valid!' }),
      push({ provider: 'fcm', token: 'tok-bad-payload' }),
    ])
    expect(results[0]).toEqual({ ok: false, kind: 'invalid-token', reason: 'UNREGISTERED' })
    expect(results[1]).toEqual({ ok: false, kind: 'invalid-token', reason: 'UNREGISTERED' })
    expect(results[2]).toMatchObject({
      ok: false,
      kind: 'invalid-token',
      reason: expect.stringContaining('registration token'),
    })
    expect(results[3]).toMatchObject({
      ok: false,
      kind: 'failed',
      reason: expect.stringContaining('message.data'),
    })
  })

  it('maps 429, 500 and 503 to retry with Retry-After', async () => {
    peer.script('tok-429', { status: 429, errorCode: 'QUOTA_EXCEEDED', retryAfter: '30' })
    peer.script('tok-500', { status: 500, errorCode: 'INTERNAL' })
    peer.script('tok-503', { status: 503, errorCode: 'UNAVAILABLE', retryAfter: '7' })
    const results = await sender().send(
      ['tok-429', 'tok-500', 'tok-503'].map((token) => push({ provider: 'fcm', token })),
    )
    expect(results[0]).toMatchObject({ ok: false, kind: 'retry', retryAfterMs: 30_000 })
    expect(results[1]).toMatchObject({ ok: false, kind: 'retry' })
    expect(results[1]).not.toHaveProperty('retryAfterMs')
    expect(results[2]).toMatchObject({ ok: false, kind: 'retry', retryAfterMs: 7_000 })
  })

  it('fails every item when the service account is refused', async () => {
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    const s = sender(10, {
      ...account,
      private_key: other.export({ format: 'pem', type: 'pkcs8' }).toString(),
    })
    const results = await s.send([
      push({ provider: 'fcm', token: 'tok-1' }),
      push({ provider: 'fcm', token: 'tok-2' }),
    ])
    for (const r of results)
      expect(r).toMatchObject({ ok: false, kind: 'failed', reason: expect.stringContaining('invalid_grant') })
  })

  it('calls the token endpoint only over https, on a public address unless its host is allow-listed', async () => {
    const exchanges = peer.exchanges
    const notListed = track(
      createFcmSender(account, { concurrency: 2, ca: peer.ca, origin: peer.origin, now }),
    )
    const [refused] = await notListed.send([push({ provider: 'fcm', token: 'tok-refused' })])
    expect(refused).toMatchObject({
      ok: false,
      kind: 'failed',
      reason: expect.stringContaining('not a public address'),
    })
    for (const tokenUri of ['https://169.254.169.254/token', 'https://[::1]:9/token']) {
      const metadata = track(
        createFcmSender(
          { ...account, token_uri: tokenUri },
          { concurrency: 1, ca: peer.ca, origin: peer.origin, now, allowHosts: ['127.0.0.1'] },
        ),
      )
      expect((await metadata.send([push({ provider: 'fcm', token: 'tok-m' })]))[0]).toMatchObject({
        ok: false,
        kind: 'failed',
      })
    }
    const plain = track(
      createFcmSender(
        { ...account, token_uri: peer.tokenUri.replace('https:', 'http:') },
        { concurrency: 1, ca: peer.ca, origin: peer.origin, now, allowHosts: ['127.0.0.1'] },
      ),
    )
    expect((await plain.send([push({ provider: 'fcm', token: 'tok-p' })]))[0]).toMatchObject({
      ok: false,
      kind: 'failed',
      reason: expect.stringContaining('https'),
    })
    expect(peer.exchanges).toBe(exchanges)
  })

  it('gives the token exchange a deadline: an endpoint dripping its answer is a retry', async () => {
    const tls = await peerTls()
    const dripping = https.createServer({ cert: tls.cert, key: tls.key }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{')
      // A byte at a time, never the end: the socket is never idle, only a deadline stops it.
      const drip = setInterval(() => res.write(' '), 20)
      res.on('close', () => clearInterval(drip))
    })
    await new Promise<void>((resolve) => dripping.listen(0, '127.0.0.1', resolve))
    try {
      const port = (dripping.address() as AddressInfo).port
      const s = track(
        createFcmSender(
          { ...account, token_uri: `https://127.0.0.1:${port}/token` },
          {
            concurrency: 1,
            ca: peer.ca,
            origin: peer.origin,
            now,
            allowHosts: ['127.0.0.1'],
            timeoutMs: 300,
          },
        ),
      )
      const [r] = await s.send([push({ provider: 'fcm', token: 'tok-drip' })])
      expect(r).toMatchObject({
        ok: false,
        kind: 'retry',
        reason: expect.stringContaining('no complete answer'),
      })
    } finally {
      dripping.closeAllConnections()
      await new Promise((resolve) => dripping.close(resolve))
    }
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    const s = sender(4)
    await s.send([push({ provider: 'fcm', token: 'tok-warm' })])
    peer.inFlight.holdInWaves(4, 12)
    try {
      const results = await s.send(
        Array.from({ length: 12 }, (_, i) => push({ provider: 'fcm', token: `tok-c${i}` })),
      )
      expect(results.every((r) => r.ok)).toBe(true)
      expect(peer.inFlight.max).toBe(4)
    } finally {
      peer.inFlight.stopHolding()
    }
  })
})

describe('Web Push and UnifiedPush senders', () => {
  const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = pair.privateKey.export({ format: 'jwk' })
  const vapid: VapidCredentials = {
    subject: 'mailto:ops@example.com',
    publicKey: Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from(jwk.y!, 'base64url'),
    ]).toString('base64url'),
    privateKey: jwk.d!,
  }
  let receiver: WebPushReceiver
  const allowHosts = ['127.0.0.1']
  const webpush = (concurrency = 10, hosts: readonly string[] = allowHosts) =>
    track(createWebPushSender('webpush', vapid, { concurrency, allowHosts: hosts, now }))

  beforeAll(async () => {
    receiver = await startWebPushReceiver({ vapidPublicKey: vapid.publicKey })
  })
  afterAll(() => receiver.close())

  it('encrypts (aes128gcm) and signs (VAPID) the JSON payload', async () => {
    const sub = receiver.subscribe()
    const item = push(
      { provider: 'webpush', token: sub.endpoint, keys: sub.keys, appId: 'web' },
      {
        title: 'Hi',
        body: 'There',
        data: { url: '/orders/42' },
        image: 'https://cdn.example.com/i.png',
        badge: 1,
        collapseKey: 'promo-1',
        ttlSeconds: 60,
      },
    )
    const [result] = await webpush().send([item])
    expect(result).toMatchObject({ ok: true, providerId: expect.stringContaining('/message/') })
    const got = receiver.received.find((r) => r.subscription === sub.id)!
    expect(got.encrypted).toBe(true)
    expect(got.payload).toEqual({
      title: 'Hi',
      body: 'There',
      data: { url: '/orders/42' },
      image: 'https://cdn.example.com/i.png',
      badge: 1,
      tag: 'promo-1',
      messageId: item.messageId,
      deliveryId: item.deliveryId,
    })
    expect(got.headers).toMatchObject({
      ttl: '60',
      urgency: 'high',
      topic: 'promo-1',
      'content-encoding': 'aes128gcm',
    })
    expect(got.vapid?.claims).toMatchObject({ aud: receiver.origin, sub: 'mailto:ops@example.com' })
  })

  it('signs one VAPID JWT per push service and reuses it, until an hour before it expires', async () => {
    // The receiver checks exp against the real time (24 h at most): start from it, whatever earlier tests did.
    const start = clock
    clock = Date.now()
    const sender = webpush()
    const jwts = async () => {
      const subs = [receiver.subscribe(), receiver.subscribe()]
      const results = await sender.send(
        subs.map((sub) => push({ provider: 'webpush', token: sub.endpoint, keys: sub.keys }, { title: 'x' })),
      )
      expect(results.every((r) => r.ok)).toBe(true)
      return subs.map((sub) => receiver.received.find((r) => r.subscription === sub.id)!.vapid!.claims)
    }
    const [a, b] = await jwts()
    expect(b).toEqual(a)
    expect(a!.exp).toBeGreaterThan(Math.floor(clock / 1000) + 11 * 3600)
    expect(a!.exp).toBeLessThanOrEqual(Math.floor(clock / 1000) + 24 * 3600)
    clock += 11 * 3600_000 + 60_000
    try {
      const [c] = await jwts()
      expect(c!.exp).toBeGreaterThan(a!.exp as number)
    } finally {
      clock = start
    }
  })

  it('hashes a collapse key that is not a valid Topic, and sends normal priority as Urgency normal', async () => {
    const sub = receiver.subscribe()
    const key = 'a collapse key that is much longer than thirty-two characters'
    await webpush().send([
      push(
        { provider: 'webpush', token: sub.endpoint, keys: sub.keys },
        { collapseKey: key, priority: 'normal' },
      ),
    ])
    const got = receiver.received.find((r) => r.subscription === sub.id)!
    expect(got.headers.topic).toBe(webPushTopic(key))
    expect(got.headers.topic).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(got.headers.urgency).toBe('normal')
    expect(got.payload.tag).toBe(key)
  })

  it('maps 404/410 to invalid-token, 413 to failed, 429/5xx to retry', async () => {
    const subs = Array.from({ length: 5 }, () => receiver.subscribe())
    receiver.script(subs[0]!.id, { status: 404 })
    receiver.script(subs[1]!.id, { status: 410 })
    receiver.script(subs[2]!.id, { status: 413 })
    receiver.script(subs[3]!.id, { status: 429, retryAfter: '45' })
    receiver.script(subs[4]!.id, { status: 502 })
    const results = await webpush().send(
      subs.map((s) => push({ provider: 'webpush', token: s.endpoint, keys: s.keys })),
    )
    expect(results.map((r) => (r.ok ? 'ok' : r.kind))).toEqual([
      'invalid-token',
      'invalid-token',
      'failed',
      'retry',
      'retry',
    ])
    expect(results[3]).toMatchObject({ retryAfterMs: 45_000 })
    const missing = `${receiver.origin}/push/${crypto.randomUUID()}`
    const [r] = await webpush().send([push({ provider: 'webpush', token: missing, keys: subs[0]!.keys })])
    expect(r).toMatchObject({ ok: false, kind: 'invalid-token' })
  })

  it('refuses private endpoints unless allow-listed, and cloud metadata always', async () => {
    const sub = receiver.subscribe()
    const count = receiver.received.length
    const [refused] = await webpush(10, []).send([
      push({ provider: 'webpush', token: sub.endpoint, keys: sub.keys }),
    ])
    expect(refused).toMatchObject({
      ok: false,
      kind: 'failed',
      reason: expect.stringContaining('not a public address'),
    })
    for (const hosts of [[], ['127.0.0.1', '169.254.169.254']]) {
      const [metadata] = await webpush(10, hosts).send([
        push({ provider: 'webpush', token: 'http://169.254.169.254/latest/meta-data/', keys: sub.keys }),
      ])
      expect(metadata).toMatchObject({ ok: false, kind: 'failed' })
    }
    expect(receiver.received.length).toBe(count)
  })

  it('fails a Web Push device without keys', async () => {
    const [r] = await webpush().send([
      push({ provider: 'webpush', token: `${receiver.origin}/push/x`, keys: null }),
    ])
    expect(r).toMatchObject({ ok: false, kind: 'failed' })
  })

  it('sends UnifiedPush encrypted with keys (VAPID when configured) and as plain JSON without', async () => {
    const encrypted = receiver.subscribe()
    const plain = receiver.subscribe({ encrypted: false })
    const up = track(createWebPushSender('unifiedpush', vapid, { concurrency: 5, allowHosts, now }))
    const items = [
      push(
        {
          provider: 'unifiedpush',
          token: encrypted.endpoint,
          keys: encrypted.keys,
          appId: 'org.example.app',
        },
        { title: 'E' },
      ),
      push(
        { provider: 'unifiedpush', token: plain.endpoint, keys: null, appId: 'org.example.app' },
        { title: 'P', ttlSeconds: 30, priority: 'normal', collapseKey: 'k' },
      ),
    ]
    expect((await up.send(items)).every((r) => r.ok)).toBe(true)
    const e = receiver.received.find((r) => r.subscription === encrypted.id)!
    expect(e).toMatchObject({ encrypted: true, payload: { title: 'E', deliveryId: items[0]!.deliveryId } })
    expect(e.vapid).not.toBeNull()
    const p = receiver.received.find((r) => r.subscription === plain.id)!
    expect(p).toMatchObject({
      encrypted: false,
      payload: { title: 'P', tag: 'k', messageId: items[1]!.messageId },
    })
    expect(p.headers).toMatchObject({
      ttl: '30',
      urgency: 'normal',
      topic: 'k',
      'content-type': 'application/json',
    })

    // Without VAPID credentials an encrypted UnifiedPush endpoint still gets the encrypted payload.
    const open = await startWebPushReceiver({ requireVapid: false })
    try {
      const sub = open.subscribe()
      const bare = track(createWebPushSender('unifiedpush', undefined, { concurrency: 1, allowHosts, now }))
      expect(
        (
          await bare.send([
            push({ provider: 'unifiedpush', token: sub.endpoint, keys: sub.keys }, { body: 'B' }),
          ])
        )[0]?.ok,
      ).toBe(true)
      expect(open.received[0]).toMatchObject({ encrypted: true, vapid: null, payload: { body: 'B' } })
    } finally {
      await open.close()
    }
  })

  it('keeps at most 8 requests in flight to one endpoint host, whatever the sender’s concurrency', async () => {
    const subs = Array.from({ length: 12 }, () => receiver.subscribe())
    receiver.inFlight.holdInWaves(PER_HOST_CONCURRENCY, 12)
    try {
      const results = await webpush(100).send(
        subs.map((s) => push({ provider: 'webpush', token: s.endpoint, keys: s.keys })),
      )
      expect(results.every((r) => r.ok)).toBe(true)
      expect(receiver.inFlight.max).toBe(PER_HOST_CONCURRENCY)
    } finally {
      receiver.inFlight.stopHolding()
    }
  })

  it('gives the browsers’ push services the whole concurrency, and only them', () => {
    for (const host of [
      'fcm.googleapis.com',
      'updates.push.services.mozilla.com',
      'web.push.apple.com',
      'wns2-par02p.notify.windows.com',
    ])
      expect(PUSH_SERVICES.test(host), host).toBe(true)
    for (const host of [
      'fcm.googleapis.com.evil.example',
      'evilfcm.googleapis.com',
      'push.example.com',
      'notify.windows.com.example',
      '127.0.0.1',
    ])
      expect(PUSH_SERVICES.test(host), host).toBe(false)
  })

  it('names only the endpoint’s origin in a reason, never its path', async () => {
    const sub = receiver.subscribe()
    const secretPath = `/push/${crypto.randomUUID()}`
    for (const token of [
      `http://127.0.0.1:1${secretPath}`,
      `${receiver.origin.replace('127.0.0.1', '10.0.0.1')}${secretPath}`,
    ]) {
      const [r] = await webpush(1, ['127.0.0.1']).send([push({ provider: 'webpush', token, keys: sub.keys })])
      expect(r?.ok).toBe(false)
      if (!r?.ok) {
        expect(r?.reason).not.toContain(secretPath)
        expect(r?.reason).toContain(new URL(token).host)
      }
    }
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    const subs = Array.from({ length: 6 }, () => receiver.subscribe())
    receiver.inFlight.holdInWaves(2, 6)
    try {
      const results = await webpush(2).send(
        subs.map((s) => push({ provider: 'webpush', token: s.endpoint, keys: s.keys })),
      )
      expect(results.every((r) => r.ok)).toBe(true)
      expect(receiver.inFlight.max).toBe(2)
    } finally {
      receiver.inFlight.stopHolding()
    }
  })
})

describe('createSenders', () => {
  it('builds the configured providers once each, and UnifiedPush always', async () => {
    const senders = createSenders({ version: '1' }, { concurrency: 2, allowHosts: [] })
    expect(senders.get('apns')).toBeUndefined()
    expect(senders.get('fcm')).toBeUndefined()
    expect(senders.get('webpush')).toBeUndefined()
    const up = senders.get('unifiedpush')
    expect(up?.provider).toBe('unifiedpush')
    expect(senders.get('unifiedpush')).toBe(up)
    await senders.close()
  })
})
