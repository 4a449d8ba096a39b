import crypto, { type KeyObject } from 'node:crypto'
import dns from 'node:dns/promises'
import https from 'node:https'
import net, { type LookupFunction } from 'node:net'
import tls from 'node:tls'
import { isPublicAddress } from '../../net/ip-address.ts'
import { Http2Client } from './http2-client.ts'
import { signJwt } from './jwt.ts'
import { createLimiter } from './limiter.ts'
import { parseRetryAfter } from './retry-after.ts'
import type { FcmServiceAccount, OutgoingPush, PushResult, PushSender, SenderOptions } from './types.ts'

export const FCM_ORIGIN = 'https://fcm.googleapis.com'
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging'
/** A cached access token is dropped this long before Google says it expires. */
const EXPIRY_MARGIN_MS = 5 * 60_000

export interface FcmSenderOptions extends SenderOptions {
  /** Default https://fcm.googleapis.com. */
  readonly origin?: string
  /**
   * Hosts the service account's token_uri may name although they resolve to private, loopback or link-local
   * addresses (BASTIDE_PUSH_ALLOW_HOSTS: a token endpoint on a private network, tests). Default none.
   */
  readonly allowHosts?: readonly string[]
}

/** The token exchange failed: `retry` for 5xx and network errors, `failed` for a refusal (bad key, revoked account). */
class TokenError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

/**
 * Sends through FCM HTTP v1 over HTTP/2. The bearer is an OAuth2 access token obtained with the service account's
 * RS256 JWT-bearer assertion (RFC 7523) at its token_uri, shared by every request until 5 minutes before it expires;
 * concurrent sends wait for one exchange. A 401 renews it once and tries the item again.
 */
export function createFcmSender(c: FcmServiceAccount, o: FcmSenderOptions): PushSender {
  const now = o.now ?? Date.now
  const timeoutMs = o.timeoutMs ?? 15_000
  const key: KeyObject = crypto.createPrivateKey(c.private_key)
  const limiter = createLimiter(o.concurrency)
  const client = new Http2Client(o.origin ?? FCM_ORIGIN, { ca: o.ca, timeoutMs })
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 4,
    ...(o.ca ? { ca: [...tls.rootCertificates, o.ca] } : {}),
  })
  const path = `/v1/projects/${encodeURIComponent(c.project_id)}/messages:send`
  const allowHosts = new Set((o.allowHosts ?? []).map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1')))
  let cached: { token: string; expiresAt: number } | undefined
  let inflight: Promise<string> | undefined

  const accessToken = (): Promise<string> => {
    if (cached && now() < cached.expiresAt - EXPIRY_MARGIN_MS) return Promise.resolve(cached.token)
    inflight ??= exchange().finally(() => {
      inflight = undefined
    })
    return inflight
  }
  const invalidate = (token: string) => {
    if (cached?.token === token) cached = undefined
  }

  const exchange = async (): Promise<string> => {
    const iat = Math.floor(now() / 1000)
    const assertion = signJwt(
      'RS256',
      { typ: 'JWT' },
      { iss: c.client_email, scope: SCOPE, aud: c.token_uri, iat, exp: iat + 3600 },
      key,
    )
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion })
    let res: { status: number; body: string; retryAfter?: string }
    try {
      res = await postForm(c.token_uri, form.toString(), agent, timeoutMs, allowHosts)
    } catch (err) {
      // A refused destination stays refused: no retry.
      throw new TokenError(
        `FCM token exchange failed: ${(err as Error).message}`,
        !(err instanceof RefusedError),
      )
    }
    let json: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } =
      {}
    try {
      json = JSON.parse(res.body)
    } catch {}
    if (res.status !== 200 || typeof json.access_token !== 'string') {
      const detail = [json.error, json.error_description].filter((x) => typeof x === 'string').join(': ')
      const retry = res.status === 429 || res.status >= 500 || res.status === 200
      throw new TokenError(
        `FCM token exchange failed: ${res.status} ${detail}`.trim(),
        retry,
        parseRetryAfter(res.retryAfter, now()),
      )
    }
    const expiresIn = typeof json.expires_in === 'number' ? json.expires_in : 3600
    cached = { token: json.access_token, expiresAt: now() + expiresIn * 1000 }
    return json.access_token
  }

  const attempt = async (item: OutgoingPush, renewed: boolean): Promise<PushResult> => {
    let bearer: string
    try {
      bearer = await accessToken()
    } catch (err) {
      if (err instanceof TokenError)
        return err.retry
          ? {
              ok: false,
              kind: 'retry',
              reason: err.message,
              ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
            }
          : { ok: false, kind: 'failed', reason: err.message }
      throw err
    }
    let res: Awaited<ReturnType<Http2Client['request']>>
    try {
      res = await client.request(
        {
          ':method': 'POST',
          ':path': path,
          authorization: `Bearer ${bearer}`,
          'content-type': 'application/json; charset=utf-8',
        },
        JSON.stringify({ message: fcmMessage(item, now()) }),
      )
    } catch (err) {
      return { ok: false, kind: 'retry', reason: `FCM request failed: ${(err as Error).message}` }
    }
    if (res.status === 200) {
      let name: unknown
      try {
        name = (JSON.parse(res.body) as { name?: unknown }).name
      } catch {}
      return typeof name === 'string' ? { ok: true, providerId: name } : { ok: true }
    }
    const error = readError(res.body)
    const reason =
      `${res.status} ${error.errorCode ?? error.status ?? ''}${error.message ? `: ${error.message}` : ''}`.trim()
    if (res.status === 401) {
      invalidate(bearer)
      if (!renewed) return attempt(item, true)
      return { ok: false, kind: 'failed', reason }
    }
    if (res.status === 404 || error.errorCode === 'UNREGISTERED')
      return { ok: false, kind: 'invalid-token', reason: 'UNREGISTERED' }
    if (res.status === 400 && error.status === 'INVALID_ARGUMENT' && error.aboutToken)
      return { ok: false, kind: 'invalid-token', reason }
    if (res.status === 429 || res.status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now())
      return { ok: false, kind: 'retry', reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }
    }
    return { ok: false, kind: 'failed', reason }
  }

  return {
    provider: 'fcm',
    send: (items) => Promise.all(items.map((item) => limiter.run(() => attempt(item, false)))),
    async close() {
      await client.close()
      agent.destroy()
    },
  }
}

