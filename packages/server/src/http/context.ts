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
  }
}
