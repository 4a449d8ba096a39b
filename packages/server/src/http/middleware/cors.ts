import type { MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { outgoingOf, sentNatively } from '../native.ts'

const ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'If-Match',
  'If-None-Match',
  'If-Range',
  'Range',
  'X-Bastide-Metadata',
  'X-Request-Id',
  'Tus-Resumable',
  'Upload-Length',
  'Upload-Offset',
  'Upload-Metadata',
  'Upload-Defer-Length',
  'Upload-Concat',
  'X-HTTP-Method-Override',
]

const EXPOSE_HEADERS = [
  'ETag',
  'X-Request-Id',
  'Retry-After',
  'Idempotency-Replayed',
  'Set-Auth-Token',
  'Set-Auth-Jwt',
  'Accept-Ranges',
  'Content-Disposition',
  'Content-Length',
  'Content-Range',
  'Last-Modified',
  'Tus-Resumable',
  'Tus-Version',
  'Tus-Extension',
  'Tus-Max-Size',
  'Upload-Offset',
  'Upload-Length',
  'Upload-Expires',
  'Location',
  'Bastide-Object',
]

/**
 * CORS for the API: hono's cors() answers preflights; other responses get their headers after the handler.
 * (hono's cors() writes its headers through c.res before the handler runs; the handler's response then
 * replaces that placeholder, and hono rebuilds it (its body becomes a stream) to carry the headers over,
 * which takes @hono/node-server off its fast path on every request.)
 * `origins`: the allowed origins (`*` for any), or a function read on every request (the runtime setting
 * `cors.origins`, which an admin may change at any time: the next request, preflight or not, follows it).
 * `answersOwnOptions(path)`: a plain OPTIONS (not a preflight) there is the route's own (tus's discovery).
 */
export function corsHeaders(opts: {
  readonly origins: readonly string[] | (() => readonly string[])
  readonly answersOwnOptions: (path: string) => boolean
}): MiddlewareHandler {
  const origins = typeof opts.origins === 'function' ? opts.origins : () => opts.origins as readonly string[]
  /** The Access-Control-Allow-Origin for `origin` under the origins in force, or null. */
  const allowed = (origin: string): string | null => {
    const list = origins()
    return list.includes('*') ? '*' : list.includes(origin) ? origin : null
  }
  const preflight = cors({
    origin: (origin) => allowed(origin),
    allowHeaders: ALLOW_HEADERS,
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    exposeHeaders: EXPOSE_HEADERS,
    maxAge: 600,
  })
  const exposed = EXPOSE_HEADERS.join(',')
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') {
      const discovery = !c.req.header('access-control-request-method') && opts.answersOwnOptions(c.req.path)
      if (!discovery) return preflight(c, next)
    }
    // Decided before the handler runs, as the origins in force then say (an answer sent through Node's own
    // response carries them from there: see native.ts).
    const allow = allowed(c.req.header('origin') ?? '')
    const out = outgoingOf(c)
    if (out) {
      if (allow) out.setHeader('Access-Control-Allow-Origin', allow)
      out.setHeader('Access-Control-Expose-Headers', exposed)
      if (allow !== '*') out.setHeader('Vary', 'Origin')
    }
    await next()
    if (sentNatively(c)) return
    const h = c.res.headers
    if (allow) h.set('Access-Control-Allow-Origin', allow)
    h.set('Access-Control-Expose-Headers', exposed)
    if (allow !== '*') h.append('Vary', 'Origin')
  }
}
