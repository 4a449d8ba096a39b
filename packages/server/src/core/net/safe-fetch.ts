import dns from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import net from 'node:net'
import { Readable } from 'node:stream'
import { AppError } from '../../errors/index.ts'
import { isPublicAddress } from './ip-address.ts'

export { isPublicAddress } from './ip-address.ts'

/** An outbound request refused: its destination is not public and not allow-listed. 422 DESTINATION_REFUSED. */
export class SsrfRefusedError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('DESTINATION_REFUSED', message, details)
    this.name = 'SsrfRefusedError'
  }
}

export interface SafeFetchInit {
  readonly method: string
  readonly headers: readonly (readonly [string, string])[] | Readonly<Record<string, string>>
  readonly body: Uint8Array | null
}

export interface SafeFetchOptions {
  /** Host names (as written in URLs, case-insensitive) that may resolve to non-public addresses. */
  readonly allowHosts: readonly string[]
  /** For the whole exchange, redirects and body included. */
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  /** Default 5. */
  readonly maxRedirects?: number
}

/** Headers the caller may not set: the connection is ours. */
const DROPPED = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
  'accept-encoding',
])

/**
 * `fetch` for destinations a user chose (functions, webhooks). The host name is resolved here and every address
 * it resolves to must be public (ip-address.ts) unless the host is allow-listed; the connection then goes to the
 * address that was checked (no second lookup, so no DNS-rebinding window). Each redirect is checked the same
 * way. The response body is cut at `maxResponseBytes` (the stream errors), and the whole exchange at
 * `timeoutMs`. Bodies are not decompressed (`accept-encoding: identity` is sent).
 */
export async function safeFetch(url: string, init: SafeFetchInit, o: SafeFetchOptions): Promise<Response> {
  const deadline = AbortSignal.timeout(o.timeoutMs)
  const allow = new Set(o.allowHosts.map((h) => h.toLowerCase()))
  let target = parseTarget(url)
  let method = init.method.toUpperCase()
  let body = init.body
  const headers = cleanHeaders(init.headers)
  for (let hop = 0; ; hop++) {
    const address = await checkedAddress(target, allow)
    const res = await send(target, address, method, headers, body, deadline)
    const location = res.headers.location
    if (res.statusCode! >= 300 && res.statusCode! < 400 && res.statusCode !== 304 && location) {
      res.resume()
      if (hop >= (o.maxRedirects ?? 5))
        throw new AppError('BAD_REQUEST', `Too many redirects fetching ${target.origin}.`)
      const next = parseTarget(new URL(location, target).href)
      if (
        res.statusCode === 303 ||
        ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')
      ) {
        method = method === 'HEAD' ? 'HEAD' : 'GET'
        body = null
      }
      // Credentials are for the origin they were given for.
      if (next.origin !== target.origin) {
        headers.delete('authorization')
        headers.delete('cookie')
      }
      target = next
      continue
    }
    return toResponse(res, o.maxResponseBytes, deadline)
  }
}

function parseTarget(url: string): URL {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new AppError('BAD_REQUEST', `Not a URL: ${url}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new SsrfRefusedError(`Only http and https URLs may be fetched, not ${u.protocol}`, { url })
  if (u.username || u.password) throw new AppError('BAD_REQUEST', 'URLs with credentials are not fetched.')
  return u
}

/** The address to connect to: the host's, every one of them public unless it is allow-listed. */
async function checkedAddress(
  u: URL,
  allow: ReadonlySet<string>,
): Promise<{ address: string; family: 4 | 6 }> {
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1')
  const literal = net.isIP(host)
  let addresses: { address: string; family: number }[]
  if (literal !== 0) addresses = [{ address: host, family: literal }]
  else {
    try {
      addresses = await dns.lookup(host, { all: true, verbatim: true })
    } catch {
      throw new AppError('BAD_REQUEST', `The host ${host} could not be resolved.`, { host })
    }
  }
  if (addresses.length === 0) throw new AppError('BAD_REQUEST', `The host ${host} could not be resolved.`)
  if (!allow.has(host.toLowerCase())) {
    const refused = addresses.find((a) => !isPublicAddress(a.address))
    if (refused)
      throw new SsrfRefusedError(
        `Refused to fetch ${u.origin}: it resolves to ${refused.address}, which is not a public address (add the host to allowHosts to reach it).`,
        { host, address: refused.address },
      )
  }
  const first = addresses[0]!
  return { address: first.address, family: first.family === 6 ? 6 : 4 }
}

function cleanHeaders(h: SafeFetchInit['headers']): Headers {
  const out = new Headers()
  const entries = Array.isArray(h) ? h : Object.entries(h)
  for (const [k, v] of entries) if (!DROPPED.has(k.toLowerCase())) out.append(k, v)
  out.set('accept-encoding', 'identity')
  return out
}

function send(
  u: URL,
  address: { address: string; family: 4 | 6 },
  method: string,
  headers: Headers,
  body: Uint8Array | null,
  signal: AbortSignal,
): Promise<http.IncomingMessage> {
  // The connection goes to the address checked above, whatever DNS says now; TLS still checks the host name.
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as any)(null, [address])
    else cb(null, address.address, address.family)
  }
  const lib = u.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      {
        method,
        headers: {
          ...Object.fromEntries(headers),
          ...(body !== null ? { 'content-length': String(body.length) } : {}),
        },
        lookup,
        agent: false,
        signal,
      },
      resolve,
    )
    req.on('error', (err) =>
      reject(
        signal.aborted
          ? new AppError('BAD_REQUEST', `Fetching ${u.origin} timed out.`)
          : new AppError('BAD_REQUEST', `Fetching ${u.origin} failed: ${err.message}`),
      ),
    )
    req.end(body ?? undefined)
  })
}

const NULL_BODY = new Set([101, 103, 204, 205, 304])

function toResponse(res: http.IncomingMessage, max: number, signal: AbortSignal): Response {
  const declared = Number(res.headers['content-length'])
  if (Number.isFinite(declared) && declared > max) {
    res.destroy()
    throw new AppError('PAYLOAD_TOO_LARGE', `The response is over ${max} bytes.`, { limit: max })
  }
  const headers = new Headers()
  for (let i = 0; i < res.rawHeaders.length; i += 2)
    headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!)
  const status = res.statusCode ?? 502
  if (NULL_BODY.has(status)) {
    res.resume()
    return new Response(null, { status, headers })
  }
  let size = 0
  const capped = Readable.from(
    (async function* () {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > max) {
          res.destroy()
          throw new AppError('PAYLOAD_TOO_LARGE', `The response is over ${max} bytes.`, { limit: max })
        }
        if (signal.aborted) throw new AppError('BAD_REQUEST', 'The response timed out.')
        yield chunk
      }
    })(),
  )
  return new Response(Readable.toWeb(capped) as ReadableStream<Uint8Array>, {
    status: status < 200 ? 502 : status,
    headers,
  })
}