/** The v1 `message` object for one device. Data values are strings (FCM refuses others). */
export function fcmMessage(item: OutgoingPush, now: number): Record<string, unknown> {
  const message: Record<string, unknown> = { token: item.device.token }
  if (!item.silent) {
    const notification: Record<string, string> = {}
    if (item.title !== undefined) notification.title = item.title
    if (item.body !== undefined) notification.body = item.body
    if (item.image !== undefined) notification.image = item.image
    if (Object.keys(notification).length > 0) message.notification = notification
  }
  if (item.data && Object.keys(item.data).length > 0)
    message.data = Object.fromEntries(Object.entries(item.data).map(([k, v]) => [k, String(v)]))

  const android: Record<string, unknown> = {
    priority: item.priority === 'high' && !item.silent ? 'HIGH' : 'NORMAL',
    ttl: `${item.ttlSeconds}s`,
  }
  if (item.collapseKey) android.collapse_key = item.collapseKey
  if (!item.silent) {
    const n: Record<string, unknown> = {}
    if (item.sound !== undefined) n.sound = item.sound
    // A later notification with the same tag replaces this one in the drawer.
    const tag = item.collapseKey ?? item.threadId
    if (tag !== undefined) n.tag = tag
    if (item.category !== undefined) n.click_action = item.category
    if (item.badge !== undefined) n.notification_count = item.badge
    if (Object.keys(n).length > 0) android.notification = n
  }
  message.android = android

  const aps: Record<string, unknown> = {}
  if (item.silent) aps['content-available'] = 1
  else {
    if (item.subtitle !== undefined) aps.alert = { subtitle: item.subtitle }
    if (item.sound !== undefined) aps.sound = item.sound
    if (item.category !== undefined) aps.category = item.category
    if (item.threadId !== undefined) aps['thread-id'] = item.threadId
    if (item.image !== undefined) aps['mutable-content'] = 1
  }
  if (item.badge !== undefined) aps.badge = item.badge
  const headers: Record<string, string> = {
    'apns-priority': item.silent || item.priority === 'normal' ? '5' : '10',
    'apns-push-type': item.silent ? 'background' : 'alert',
    'apns-expiration': item.ttlSeconds > 0 ? String(Math.floor(now / 1000) + item.ttlSeconds) : '0',
  }
  if (item.collapseKey) headers['apns-collapse-id'] = item.collapseKey.slice(0, 64)
  message.apns = { headers, payload: { aps } }
  return message
}

