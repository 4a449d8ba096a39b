import type { Logger } from 'pino'
import type { Principal } from '../core/auth/principal.ts'

/** What every handler can read from `c.var`. */
export interface AppEnv {
  Variables: {
    requestId: string
    principal: Principal
    /**
     * The caller's network address (client-ip.ts), when known: it scopes anonymous Idempotency-Keys. A
     * function, resolved only by the few requests that need it (reading it builds the web Request).
     */
    clientIp: () => string | undefined
    log: Logger
    /**
     * Set by a route whose answer is someone else's (a function's HTTP response, or its 502/504): a 5xx then is
     * not a fault of the server's, and is logged as a warning instead of an error.
     */
    upstream: true
    /**
     * Under Node, the headers every answer carries (security headers, X-Request-Id, CORS, Vary), flat
     * (`name, value...`), made by edge.ts before the route runs: whatever answers through Node's response
     * writes them with its own (native.ts). This request's own list: a native sender may add to it.
     */
    head: string[]
    /** The Content-Length of an answer sent through Node's response (for the request log). */
    sentBytes: number
  }
}
