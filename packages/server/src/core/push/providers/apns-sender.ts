import crypto, { type KeyObject } from 'node:crypto'
import { Http2Client } from './http2-client.ts'
import { signJwt } from './jwt.ts'
import { createLimiter } from './limiter.ts'
import { parseRetryAfter } from './retry-after.ts'
import type { ApnsCredentials, OutgoingPush, PushResult, PushSender, SenderOptions } from './types.ts'

export const APNS_PRODUCTION_ORIGIN = 'https://api.push.apple.com'
export const APNS_SANDBOX_ORIGIN = 'https://api.sandbox.push.apple.com'

/** APNs refuses a provider token older than an hour, and one refreshed more than every 20 minutes. */
const TOKEN_LIFETIME_MS = 50 * 60_000

export interface ApnsSenderOptions extends SenderOptions {
  /** Overrides both gateways (production and sandbox): tests, proxies. */
  readonly origin?: string
}

/**
 * Sends through APNs' HTTP/2 provider API with token-based authentication (a .p8 key): one ES256 JWT
 * `{alg, kid}.{iss: teamId, iat}` shared by every request, renewed after 50 minutes, or at once when APNs calls it
 * expired or invalid (then the item is tried once more). Each device goes to the gateway of its environment.
 */
export function createApnsSender(c: ApnsCredentials, o: ApnsSenderOptions): PushSender {
  const now = o.now ?? Date.now
  const timeoutMs = o.timeoutMs ?? 15_000
  const key: KeyObject = crypto.createPrivateKey(c.privateKey)
  const limiter = createLimiter(o.concurrency)
  const clients = new Map<string, Http2Client>()
  let token: { jwt: string; issuedAt: number } | undefined

  const currentToken = (): string => {
    const t = now()
    if (!token || t - token.issuedAt >= TOKEN_LIFETIME_MS) {
      const iat = Math.floor(t / 1000)
      token = { jwt: signJwt('ES256', { kid: c.keyId }, { iss: c.teamId, iat }, key), issuedAt: t }
    }
    return token.jwt
  }
  /** Drops the token APNs refused, unless a concurrent request already replaced it (one renewal per refusal wave). */
  const invalidate = (jwt: string) => {
    if (token?.jwt === jwt) token = undefined
  }

  const clientFor = (item: OutgoingPush): Http2Client => {
    const origin =
      o.origin ?? (item.device.environment === 'sandbox' ? APNS_SANDBOX_ORIGIN : APNS_PRODUCTION_ORIGIN)
    let client = clients.get(origin)
    if (!client) {
      client = new Http2Client(origin, { ca: o.ca, timeoutMs })
      clients.set(origin, client)
    }
    return client
  }

  const attempt = async (item: OutgoingPush, renewed: boolean): Promise<PushResult> => {
    const jwt = currentToken()
    let res: Awaited<ReturnType<Http2Client['request']>>
    try {
      res = await clientFor(item).request(
        { ...apnsHeaders(item, c.bundleId, now()), authorization: `bearer ${jwt}` },
        JSON.stringify(apnsPayload(item)),
      )
    } catch (err) {
      return { ok: false, kind: 'retry', reason: `APNs request failed: ${(err as Error).message}` }
    }
    if (res.status === 200) {
      const id = res.headers['apns-id']
      return { ok: true, providerId: typeof id === 'string' ? id : item.deliveryId }
    }
    const reason = readReason(res.body)
    if (res.status === 403 && (reason === 'ExpiredProviderToken' || reason === 'InvalidProviderToken')) {
      invalidate(jwt)
      if (!renewed) return attempt(item, true)
      return { ok: false, kind: 'failed', reason: `403 ${reason}` }
    }
    if (res.status === 410) return { ok: false, kind: 'invalid-token', reason: reason || 'Unregistered' }
    if (res.status === 400 && (reason === 'BadDeviceToken' || reason === 'DeviceTokenNotForTopic'))
      return { ok: false, kind: 'invalid-token', reason }
    if (res.status === 429 || res.status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now())
      return {
        ok: false,
        kind: 'retry',
        reason: `${res.status} ${reason}`.trim(),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      }
    }
    return { ok: false, kind: 'failed', reason: `${res.status} ${reason}`.trim() }
  }

  return {
    provider: 'apns',
    send: (items) => Promise.all(items.map((item) => limiter.run(() => attempt(item, false)))),
    async close() {
      await Promise.all([...clients.values()].map((client) => client.close()))
      clients.clear()
    },
  }
}

/** The request headers but authorization. */
export function apnsHeaders(item: OutgoingPush, bundleId: string, now: number): Record<string, string> {
  const headers: Record<string, string> = {
    ':method': 'POST',
    ':path': `/3/device/${encodeURIComponent(item.device.token)}`,
    'content-type': 'application/json',
    // Each device's appId is its bundle id; the configured one covers devices registered without it.
    'apns-topic': item.device.appId && item.device.appId !== 'web' ? item.device.appId : bundleId,
    'apns-push-type': item.silent ? 'background' : 'alert',
    // Background pushes must be priority 5 (APNs refuses 10 for them).
    'apns-priority': item.silent || item.priority === 'normal' ? '5' : '10',
    // 0 = deliver now or never; otherwise an absolute UNIX time.
    'apns-expiration': item.ttlSeconds > 0 ? String(Math.floor(now / 1000) + item.ttlSeconds) : '0',
    'apns-id': item.deliveryId,
  }
  if (item.collapseKey) headers['apns-collapse-id'] = fitBytes(item.collapseKey, 64)
  return headers
}

/** The JSON body: `{aps: {...}, ...data}` (an `aps` key in data cannot replace the real one). */
export function apnsPayload(item: OutgoingPush): Record<string, unknown> {
  const aps: Record<string, unknown> = {}
  if (!item.silent) {
    const alert: Record<string, string> = {}
    if (item.title !== undefined) alert.title = item.title
    if (item.subtitle !== undefined) alert.subtitle = item.subtitle
    if (item.body !== undefined) alert.body = item.body
    if (Object.keys(alert).length > 0) aps.alert = alert
    if (item.sound !== undefined) aps.sound = item.sound
    if (item.category !== undefined) aps.category = item.category
    if (item.threadId !== undefined) aps['thread-id'] = item.threadId
    // A notification service extension downloads the image; it only runs with mutable-content.
    if (item.image !== undefined) aps['mutable-content'] = 1
  } else aps['content-available'] = 1
  if (item.badge !== undefined) aps.badge = item.badge
  const { aps: _ignored, ...data } = item.data ?? {}
  const payload: Record<string, unknown> = { ...data, aps }
  if (item.image !== undefined && payload.image === undefined) payload.image = item.image
  return payload
}

/** APNs caps apns-collapse-id at 64 bytes: a longer key is replaced by its hash (stable, so collapsing still works). */
function fitBytes(value: string, max: number): string {
  if (Buffer.byteLength(value) <= max) return value
  return crypto.createHash('sha256').update(value).digest('base64url')
}

function readReason(body: string): string {
  try {
    const reason = (JSON.parse(body) as { reason?: unknown }).reason
    return typeof reason === 'string' ? reason : ''
  } catch {
    return ''
  }
}