interface FcmError {
  status?: string
  message?: string
  errorCode?: string
  /** INVALID_ARGUMENT about the registration token (not the payload). */
  aboutToken: boolean
}

function readError(body: string): FcmError {
  let e: {
    status?: unknown
    message?: unknown
    details?: { errorCode?: unknown; fieldViolations?: { field?: unknown }[] }[]
  } = {}
  try {
    e = (JSON.parse(body) as { error?: typeof e }).error ?? {}
  } catch {}
  const details = Array.isArray(e.details) ? e.details : []
  const errorCode = details.map((d) => d.errorCode).find((x): x is string => typeof x === 'string')
  const message = typeof e.message === 'string' ? e.message : undefined
  const fields = details.flatMap((d) => (Array.isArray(d.fieldViolations) ? d.fieldViolations : []))
  const aboutToken =
    fields.some((f) => f.field === 'message.token') ||
    /registration token|message\.token/i.test(message ?? '')
  return {
    ...(typeof e.status === 'string' ? { status: e.status } : {}),
    ...(message !== undefined ? { message } : {}),
    ...(errorCode !== undefined ? { errorCode } : {}),
    aboutToken,
  }
}

/** The token endpoint may not be called: not https, or a non-public address of a host not allow-listed. */
class RefusedError extends Error {}

/** The address to connect to for `u`: every address of the host public, unless the host is allow-listed. */
async function checkedAddress(
  u: URL,
  allowHosts: ReadonlySet<string>,
): Promise<{ address: string; family: 4 | 6 }> {
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  const literal = net.isIP(host)
  const addresses =
    literal !== 0
      ? [{ address: host, family: literal }]
      : await dns.lookup(host, { all: true, verbatim: true })
  if (addresses.length === 0) throw new Error(`${host} does not resolve`)
  if (!allowHosts.has(host)) {
    const refused = addresses.find((a) => !isPublicAddress(a.address))
    if (refused)
      throw new RefusedError(
        `refused to call ${u.origin}: it resolves to ${refused.address}, which is not a public address (BASTIDE_PUSH_ALLOW_HOSTS)`,
      )
  }
  const first = addresses[0]!
  return { address: first.address, family: first.family === 6 ? 6 : 4 }
}

/**
 * POSTs the assertion to the token endpoint: https only, to the address checked here (pinned: no second lookup,
 * so no DNS rebinding), and the whole exchange within `timeoutMs` (the socket timeout alone is an idle timeout,
 * which an endpoint dripping its answer never triggers).
 */
async function postForm(
  url: string,
  body: string,
  agent: https.Agent,
  timeoutMs: number,
  allowHosts: ReadonlySet<string>,
): Promise<{ status: number; body: string; retryAfter?: string }> {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new RefusedError('the token_uri is not a URL')
  }
  if (u.protocol !== 'https:') throw new RefusedError('the token_uri must be an https URL')
  const pinned = await checkedAddress(u, allowHosts)
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as any)(null, [pinned])
    else cb(null, pinned.address, pinned.family)
  }
  return new Promise((resolve, reject) => {
    const req = https.request(
      u,
      {
        method: 'POST',
        agent,
        lookup,
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(Buffer.byteLength(body)),
          accept: 'application/json',
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > 65_536) res.destroy(new Error('the token endpoint answered more than 64 KiB'))
          else chunks.push(c)
        })
        res.on('end', () => {
          clearTimeout(deadline)
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(typeof res.headers['retry-after'] === 'string'
              ? { retryAfter: res.headers['retry-after'] }
              : {}),
          })
        })
        res.on('error', (err) => {
          clearTimeout(deadline)
          reject(err)
        })
      },
    )
    const deadline = setTimeout(() => {
      const err = new Error(`no complete answer within ${timeoutMs} ms`)
      reject(err)
      req.destroy(err)
    }, timeoutMs)
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (err) => {
      clearTimeout(deadline)
      reject(err)
    })
    req.end(body)
  })
}
