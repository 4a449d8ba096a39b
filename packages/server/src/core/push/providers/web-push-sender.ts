import crypto from 'node:crypto'
import net from 'node:net'
import webpush from 'web-push'
import { AppError } from '../../../errors/index.ts'
import { SsrfRefusedError, safeFetch } from '../../net/safe-fetch.ts'
import { createKeyedLimiter, createLimiter } from './limiter.ts'
import { parseRetryAfter } from './retry-after.ts'
import type { OutgoingPush, PushResult, PushSender, SenderOptions, VapidCredentials } from './types.ts'

export interface WebPushSenderOptions extends SenderOptions {
  /** Endpoint hosts allowed to resolve to private addresses (BASTIDE_PUSH_ALLOW_HOSTS); everything else must be public. */
  readonly allowHosts: readonly string[]
}

/** Requests in flight to one endpoint host: slow hosts wait their turn without taking the whole sender's slots. */
export const PER_HOST_CONCURRENCY = 8
/**
 * The browsers' push services (Chrome/Edge/Android: FCM, Firefox: Mozilla autopush, Safari: Apple, Windows: WNS),
 * where nearly every Web Push subscription points: they get the sender's whole concurrency, not one host's share.
 */
export const PUSH_SERVICES =
  /^(fcm\.googleapis\.com|updates\.push\.services\.mozilla\.com|web\.push\.apple\.com|[a-z0-9-]+\.notify\.windows\.com)(:443)?$/
/** Per request: a push service answers at once (it queues the message), so a slow endpoint is not waited for long. */
export const WEB_PUSH_TIMEOUT_MS = 10_000

/** RFC 8291 leaves 4096 - 86 (header) - 16 (tag) - 1 (delimiter) bytes of plaintext in one aes128gcm record. */
const MAX_PLAINTEXT = 3993
/** How long a VAPID JWT is valid for (RFC 8292: at most 24 h). */
const VAPID_LIFETIME_S = 12 * 3600

/**
 * Web Push (RFC 8030) and UnifiedPush. The endpoint is the device's token, a URL the device (its browser or
 * distributor) chose, so it is fetched through safeFetch: private addresses are refused unless allow-listed.
 * With subscription keys the JSON payload is encrypted (RFC 8291, aes128gcm) and signed with VAPID (RFC 8292) by
 * the web-push package; a UnifiedPush device without keys gets the JSON in clear.
 */
