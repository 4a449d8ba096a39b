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

/** What edge.ts needs to apply CORS to the API's answers. */
export interface CorsPolicy {
  /** The Access-Control-Allow-Origin for a request from `origin` under the origins in force now, or null. */
  allowed(origin: string): string | null
  /** Whether an OPTIONS request to `path` is a preflight (hono's cors() answers it), not the route's own. */
  isPreflight(path: string, requestMethod: string | undefined): boolean
  /** Answers a preflight (hono's cors()). */
  readonly preflight: MiddlewareHandler
  /** Access-Control-Expose-Headers, the same for every answer. */
  readonly exposed: string
}

/**
 * CORS for the API: hono's cors() answers preflights; other responses get their headers from edge.ts (on
 * Node's response, or after the handler through `corsHeadersOn`). (hono's cors() writes its headers through
 * c.res before the handler runs; the handler's response then replaces that placeholder, and hono rebuilds it
 * (its body becomes a stream) to carry the headers over, which takes @hono/node-server off its fast path on
 * every request.)
 * `origins`: the allowed origins (`*` for any), or a function read on every request (the runtime setting
 * `cors.origins`, which an admin may change at any time: the next request, preflight or not, follows it).
 * `answersOwnOptions(path)`: a plain OPTIONS (not a preflight) there is the route's own (tus's discovery).
 */
export function corsPolicy(opts: {
  readonly origins: readonly string[] | (() => readonly string[])
  readonly answersOwnOptions: (path: string) => boolean
}): CorsPolicy {
  const origins = typeof opts.origins === 'function' ? opts.origins : () => opts.origins as readonly string[]
  const allowed = (origin: string): string | null => {
    const list = origins()
    return list.includes('*') ? '*' : list.includes(origin) ? origin : null
  }
  return {
    allowed,
    isPreflight: (path, requestMethod) => !!requestMethod || !opts.answersOwnOptions(path),
    preflight: cors({
      origin: (origin) => allowed(origin),
      allowHeaders: ALLOW_HEADERS,
      allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      exposeHeaders: EXPOSE_HEADERS,
      maxAge: 600,
    }),
    exposed: EXPOSE_HEADERS.join(','),
  }
}

/**
 * The CORS headers of an answer that did not go out through Node's response, set once the route has answered:
 * `allow` as decided before it ran (the origins in force then).
 */
export function corsHeadersOn(res: Response, allow: string | null, exposed: string): void {
  const h = res.headers
  if (allow) h.set('Access-Control-Allow-Origin', allow)
  h.set('Access-Control-Expose-Headers', exposed)
  if (allow !== '*') h.append('Vary', 'Origin')
}
