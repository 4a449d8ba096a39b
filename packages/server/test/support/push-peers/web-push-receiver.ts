import crypto, { type KeyObject } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { InFlight } from './in-flight.ts'

/** A browser's (or a UnifiedPush distributor's) subscription held by the receiver. */
export interface TestSubscription {
  readonly id: string
  readonly endpoint: string
  /** Null for a UnifiedPush endpoint without encryption. */
  readonly keys: { readonly p256dh: string; readonly auth: string } | null
}

export interface WebPushReceived {
  readonly subscription: string
  /** The decrypted (or plain) JSON. */
  readonly payload: Record<string, unknown>
  readonly encrypted: boolean
  readonly headers: Readonly<Record<string, string>>
  /** The VAPID JWT claims and key when the request carried one. */
  readonly vapid: { readonly claims: Record<string, unknown>; readonly k: string } | null
}

export interface WebPushAnswer {
  readonly status: number
  readonly retryAfter?: string
}

export interface WebPushReceiver {
  /** http://127.0.0.1:<port> */
  readonly origin: string
  readonly received: WebPushReceived[]
  readonly refused: { subscription: string; status: number; why: string }[]
  readonly inFlight: InFlight
  /** A new subscription; `encrypted: false` makes a UnifiedPush endpoint without keys. */
  subscribe(o?: { encrypted?: boolean }): TestSubscription
  script(subscriptionId: string, ...answers: WebPushAnswer[]): void
  close(): Promise<void>
}

export interface WebPushReceiverOptions {
  /** The application server key (VAPID public key, base64url raw) subscriptions were made with; checked when set. */
  readonly vapidPublicKey?: string
  /** Refuse (401) encrypted pushes without a VAPID Authorization, like browsers' push services. Default true. */
  readonly requireVapid?: boolean
}

interface Held {
  readonly privateKey: KeyObject
  readonly publicRaw: Buffer
  readonly auth: Buffer
}

/**
 * A push service and its user agent in one: it verifies the VAPID JWT (RFC 8292) and decrypts aes128gcm bodies
 * (RFC 8291 over RFC 8188) with its own code on node:crypto, so a mistake in the sender's library would show.
 */
export async function startWebPushReceiver(o: WebPushReceiverOptions = {}): Promise<WebPushReceiver> {
  const subs = new Map<string, Held | null>()
  const scripts = new Map<string, WebPushAnswer[]>()
  const inFlight = new InFlight()
  let n = 0
  const receiver: WebPushReceiver = {
    origin: '',
    received: [],
    refused: [],
    inFlight,
    subscribe(so = {}) {
      const id = crypto.randomUUID()
      const endpoint = `${receiver.origin}/push/${id}`
      if (so.encrypted === false) {
        subs.set(id, null)
        return { id, endpoint, keys: null }
      }
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const publicRaw = rawPublic(publicKey)
      const auth = crypto.randomBytes(16)
      subs.set(id, { privateKey, publicRaw, auth })
      return {
        id,
        endpoint,
        keys: { p256dh: publicRaw.toString('base64url'), auth: auth.toString('base64url') },
      }
    },
    script(id, ...list) {
      scripts.set(id, [...(scripts.get(id) ?? []), ...list])
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      await inFlight.enter()
      res.on('finish', () => inFlight.leave())
      const id = /^\/push\/([0-9a-f-]+)$/.exec(req.url ?? '')?.[1] ?? ''
      const refuse = (status: number, why: string, extra: Record<string, string> = {}) => {
        receiver.refused.push({ subscription: id, status, why })
        res.writeHead(status, { 'content-type': 'text/plain', ...extra })
        res.end(why)
      }
      if (req.method !== 'POST') return refuse(405, 'POST only')
      const held = subs.get(id)
      if (held === undefined) return refuse(404, 'No such subscription')
      const scripted = scripts.get(id)?.shift()
      if (scripted)
        return refuse(
          scripted.status,
          'scripted',
          scripted.retryAfter ? { 'retry-after': scripted.retryAfter } : {},
        )
      if (!/^\d+$/.test(String(req.headers.ttl ?? ''))) return refuse(400, 'TTL header missing')
      const urgency = req.headers.urgency
      if (urgency !== undefined && !['very-low', 'low', 'normal', 'high'].includes(String(urgency)))
        return refuse(400, 'Bad Urgency')
      const topic = req.headers.topic
      if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(String(topic))) return refuse(400, 'Bad Topic')

      let vapid: WebPushReceived['vapid'] = null
      const authorization = String(req.headers.authorization ?? '')
      if (authorization) {
        try {
          vapid = await verifyVapid(authorization, receiver.origin, o.vapidPublicKey)
        } catch (err) {
          return refuse(403, `VAPID: ${(err as Error).message}`)
        }
      }
      const body = Buffer.concat(chunks)
      let plaintext: Buffer
      if (held) {
        if (!vapid && o.requireVapid !== false) return refuse(401, 'VAPID authorization required')
        if (req.headers['content-encoding'] !== 'aes128gcm') return refuse(415, 'aes128gcm only')
        try {
          plaintext = decryptAes128gcm(body, held)
        } catch (err) {
          return refuse(400, `Decryption failed: ${(err as Error).message}`)
        }
      } else {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
          return refuse(415, 'JSON only')
        plaintext = body
      }
      let payload: Record<string, unknown>
      try {
        payload = JSON.parse(plaintext.toString('utf8'))
      } catch {
        return refuse(400, 'Not JSON')
      }
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v)
      receiver.received.push({ subscription: id, payload, encrypted: held !== null, headers, vapid })
      n++
      res.writeHead(201, { location: `${receiver.origin}/message/${n}` })
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  ;(receiver as { origin: string }).origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return receiver
}