export function createWebPushSender(
  provider: 'webpush' | 'unifiedpush',
  vapid: VapidCredentials | undefined,
  o: WebPushSenderOptions,
): PushSender {
  const now = o.now ?? Date.now
  const timeoutMs = o.timeoutMs ?? WEB_PUSH_TIMEOUT_MS
  const limiter = createLimiter(o.concurrency)
  const perHost = createKeyedLimiter((host) =>
    PUSH_SERVICES.test(host) ? o.concurrency : PER_HOST_CONCURRENCY,
  )
  /**
   * The VAPID header per push service (its origin is the JWT's audience), signed once and reused until an hour
   * before it expires: signing per request cost ~0.9 ms of a delivery's ~3 ms. RFC 8292 allows 24 h at most.
   */
  const vapidHeaders = new Map<string, { readonly value: string; readonly until: number }>()
  const vapidAuthorization = (endpoint: string): string | undefined => {
    if (!vapid) return undefined
    const audience = new URL(endpoint).origin
    const cached = vapidHeaders.get(audience)
    const t = now()
    if (cached && cached.until > t) return cached.value
    const expires = Math.floor(t / 1000) + VAPID_LIFETIME_S
    const value = webpush.getVapidHeaders(
      audience,
      vapid.subject,
      vapid.publicKey,
      vapid.privateKey,
      'aes128gcm',
      expires,
    ).Authorization
    if (vapidHeaders.size >= 1000) vapidHeaders.clear()
    vapidHeaders.set(audience, { value, until: (expires - 3600) * 1000 })
    return value
  }

  /** Reasons are readable by push keys: they name the endpoint's origin, never its path (the subscription's secret). */
  const attempt = async (item: OutgoingPush): Promise<PushResult> => {
    const r = await attemptRaw(item)
    if (r.ok) return r
    const origin = originOf(item.device.token)
    const endpoint = item.device.token
    return endpoint && r.reason.includes(endpoint)
      ? { ...r, reason: r.reason.split(endpoint).join(origin) }
      : r
  }

  const attemptRaw = async (item: OutgoingPush): Promise<PushResult> => {
    const endpoint = item.device.token
    const refused = refusedAlways(endpoint)
    if (refused) return { ok: false, kind: 'failed', reason: refused }
    const payload = JSON.stringify(webPushPayload(item))
    const urgency = item.priority === 'high' ? 'high' : 'normal'
    const topic = item.collapseKey ? webPushTopic(item.collapseKey) : undefined
    let headers: Record<string, string>
    let body: Uint8Array | null
    if (item.device.keys) {
      if (Buffer.byteLength(payload) > MAX_PLAINTEXT)
        return { ok: false, kind: 'failed', reason: `The payload is over ${MAX_PLAINTEXT} bytes` }
      if (provider === 'webpush' && !vapid)
        return { ok: false, kind: 'failed', reason: 'Web Push credentials are not configured' }
      try {
        const details = webpush.generateRequestDetails(
          { endpoint, keys: { p256dh: item.device.keys.p256dh, auth: item.device.keys.auth } },
          payload,
          {
            TTL: item.ttlSeconds,
            urgency,
            contentEncoding: 'aes128gcm',
            ...(topic ? { topic } : {}),
          },
        )
        headers = Object.fromEntries(Object.entries(details.headers).map(([k, v]) => [k, String(v)]))
        const authorization = vapidAuthorization(endpoint)
        if (authorization) headers.Authorization = authorization
        body = details.body
      } catch (err) {
        // Unusable subscription keys (or endpoint): no later attempt can do better.
        return { ok: false, kind: 'failed', reason: `Web Push encryption failed: ${(err as Error).message}` }
      }
    } else if (provider === 'unifiedpush') {
      headers = { 'content-type': 'application/json', ttl: String(item.ttlSeconds), urgency }
      if (topic) headers.topic = topic
      body = Buffer.from(payload)
    } else return { ok: false, kind: 'failed', reason: 'The Web Push subscription has no keys' }

    let res: Response
    try {
      res = await safeFetch(
        endpoint,
        { method: 'POST', headers, body },
        { allowHosts: o.allowHosts, timeoutMs, maxResponseBytes: 65_536, maxRedirects: 0 },
      )
    } catch (err) {
      if (err instanceof SsrfRefusedError) return { ok: false, kind: 'failed', reason: err.message }
      // safeFetch says BAD_REQUEST for an unparsable URL, a redirect (push services answer, never redirect) and network
      // failures: only the last may go better later.
      if (err instanceof AppError && /^Not a URL/.test(err.message))
        return { ok: false, kind: 'failed', reason: 'The endpoint is not a URL' }
      if (err instanceof AppError && /^(URLs with credentials|Too many redirects)/.test(err.message))
        return { ok: false, kind: 'failed', reason: err.message }
      return { ok: false, kind: 'retry', reason: `Web Push request failed: ${(err as Error).message}` }
    }
    const text = await res.text().catch(() => '')
    const reason = `${res.status} ${text.slice(0, 200)}`.trim()
    if (res.status === 200 || res.status === 201 || res.status === 202) {
      const location = res.headers.get('location')
      return location ? { ok: true, providerId: location } : { ok: true }
    }
    if (res.status === 404 || res.status === 410) return { ok: false, kind: 'invalid-token', reason }
    if (res.status === 429 || res.status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now())
      return { ok: false, kind: 'retry', reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }
    }
    return { ok: false, kind: 'failed', reason }
  }

  return {
    provider,
    // The host's turn first, then a sender-wide slot: items waiting on a slow host hold no sender-wide slot.
    send: (items) =>
      Promise.all(
        items.map((item) => perHost.run(hostKey(item.device.token), () => limiter.run(() => attempt(item)))),
      ),
    async close() {},
  }
}

/** What the service worker (or the UnifiedPush app) receives, as JSON. */
export function webPushPayload(item: OutgoingPush): Record<string, unknown> {
  return {
    title: item.title,
    body: item.body,
    data: item.data,
    image: item.image,
    badge: item.badge,
    tag: item.collapseKey,
    messageId: item.messageId,
    deliveryId: item.deliveryId,
  }
}

/** RFC 8030 Topic: at most 32 base64url characters; a longer or other key is replaced by its (stable) hash. */
export function webPushTopic(collapseKey: string): string {
  if (/^[A-Za-z0-9_-]{1,32}$/.test(collapseKey)) return collapseKey
  return crypto.createHash('sha256').update(collapseKey).digest('base64url').slice(0, 32)
}

/**
 * Cloud metadata addresses are refused even when BASTIDE_PUSH_ALLOW_HOSTS lists them: an allow-list entry is for
 * a push service on a private network, never for those (safeFetch refuses them otherwise anyway).
 */
function refusedAlways(endpoint: string): string | undefined {
  let host: string
  try {
    host = new URL(endpoint).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  } catch {
    return 'The endpoint is not a URL'
  }
  const metadata =
    (net.isIPv4(host) && host.startsWith('169.254.')) ||
    /^(::ffff:)?169\.254\./.test(host) ||
    host === 'fd00:ec2::254' ||
    host === 'metadata.google.internal'
  return metadata ? `Refused to send to ${host}: a link-local (cloud metadata) address` : undefined
}

/** scheme://host:port of an endpoint (what a delivery's reason may show of it). */
function originOf(endpoint: string): string {
  try {
    const u = new URL(endpoint)
    return `${u.protocol}//${u.host}`
  } catch {
    return 'the endpoint'
  }
}

/** The per-host concurrency key: the endpoint's host name (its port aside: one push service, one queue). */
function hostKey(endpoint: string): string {
  try {
    return new URL(endpoint).hostname.toLowerCase()
  } catch {
    return ''
  }
}
