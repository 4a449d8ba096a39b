import type { MiddlewareHandler } from 'hono'
import { hasScope, type Principal, type Scope } from '../../core/auth/principal.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'

/**
 * 401 for an anonymous caller (or none resolved yet), 403 for a principal without `scope`. Console admins and
 * BASTIDE_ADMIN_KEY hold every scope; users never hold one. `what` names the action in the 403's message.
 */
export function assertScope(p: Principal | undefined, scope: Scope, what = 'This'): asserts p is Principal {
  if (!p || p.kind === 'anonymous') throw errors.unauthorized()
  if (!hasScope(p, scope))
    throw errors.forbidden(`${what} needs a console admin or an API key with the "${scope}" scope.`)
}

/** Middleware form of assertScope, for a route group every path of which needs `scope`. */
export function requireScope(scope: Scope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    assertScope(c.get('principal'), scope)
    await next()
  }
}
