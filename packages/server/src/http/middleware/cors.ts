import type { MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'

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
 * `answersOwnOptions(path)`: a plain OPTIONS (not a preflight) there is the route's own (tus's discovery).
 */
export function corsHeaders(opts: {
  readonly origins: readonly string[]
  readonly answersOwnOptions: (path: string) => boolean
}): MiddlewareHandler {
  const anyOrigin = opts.origins.includes('*')
  const origins = anyOrigin ? [] : [...opts.origins]
  const preflight = cors({
    origin: anyOrigin ? '*' : origins,
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
    await next()
    const h = c.res.headers
    const origin = c.req.header('origin') ?? ''
    const allow = anyOrigin ? '*' : origins.includes(origin) ? origin : null
    if (allow) h.set('Access-Control-Allow-Origin', allow)
    h.set('Access-Control-Expose-Headers', exposed)
    if (!anyOrigin) h.append('Vary', 'Origin')
  }
}
