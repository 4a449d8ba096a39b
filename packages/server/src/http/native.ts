import type { IncomingMessage, ServerResponse } from 'node:http'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context, MiddlewareHandler } from 'hono'

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
 * @hono/node-server ignores the placeholder it holds. Headers a middleware means every answer to carry are
 * set on Node's response before the handler runs (writeHead merges them into whatever the route writes).
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
 * The middleware in app.ts set the headers every answer carries (security headers, request id, CORS, Vary)
 * on that response before the route ran, and skip their work on the way out (see sentNatively).
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
  const headers = ['Content-Type', 'application/json', 'Content-Length', String(length)]
  if (etag !== undefined) headers.push('ETag', etag)
  out.writeHead(status, headers)
  out.end(text)
  return RESPONSE_ALREADY_SENT
}

/** Thrown through a middleware's `await next()` to end it there: preallocated, no stack trace taken. */
const SENT = Object.freeze({ sentNatively: true })

/**
 * `mw` (hono's compress(), etag()) without its work on the way out when the answer went out through Node's
 * response: its `await next()` throws there, which skips the rest of it, and the throw ends here.
 */
export function unlessSentNatively(mw: MiddlewareHandler): MiddlewareHandler {
  const after = async (c: Context, next: () => Promise<void>) => {
    await next()
    if (sentNatively(c)) throw SENT
  }
  return async (c, next) => {
    try {
      await mw(c, () => after(c, next))
    } catch (err) {
      if (err !== SENT) throw err
    }
  }
}

/**
 * First in the chain: `c.req.header(name)` answers from Node's raw headers (see rawHeader), for every
 * middleware and route, hono's own included, so that no request builds a Headers object just to read a few.
 * `c.req.header()` (all of them) and `c.req.raw.headers` are left as they are.
 */
export const nodeRequestHeaders: MiddlewareHandler = (c, next) => {
  const inc = incomingOf(c)
  if (inc) {
    const all = c.req.header.bind(c.req)
    ;(c.req as { header: (name?: string) => unknown }).header = (name?: string) =>
      name === undefined ? all() : rawHeader(inc, name.toLowerCase())
  }
  return next()
}