/** `vapid t=<jwt>, k=<key>` (RFC 8292 §3): ES256 signed by k, aud = the push service's origin, exp ≤ 24 h ahead. */
async function verifyVapid(
  header: string,
  audience: string,
  expectedKey: string | undefined,
): Promise<{ claims: Record<string, unknown>; k: string }> {
  const m = /^vapid\s+(.+)$/i.exec(header)
  if (!m) throw new Error('not a vapid scheme')
  const params = Object.fromEntries(
    m[1]!.split(',').map((p) => {
      const i = p.indexOf('=')
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()]
    }),
  )
  const t = params.t
  const k = params.k
  if (!t || !k) throw new Error('t and k are required')
  if (expectedKey && k !== expectedKey) throw new Error('k is not the subscription application server key')
  const raw = Buffer.from(k, 'base64url')
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('k is not an uncompressed P-256 point')
  const key = crypto.createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  })
  if (decodeProtectedHeader(t).alg !== 'ES256') throw new Error('alg must be ES256')
  const { payload } = await jwtVerify(t, key, { algorithms: ['ES256'], audience })
  if (typeof payload.exp !== 'number' || payload.exp > Date.now() / 1000 + 24 * 3600)
    throw new Error('exp over 24 h')
  if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub))
    throw new Error('sub must be mailto: or https:')
  return { claims: payload as Record<string, unknown>, k }
}

/**
 * RFC 8188 aes128gcm with the RFC 8291 key derivation: header salt(16) | rs(4) | idlen(1) | keyid (the sender's
 * ephemeral public key), then records of rs bytes, each AES-128-GCM with nonce = NONCE xor seq, ending in a
 * delimiter (2 for the last record, 1 otherwise) followed by zero padding.
 */
export function decryptAes128gcm(body: Buffer, ua: Held): Buffer {
  if (body.length < 21) throw new Error('too short')
  const salt = body.subarray(0, 16)
  const rs = body.readUInt32BE(16)
  const idlen = body[20]!
  const asPublic = body.subarray(21, 21 + idlen)
  if (idlen !== 65 || asPublic[0] !== 4) throw new Error('keyid is not a P-256 public key')
  const asKey = crypto.createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: asPublic.subarray(1, 33).toString('base64url'),
      y: asPublic.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  })
  const ecdhSecret = crypto.diffieHellman({ privateKey: ua.privateKey, publicKey: asKey })
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.publicRaw, asPublic])
  const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdhSecret, ua.auth, keyInfo, 32))
  const cek = Buffer.from(
    crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16),
  )
  const nonce = Buffer.from(
    crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12),
  )
  const records = body.subarray(21 + idlen)
  const out: Buffer[] = []
  for (let seq = 0, at = 0; at < records.length; seq++, at += rs) {
    const record = records.subarray(at, at + rs)
    const iv = Buffer.from(nonce)
    // seq stays below 2^32 here: only the low 32 bits of the 96-bit nonce change.
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ seq) >>> 0, 8)
    const decipher = crypto.createDecipheriv('aes-128-gcm', cek, iv)
    decipher.setAuthTag(record.subarray(record.length - 16))
    const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()])
    let end = plain.length - 1
    while (end >= 0 && plain[end] === 0) end--
    const last = at + rs >= records.length
    if (end < 0 || plain[end] !== (last ? 2 : 1)) throw new Error('bad padding delimiter')
    out.push(plain.subarray(0, end))
  }
  return Buffer.concat(out)
}

function rawPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' })
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])
}
