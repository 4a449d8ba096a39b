import type { IncomingMessage, ServerResponse } from 'node:http'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context } from 'hono'

/**
 * Node's own request and response objects, under @hono/node-server (undefined elsewhere: app.request() in
 * tests, other runtimes). The hot routes answer through them: reading a header from a web Request makes
 * @hono/node-server build a Headers object of the whole request, and a web Response is copied into Node's
 * response on the way out; together a tenth of the server's time on a GET by id.
 */
export function outgoingOf(c: Context): ServerResponse | undefined {
  const out = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
  return out && typeof out.writeHead === 'function' ? out : undefined
}

function incomingOf(c: Context): IncomingMessage | undefined {
  const inc = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  return inc && Array.isArray(inc.rawHeaders) ? inc : undefined
}

/**
 * A request header as `c.req.header(name)` gives it (every occurrence, joined with `, `, as the Fetch Headers
 * object does; undefined when absent), read from Node's raw header list without building that object.
 * `name` must be lowercase.
 */
function rawHeader(inc: IncomingMessage, name: string): string | undefined {
  const raw = inc.rawHeaders
  let value: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!
    if (k.length === name.length && k.toLowerCase() === name) {
      value = value === undefined ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`
    }
  }
  return value
}

/**
 * Whether the answer has gone out through Node's response already (a hot route's sendJson, a download
 * stream, tus): middleware that would edit `c.res` on the way out has nothing left to edit, since
 * @hono/node-server ignores the placeholder it holds. The headers every answer carries are in the list
 * edge.ts made before the handler ran, which whatever writes to Node's response writes with its own
 * (sendJson, writeNativeHead).
 */
export function sentNatively(c: Context): boolean {
  return outgoingOf(c)?.headersSent === true
}

/** The status the request was answered with, however it was answered. */
export function statusOf(c: Context): number {
  const out = outgoingOf(c)
  return out?.headersSent ? out.statusCode : c.res.status
}

/**
 * An Accept-Encoding compress() (hono, default options, threshold 1024 in app.ts) may act on: it names gzip or
 * deflate, or `*`. (Whether their q-values allow it is compress()'s to tell: such requests go its way.)
 */
export const ASKS_COMPRESSION = /gzip|deflate|\*/i
const COMPRESS_THRESHOLD = 1024

/**
 * Answers JSON text straight through Node's response: status line and headers in one writeHead with the body.
 * The headers every answer carries (security headers, request id, CORS, Vary) come from the list edge.ts
 * made before the route ran, written in the same writeHead; edge.ts skips its work on the way out (see
 * sentNatively).
 *
 * Work the request did not ask for is not done here, and what it asked for is left to the middleware that
 * does it: a HEAD, an If-None-Match (a 304 or not), or a body of 1 KiB or more to a client that accepts
 * gzip/deflate go through hono as before (`c.body`, then etag/compress/HEAD handling) — as do requests not
 * served by @hono/node-server. `etag` is the ETag of a GET's answer (a write's answer has none).
 */
export function sendJson(c: Context, status: number, text: string, etag?: string): Response {
  const out = outgoingOf(c)
  const length = Buffer.byteLength(text)
  if (
    out === undefined ||
    out.headersSent ||
    c.req.method === 'HEAD' ||
    (etag !== undefined && c.req.header('if-none-match') !== undefined) ||
    (length >= COMPRESS_THRESHOLD && ASKS_COMPRESSION.test(c.req.header('accept-encoding') ?? ''))
  ) {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' }
    if (etag !== undefined) headers.ETag = etag
    return c.body(text, status as 200, headers)
  }
  // The per-request list edge.ts made (this request's own): nothing it holds is named again here.
  const head = (c.get('head') as string[] | undefined) ?? []
  head.push('Content-Type', 'application/json', 'Content-Length', String(length))
  if (etag !== undefined) head.push('ETag', etag)
  c.set('sentBytes', length)
  out.writeHead(status, head)
  out.end(text)
  return RESPONSE_ALREADY_SENT
}

/**
 * Writes the status line and headers of an answer sent through Node's response (a download): `headers` with
 * the ones every answer carries (edge.ts), where a header of `headers` replaces one of the same name, as
 * writeHead does with headers set before. `length`: its Content-Length, for the request log.
 */
export function writeNativeHead(
  c: Context,
  out: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  length: number,
): void {
  const own = new Set(Object.keys(headers).map((k) => k.toLowerCase()))
  const head = ((c.get('head') as string[] | undefined) ?? []).filter(
    (_, i, all) => !own.has(all[i - (i % 2)]!.toLowerCase()),
  )
  for (const [k, v] of Object.entries(headers)) head.push(k, v)
  c.set('sentBytes', length)
  out.writeHead(status, head)
}

/**
 * `c.req.header(name)` answers from Node's raw headers (see rawHeader), for every middleware and route, hono's
 * own included, so that no request builds a Headers object just to read a few. `c.req.header()` (all of them)
 * and `c.req.raw.headers` are left as they are. edge.ts calls it first thing.
 */
export function readHeadersFromNode(c: Context): void {
  const inc = incomingOf(c)
  if (inc) {
    const req = c.req as unknown as { header: (name?: string) => unknown }
    const all = Object.getPrototypeOf(req).header as () => unknown
    req.header = (name?: string) => (name === undefined ? all.call(req) : rawHeader(inc, name.toLowerCase()))
  }
}
