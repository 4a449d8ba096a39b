import type { KeyObject } from 'node:crypto'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { jwtVerify } from 'jose'
import { InFlight, peerTls } from './in-flight.ts'

/** A scripted answer for a registration token, used once (in order) before the default 200. */
export type FcmAnswer = {
  readonly status: number
  readonly errorCode?: string
  readonly message?: string
  readonly retryAfter?: string
}

export interface FcmPeer {
  readonly origin: string
  readonly ca: string
  /** The token_uri to put in the service account. */
  readonly tokenUri: string
  /** Messages accepted (the `message` objects), with the bearer they came with. */
  readonly accepted: { message: Record<string, unknown>; bearer: string }[]
  readonly answers: { token: string; status: number }[]
  /** OAuth exchanges made (successful ones). */
  exchanges: number
  readonly inFlight: InFlight
  script(token: string, ...answers: FcmAnswer[]): void
  /** Every access token issued so far answers 401 from now on. */
  revokeTokens(): void
  close(): Promise<void>
}

export interface FcmPeerOptions {
  readonly projectId: string
  readonly clientEmail: string
  /** The public key of the service account's private_key. */
  readonly publicKey: KeyObject
  /** expires_in of issued access tokens, default 3599. */
  readonly expiresIn?: number
  readonly now?: () => number
}

const STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
}

/**
 * Google's OAuth token endpoint (JWT-bearer grant) and FCM HTTP v1 `messages:send` on 127.0.0.1, over TLS with
 * HTTP/2 (and HTTP/1.1 for the token endpoint), checking what they document.
 */
export async function startFcmPeer(o: FcmPeerOptions): Promise<FcmPeer> {
  const tls = await peerTls()
  const now = o.now ?? Date.now
  const server = http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const tokenUri = `${origin}/token`
  const scripts = new Map<string, FcmAnswer[]>()
  const live = new Set<string>()
  const inFlight = new InFlight()
  const peer: FcmPeer = {
    origin,
    ca: tls.cert,
    tokenUri,
    accepted: [],
    answers: [],
    exchanges: 0,
    inFlight,
    script(token, ...list) {
      scripts.set(token, [...(scripts.get(token) ?? []), ...list])
    },
    revokeTokens() {
      live.clear()
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sessions) s.destroy()
      }),
  }
  const sessions = new Set<{ destroy(): void }>()
  server.on('session', (s) => {
    sessions.add(s)
    s.on('close', () => sessions.delete(s))
  })
  server.on('secureConnection', (socket) => {
    sessions.add(socket)
    socket.on('close', () => sessions.delete(socket))
  })

  const json = (
    res: http2.Http2ServerResponse,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...extra })
    res.end(JSON.stringify(body))
  }
  const fcmError = (res: http2.Http2ServerResponse, a: FcmAnswer) =>
    json(
      res,
      a.status,
      {
        error: {
          code: a.status,
          message: a.message ?? STATUS[a.status] ?? 'error',
          status: STATUS[a.status] ?? 'UNKNOWN',
          ...(a.errorCode
            ? {
                details: [
                  { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: a.errorCode },
                ],
              }
            : {}),
        },
      },
      a.retryAfter ? { 'retry-after': a.retryAfter } : {},
    )

  const handleToken = async (res: http2.Http2ServerResponse, body: string) => {
    const form = new URLSearchParams(body)
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return json(res, 400, { error: 'unsupported_grant_type' })
    try {
      const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', o.publicKey, {
        algorithms: ['RS256'],
        issuer: o.clientEmail,
        audience: tokenUri,
        currentDate: new Date(now()),
      })
      if (protectedHeader.alg !== 'RS256') throw new Error('alg')
      if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging') throw new Error('scope')
      if (
        typeof payload.iat !== 'number' ||
        typeof payload.exp !== 'number' ||
        payload.exp - payload.iat > 3600
      )
        throw new Error('lifetime')
    } catch (err) {
      return json(res, 400, { error: 'invalid_grant', error_description: (err as Error).message })
    }
    peer.exchanges++
    const token = `ya29.peer-${peer.exchanges}`
    live.add(token)
    json(res, 200, { access_token: token, expires_in: o.expiresIn ?? 3599, token_type: 'Bearer' })
  }

  const handleSend = async (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, body: string) => {
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1] ?? ''
    if (!live.has(bearer))
      return fcmError(res, { status: 401, message: 'Request had invalid authentication credentials.' })
    let message: Record<string, unknown>
    try {
      message = (JSON.parse(body) as { message: Record<string, unknown> }).message
      if (!message || typeof message !== 'object') throw new Error()
    } catch {
      return fcmError(res, { status: 400, message: 'Invalid JSON payload received.' })
    }
    const token = typeof message.token === 'string' ? message.token : ''
    const bad = shapeError(message)
    if (bad) return fcmError(res, { status: 400, message: bad })
    const scripted = scripts.get(token)?.shift()
    peer.answers.push({ token, status: scripted?.status ?? 200 })
    if (scripted) return fcmError(res, scripted)
    peer.accepted.push({ message, bearer })
    json(res, 200, { name: `projects/${o.projectId}/messages/${peer.accepted.length}` })
  }

  server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8')
      if (req.method === 'POST' && req.url === '/token') return handleToken(res, body)
      if (req.method === 'POST' && req.url === `/v1/projects/${o.projectId}/messages:send`) {
        await inFlight.enter()
        res.on('finish', () => inFlight.leave())
        return handleSend(req, res, body)
      }
      json(res, 404, { error: { code: 404, status: 'NOT_FOUND', message: 'no such path' } })
    })
  })
  return peer
}

/** The checks FCM makes on a message's shape (those our sender could get wrong). */
function shapeError(m: Record<string, unknown>): string | undefined {
  if (typeof m.token !== 'string' || !m.token) return 'Recipient of the message is not set.'
  if (!/^[A-Za-z0-9:_-]+$/.test(m.token))
    return 'The registration token is not a valid FCM registration token'
  if (m.data !== undefined) {
    if (typeof m.data !== 'object' || m.data === null) return "Invalid value at 'message.data'"
    for (const [k, v] of Object.entries(m.data))
      if (typeof v !== 'string') return `Invalid value at 'message.data[${k}].value'`
  }
  if (m.notification !== undefined) {
    for (const [k, v] of Object.entries(m.notification as object))
      if (!['title', 'body', 'image'].includes(k) || typeof v !== 'string')
        return `Invalid JSON payload received. Unknown name "${k}" at 'message.notification'`
  }
  const a = m.android as Record<string, unknown> | undefined
  if (a) {
    if (a.priority !== undefined && a.priority !== 'HIGH' && a.priority !== 'NORMAL')
      return "Invalid value at 'message.android.priority'"
    if (a.ttl !== undefined && !/^\d+(\.\d{1,9})?s$/.test(String(a.ttl)))
      return "Invalid value at 'message.android.ttl'"
  }
  const apns = m.apns as { headers?: Record<string, unknown>; payload?: { aps?: unknown } } | undefined
  if (apns?.headers)
    for (const v of Object.values(apns.headers))
      if (typeof v !== 'string') return "Invalid value at 'message.apns.headers'"
  return undefined
}
