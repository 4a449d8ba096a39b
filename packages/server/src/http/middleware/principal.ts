import type { MiddlewareHandler } from 'hono'
import { KEY_PREFIX } from '../../core/auth/api-keys.ts'
import { ANONYMOUS, type Authenticator, type Principal } from '../../core/auth/principal.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'

/**
 * Resolves `Authorization: Bearer <token>`: a `bst_sk_` secret key, else each authenticator in turn.
 * A token that nothing accepts is a 401, never a silent downgrade to anonymous.
 */
export function principalMiddleware(
  keys: (token: string) => Promise<Principal>,
  others: readonly Authenticator[] = [],
): MiddlewareHandler<AppEnv> {
  const resolve = async (c: Parameters<MiddlewareHandler<AppEnv>>[0], header: string) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!m) throw errors.unauthorized('Use "Authorization: Bearer <token>".')
    const token = m[1]!
    let p: Principal | undefined
    if (token.startsWith(KEY_PREFIX)) p = await keys(token)
    else {
      for (const a of others) {
        p = await a(token)
        if (p) break
      }
    }
    if (!p) throw errors.unauthorized('Invalid or expired token.')
    c.set('principal', p)
  }
  // Anonymous requests go straight on: no promise of ours in between.
  return (c, next) => {
    const header = c.req.header('authorization')
    if (!header) {
      c.set('principal', ANONYMOUS)
      return next()
    }
    return resolve(c, header).then(next)
  }
}
