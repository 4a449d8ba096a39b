import { randomBytes } from 'node:crypto'
import type { Context } from 'hono'
import type { Logger } from 'pino'
import type { AppEnv } from '../context.ts'

const VALID = /^[A-Za-z0-9._-]{1,64}$/

/**
 * Generated ids keep the shape of a UUID (36 characters, lowercase hex and dashes) but cost a counter step, not a
 * call into the CSPRNG: 80 random bits drawn once per process (`xxxxxxxx-xxxx-xxxx-xxxx-`), so ids from different
 * nodes and restarts do not collide, then a 48-bit counter in hex. Unique, not secret: a request id is no
 * credential.
 */
let idPrefix = ''
let idCounter = 2 ** 48
export function nextRequestId(): string {
  if (idCounter >= 2 ** 48) {
    const h = randomBytes(10).toString('hex')
    idPrefix = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-`
    idCounter = 0
  }
  return idPrefix + (idCounter++).toString(16).padStart(12, '0')
}

/**
 * Paths that orchestrators and scrapers poll (every few seconds, per pod): the probes the Dockerfile, compose
 * and Kubernetes call, and /metrics. Their successes are logged at debug and kept out of the request log.
 */
const POLLED = new Set(['/api/health/live', '/api/health/ready', '/metrics'])

/** Whether `path` is polled by machines (see POLLED): noise in the logs when it answers 2xx. */
export function isPolledPath(path: string): boolean {
  return POLLED.has(path)
}

/** The request's id: the caller's X-Request-Id when it sent a sane one, else a new one. */
export function requestIdOf(incoming: string | undefined): string {
  return incoming && VALID.test(incoming) ? incoming : nextRequestId()
}

/**
 * The request's line in the server log, once answered (edge.ts). A 5xx other than 503 (database unavailable) is
 * a bug: logged as an error even when info is off; unless the answer is a function's (its failure is its
 * author's to fix: a warning, and in its invocation log). A probe that passes says nothing new; one that fails
 * (a 503 from readiness) stays at info.
 */
export function logRequest(log: Logger, c: Context<AppEnv>, id: string, status: number, start: number): void {
  const upstream = c.get('upstream') === true
  const failed = status >= 500 && status !== 503 && !upstream
  const level = failed
    ? 'error'
    : upstream && status >= 500
      ? 'warn'
      : status < 300 && isPolledPath(c.req.path)
        ? 'debug'
        : 'info'
  if (log.isLevelEnabled(level)) {
    const ms = Math.round((performance.now() - start) * 10) / 10
    const line = { requestId: id, method: c.req.method, path: c.req.path, status, ms }
    log[level](line, failed ? 'request failed' : 'request')
  }
}
