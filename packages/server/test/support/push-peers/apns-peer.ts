import type { KeyObject } from 'node:crypto'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { InFlight, peerTls } from './in-flight.ts'

/** A scripted answer for a device token, used once (in order) before the default 200. */
export interface ApnsAnswer {
  readonly status: number
  readonly reason?: string
  readonly retryAfter?: string
}

export interface ApnsReceived {
  readonly token: string
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Record<string, unknown>
  readonly jwt: string
}

export interface ApnsPeer {
  readonly origin: string
  /** The PEM to pass as the sender's `ca`. */
  readonly ca: string
  /** Notifications answered 200. */
  readonly accepted: ApnsReceived[]
  /** Every request's [status, reason]. */
  readonly answers: { token: string; status: number; reason?: string }[]
  /** Distinct provider tokens (JWTs) seen. */
  readonly jwts: Set<string>
  readonly inFlight: InFlight
  script(token: string, ...answers: ApnsAnswer[]): void
  /** Sends GOAWAY on every open connection and closes them (as APNs does on maintenance). */
  goaway(): void
  close(): Promise<void>
}

export interface ApnsPeerOptions {
  /** The public key of the .p8 the sender signs with. */
  readonly publicKey: KeyObject
  readonly keyId: string
  readonly teamId: string
  /** Topics (bundle ids) the tokens belong to; another apns-topic answers 400 DeviceTokenNotForTopic. */
  readonly topics: readonly string[]
  /** The peer's clock for the token age (APNs refuses a JWT issued more than an hour ago). */
  readonly now?: () => number
}

/** An APNs provider API (HTTP/2 over TLS) on 127.0.0.1 checking what Apple checks, per its documentation. */
export async function startApnsPeer(o: ApnsPeerOptions): Promise<ApnsPeer> {
  const tls = await peerTls()
  const now = o.now ?? Date.now
  const scripts = new Map<string, ApnsAnswer[]>()
  const accepted: ApnsReceived[] = []
  const answers: ApnsPeer['answers'] = []
  const jwts = new Set<string>()
  const inFlight = new InFlight()
  const server = http2.createSecureServer({ cert: tls.cert, key: tls.key })
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => {
    sessions.add(s)
    s.on('close', () => sessions.delete(s))
  })

  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', async () => {
      await inFlight.enter()
      const token = /^\/3\/device\/([^/?]*)$/.exec(String(headers[':path']))?.[1] ?? ''
      const reply = (status: number, reason?: string, extra: Record<string, string> = {}) => {
        answers.push({ token, status, ...(reason ? { reason } : {}) })
        inFlight.leave()
        if (stream.destroyed) return
        stream.respond({
          ':status': status,
          'apns-id': String(headers['apns-id'] ?? ''),
          ...(reason ? { 'content-type': 'application/json' } : {}),
          ...extra,
        })
        stream.end(reason ? JSON.stringify({ reason }) : undefined)
      }
      const check = await verify(headers, Buffer.concat(chunks).toString('utf8'), token)
      if ('status' in check) return reply(check.status, check.reason)
      const scripted = scripts.get(token)?.shift()
      if (scripted)
        return reply(
          scripted.status,
          scripted.reason,
          scripted.retryAfter ? { 'retry-after': scripted.retryAfter } : {},
        )
      accepted.push(check)
      reply(200)
    })
  })

  const verify = async (
    h: http2.IncomingHttpHeaders,
    body: string,
    token: string,
  ): Promise<ApnsReceived | { status: number; reason: string }> => {
    if (h[':method'] !== 'POST') return { status: 405, reason: 'MethodNotAllowed' }
    if (!/^\/3\/device\//.test(String(h[':path']))) return { status: 404, reason: 'BadPath' }
    const auth = /^bearer (.+)$/.exec(String(h.authorization ?? ''))?.[1]
    if (!auth) return { status: 403, reason: 'MissingProviderToken' }
    try {
      const header = decodeProtectedHeader(auth)
      if (header.alg !== 'ES256' || header.kid !== o.keyId)
        return { status: 403, reason: 'InvalidProviderToken' }
      const { payload } = await jwtVerify(auth, o.publicKey, {
        algorithms: ['ES256'],
        issuer: o.teamId,
        currentDate: new Date(now()),
        maxTokenAge: 3600,
      })
      if (typeof payload.iat !== 'number') return { status: 403, reason: 'InvalidProviderToken' }
    } catch (err) {
      const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED'
      return { status: 403, reason: expired ? 'ExpiredProviderToken' : 'InvalidProviderToken' }
    }
    jwts.add(auth)
    if (!/^[0-9a-f]{64}$/.test(token)) return { status: 400, reason: 'BadDeviceToken' }
    const topic = String(h['apns-topic'] ?? '')
    if (!topic) return { status: 400, reason: 'MissingTopic' }
    if (!o.topics.includes(topic)) return { status: 400, reason: 'DeviceTokenNotForTopic' }
    const pushType = String(h['apns-push-type'] ?? '')
    if (pushType !== 'alert' && pushType !== 'background') return { status: 400, reason: 'InvalidPushType' }
    const priority = String(h['apns-priority'] ?? '10')
    if (!['5', '10'].includes(priority) || (pushType === 'background' && priority !== '5'))
      return { status: 400, reason: 'BadPriority' }
    if (h['apns-expiration'] !== undefined && !/^\d+$/.test(String(h['apns-expiration'])))
      return { status: 400, reason: 'BadExpirationDate' }
    if (
      h['apns-id'] !== undefined &&
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(String(h['apns-id']))
    )
      return { status: 400, reason: 'BadMessageId' }
    if (h['apns-collapse-id'] !== undefined && Buffer.byteLength(String(h['apns-collapse-id'])) > 64)
      return { status: 400, reason: 'BadCollapseId' }
    if (Buffer.byteLength(body) > 4096) return { status: 413, reason: 'PayloadTooLarge' }
    let payload: Record<string, unknown>
    try {
      payload = JSON.parse(body)
    } catch {
      return { status: 400, reason: 'PayloadEmpty' }
    }
    const aps = payload.aps as Record<string, unknown> | undefined
    if (!aps || typeof aps !== 'object') return { status: 400, reason: 'PayloadEmpty' }
    if (pushType === 'background' && (aps['content-available'] !== 1 || 'alert' in aps))
      return { status: 400, reason: 'BadPayload' }
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && v !== undefined) headers[k] = String(v)
    return { token, headers, payload, jwt: auth }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    origin: `https://127.0.0.1:${port}`,
    ca: tls.cert,
    accepted,
    answers,
    jwts,
    inFlight,
    script(token, ...list) {
      scripts.set(token, [...(scripts.get(token) ?? []), ...list])
    },
    goaway() {
      for (const s of sessions) s.close()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy()
        server.close(() => resolve())
      }),
  }
}
