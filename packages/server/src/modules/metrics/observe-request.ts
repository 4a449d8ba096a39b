import type { Context } from 'hono'
import { routePath } from 'hono/route'
import { principalId } from '../../core/auth/principal.ts'
import type { AppEnv } from '../../http/context.ts'
import { isPolledPath } from '../../http/middleware/request-id.ts'
import { outgoingOf, sentNatively, statusOf } from '../../http/native.ts'
import type { RequestLogBuffer, RequestLogRow } from './request-log-buffer.ts'
import type { ServerMetrics } from './server-metrics.ts'

/**
 * Route parameters whose value is a credential: their path segment is logged as `:redacted`. Not `key`:
 * storage routes call an object's path `:key`, which is what an operator looks for in the log.
 */
const SECRET_PARAM = /token|secret|code|signature|password|otp/i
/** Credentials inside routes we do not route ourselves (better-auth's `/*`): the segment after these. */
const SECRET_SEGMENT = /(\/(?:reset-password|verify-email|magic-link)\/)[^/]+/gi
const UA_MAX = 120
const PATH_MAX = 512

/** Per route pattern, once: the indexes of its path segments that hold a secret (empty for most). */
const secretSegments = new Map<string, readonly number[]>()
function secretIndexes(route: string): readonly number[] {
  let found = secretSegments.get(route)
  if (!found) {
    found = route.split('/').flatMap((seg, i) => (seg.startsWith(':') && SECRET_PARAM.test(seg) ? [i] : []))
    // Routes are a fixed set (patterns, not paths), so this stays small.
    secretSegments.set(route, found)
  }
  return found
}

/**
 * The path as logged: never the query string (tokens, codes and signatures travel there), and segments that
 * hold a credential replaced. Cheap for the common case: one map lookup and one regex test.
 */
export function loggedPath(route: string, path: string): string {
  const idx = secretIndexes(route)
  let p = path
  if (idx.length > 0) {
    const segs = p.split('/')
    for (const i of idx) if (i < segs.length) segs[i] = ':redacted'
    p = segs.join('/')
  }
  // replace() with a global pattern starts from 0 each time (no lastIndex state carried between calls).
  p = p.replace(SECRET_SEGMENT, '$1:redacted')
  return p.length > PATH_MAX ? p.slice(0, PATH_MAX) : p
}

const LOGS_ROUTE = '/api/admin/logs'
const SIGN_IN = /\/(?:sign-in|two-factor\/verify)/

export interface ObserveRequestOptions {
  /** Where rows go; undefined when request logging is off. */
  readonly logBuffer: RequestLogBuffer | undefined
  /** Rows this node writes per wall-clock second at most (BASTIDE_REQUEST_LOG_MAX_PER_SECOND). */
  readonly maxPerSecond: number
  /** The clock (ms), for the per-second cap. */
  readonly now?: () => number
}

/**
 * The metrics module's `observe` (ModuleParts.observe): every answered request goes into the latency
 * histogram by route pattern, counts as an auth failure or a rate-limit hit when it is one, and — when
 * request logging is on — becomes a request log row, within bounds an anonymous flood cannot push past.
 */
export function observeRequest(metrics: ServerMetrics, o: ObserveRequestOptions) {
  const { logBuffer, maxPerSecond } = o
  const now = o.now ?? Date.now
  let second = 0
  let rowsThisSecond = 0
  return (c: Context<AppEnv>, ms: number): void => {
    const method = c.req.method
    const route = routePath(c)
    const status = statusOf(c)
    metrics.request(method, route, status, ms)
    const path = c.req.path
    // Sign-in failures: refused credentials (4xx), not throttling (429, counted as a rate-limit hit).
    if (status >= 400 && status < 500 && status !== 429 && method === 'POST' && SIGN_IN.test(path)) {
      metrics.authFailure(path.startsWith('/api/admin/') ? 'admin' : 'user')
    }
    // Left out (they still count in the metrics above): the log viewer's own reads, since a live tail polling
    // every two seconds would fill the log with itself, and the health probes, which every orchestrator
    // calls every few seconds per node.
    if (!logBuffer || !path.startsWith('/api/') || route === LOGS_ROUTE || isPolledPath(path)) return
    // c.get, not c.var: c.var copies every variable into a new object on each read.
    const p = c.get('principal') as AppEnv['Variables']['principal'] | undefined
    // Anonymous 404s and 429s cost the caller nothing and would cost us a row each (a scanner or a flood at
    // 1,000 requests/s is 86M rows a day); the histogram and the skipped counter still show them.
    if ((!p || p.kind === 'anonymous') && (status === 404 || status === 429)) {
      metrics.logSkipped(status === 404 ? 'anonymous_not_found' : 'anonymous_rate_limited')
      return
    }
    // A fixed one-second window per node: what passes the cap is counted as dropped, like a full buffer.
    const t = Math.floor(now() / 1000)
    if (t !== second) {
      second = t
      rowsThisSecond = 0
    }
    if (rowsThisSecond >= maxPerSecond) {
      metrics.logDropped(1)
      return
    }
    rowsThisSecond++
    const out = outgoingOf(c)
    const length = sentNatively(c) ? (c.get('sentBytes') ?? null) : c.res.headers.get('content-length')
    const ua = c.req.header('user-agent')
    const row: RequestLogRow = {
      at: new Date(Date.now() - ms),
      method,
      route,
      path: loggedPath(route, path),
      status,
      durationMs: Math.round(ms * 100) / 100,
      bytesOut: length === null ? null : Number(length),
      principalKind: p?.kind ?? 'anonymous',
      principalId: !p || p.kind === 'anonymous' ? null : principalId(p),
      clientIp: (c.get('clientIp') as (() => string | undefined) | undefined)?.() ?? null,
      requestId: c.get('requestId'),
      userAgent: ua ? ua.slice(0, UA_MAX) : null,
    }
    logBuffer.push(row)
    // An answer hono has yet to write (most carry no Content-Length until @hono/node-server measures the body):
    // its length once written, unless the row was flushed in between. A streamed answer has none.
    if (length === null && out && !out.headersSent)
      out.once('finish', () => {
        const n = out.getHeader('content-length')
        if (n !== undefined) row.bytesOut = Number(n)
      })
  }
}
