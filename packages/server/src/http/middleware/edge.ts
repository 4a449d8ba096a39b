import type { Context, MiddlewareHandler } from 'hono'
import { compress } from 'hono/compress'
import { etag } from 'hono/etag'
import type { Logger } from 'pino'
import { clientIp } from '../client-ip.ts'
import type { AppEnv } from '../context.ts'
import { ASKS_COMPRESSION, outgoingOf, readHeadersFromNode, sentNatively, statusOf } from '../native.ts'
import { type CorsPolicy, corsHeadersOn } from './cors.ts'
import { errorResponse } from './errors.ts'
import { logRequest, requestIdOf } from './request-id.ts'
import { SECURE_HEADERS_FLAT, secureHeadersOn } from './security-headers.ts'
import { varyAcceptEncodingOn } from './vary.ts'

/** Called once a request is answered, with its duration in ms (ModuleParts.observe). */
export type Observer = (c: Context<AppEnv>, ms: number) => void

export interface EdgeOptions {
  readonly log: Logger
  /** The caller's address comes from X-Forwarded-For (see client-ip.ts). */
  readonly trustProxy: boolean
  /** Every module's `observe` (metrics, request logs): they see the final status of every request. */
  readonly observers: readonly Observer[]
  /** CORS for /api (cors.ts). */
  readonly cors: CorsPolicy
  /** Refuses request bodies over the limit (body-limit.ts); run for requests that may have one. */
  readonly limitBody: MiddlewareHandler
  /** Holds the session cache around writes that may change sessions (session-barrier.ts), when auth runs. */
  readonly sessionBarrier?: MiddlewareHandler<AppEnv>
}

/** Request methods that have no body to limit and change nothing. */
const READS = new Set(['GET', 'HEAD', 'OPTIONS'])

const resolved = () => Promise.resolve()

/**
 * Everything every request goes through before and after its route, in one middleware (one async step instead
 * of a dozen: each layer of hono's compose is an async function and a closure, a tenth of a GET by id when
 * they were separate):
 *
 * - `c.req.header(name)` read from Node's raw headers (native.ts);
 * - the request id (the caller's X-Request-Id when sane), the logger and the caller's address, in `c`;
 * - the headers every answer carries: the security headers (CSP, nosniff, frame options...), X-Request-Id,
 *   CORS on /api (preflights answered by hono's cors()), `Vary: Accept-Encoding` (and `Origin` unless any
 *   origin is allowed);
 * - bodies over the limit refused (413), and the session cache held around writes that may change sessions;
 * - on the way out, for answers that hono sends: the ETag of a GET (hono's etag(): its SHA-1, and 304 for a
 *   matching If-None-Match), compression when the request asks for it (hono's compress()), then the headers;
 * - every module's observer (metrics, the request log), the request's log line, HEAD answers that keep every
 *   header.
 *
 * Under Node, the headers are one list made before the route runs (`c.var.head`): an answer sent through
 * Node's response (native.ts: records, downloads) writes it with its own in one writeHead, and nothing is done
 * on the way out; for an answer hono sends, it is set on Node's response after the route, and hono's writeHead
 * merges the route's own over it (a route's own Content-Security-Policy wins). Elsewhere (app.request() in
 * tests, other runtimes) the same headers are set on `c.res`.
 *
 * hono's etag() and compress() do all their work after the route (they only read the request's headers), so
 * they are run then, and only on answers that hono sends, with nothing left to call.
 */
export function edge(o: EdgeOptions): MiddlewareHandler<AppEnv> {
  const { log, trustProxy, observers, cors, limitBody, sessionBarrier } = o
  const etags = etag()
  const compression = compress({ threshold: 1024 })
  const exposed = cors.exposed

  /** Runs a middleware that works after the route only (hono's etag(), compress()); its failure is answered. */
  const after = async (
    c: Context<AppEnv>,
    mw: (c: Context<AppEnv>, next: typeof resolved) => Promise<unknown>,
  ) => {
    try {
      await mw(c, resolved)
    } catch (err) {
      c.res = errorResponse(err, c, log)
    }
  }

  /** The route (with body limit and session barrier for writes), its Response set as hono's compose would. */
  const route = async (c: Context<AppEnv>, next: () => Promise<void>, method: string): Promise<void> => {
    if (READS.has(method)) return next()
    const inner = sessionBarrier ? () => sessionBarrier(c, next) as Promise<void> : next
    const res = await limitBody(c, inner)
    if (res && !c.finalized) c.res = res
  }

  return async (c, next) => {
    readHeadersFromNode(c)
    const start = performance.now()
    const method = c.req.method
    const path = c.req.path
    const id = requestIdOf(c.req.header('x-request-id'))
    c.set('requestId', id)
    c.set('log', log)
    c.set('clientIp', () => clientIp(c.req.raw, c.env, trustProxy))

    const api = path === '/api' || path.startsWith('/api/')
    const preflight =
      api && method === 'OPTIONS' && cors.isPreflight(path, c.req.header('access-control-request-method'))
    // Decided before the route runs, as the origins in force then say.
    const allow = api && !preflight ? cors.allowed(c.req.header('origin') ?? '') : null

    const out = outgoingOf(c)
    let head: string[] | undefined
    if (out) {
      head = SECURE_HEADERS_FLAT.slice()
      head.push('X-Request-Id', id)
      if (preflight) {
        // hono's cors() answers: no Vary of ours, as before it.
      } else if (api) {
        if (allow) head.push('Access-Control-Allow-Origin', allow)
        head.push('Access-Control-Expose-Headers', exposed)
        head.push('Vary', allow === '*' ? 'Accept-Encoding' : 'Accept-Encoding, Origin')
      } else head.push('Vary', 'Accept-Encoding')
      c.set('head', head)
    }

    // What throws here (body limit, barrier, an after-step) is answered as hono's onError would, and the
    // answer still gets everything below, as when each was a middleware of its own.
    try {
      if (preflight) {
        const res = await cors.preflight(c, next)
        if (res && !c.finalized) c.res = res
      } else await route(c, next, method)
    } catch (err) {
      c.res = errorResponse(err, c, log)
    }

    const native = sentNatively(c)
    if (!native) {
      if (!preflight) {
        // Innermost first, as when each was a middleware of its own: etag, Vary, compression, CORS. A
        // function's answer is its own representation, and may be an endless stream the etag would read whole.
        if (
          (method === 'GET' || method === 'HEAD' || method === 'QUERY') &&
          !path.startsWith('/api/functions/')
        )
          await after(c, etags)
        varyAcceptEncodingOn(c.res)
        if (method !== 'HEAD' && ASKS_COMPRESSION.test(c.req.header('accept-encoding') ?? ''))
          await after(c, compression)
        if (api) corsHeadersOn(c.res, allow, exposed)
      }
      if (out && head) for (let i = 0; i < head.length; i += 2) out.setHeader(head[i]!, head[i + 1]!)
      else {
        await after(c, secureHeadersOn)
        c.res.headers.set('X-Request-Id', id)
      }
    }

    const ms = performance.now() - start
    for (const observe of observers) {
      try {
        observe(c, ms)
      } catch (err) {
        log.error({ err }, 'request observer failed')
      }
    }
    logRequest(log, c, id, statusOf(c), start)
    // hono answers HEAD by running the GET route, then copying its status and headers into a bodiless response
    // (`new Response(null, res)`). Under @hono/node-server that copy takes the headers the response was created
    // with, not those set on it afterwards (above): this hands hono a response whose own headers hold everything.
    if (method === 'HEAD' && !native)
      c.res = new Response(null, { status: c.res.status, headers: c.res.headers })
  }
}
