import type { MiddlewareHandler } from 'hono'
import type { SessionCache } from '../../core/auth/session-cache.ts'
import type { AppEnv } from '../context.ts'

/**
 * Routes whose writes may end or change a session or a user: sign-out, revocations, password resets
 * (/api/auth), bans, deletions, role edits, impersonation (/api/admin), records of the users collection and
 * its definition (/api/collections/users), batches and sync pushes that may hold such records.
 */
const CHANGES_SESSIONS = /^\/api\/(?:auth|admin|batch|sync|collections\/users)(?:\/|$)/i

/**
 * Runs writes on those routes under the session cache's hold (see SessionCache.changing): the client's next
 * request, on this node, sees what they changed (a signed-out JWT gets its 401 at once), even when the
 * answer went out through Node's response before this middleware's `next()` returned. The answer itself is
 * not delayed. Other nodes hear of the changes milliseconds later. Reads and everything else pass untouched.
 */
export function sessionBarrier(sessions: Pick<SessionCache, 'changing'>): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const m = c.req.method
    return m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS' && CHANGES_SESSIONS.test(c.req.path)
      ? sessions.changing(next)
      : next()
  }
}
