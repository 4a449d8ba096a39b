import type { BetterAuthPlugin } from 'better-auth'
import { APIError, createAuthEndpoint, sessionMiddleware } from 'better-auth/api'
import { setSessionCookie } from 'better-auth/cookies'
import { generateRandomString } from 'better-auth/crypto'
import { getJwtToken, type JwtOptions } from 'better-auth/plugins/jwt'
import { decodeJwt } from 'jose'
import { type Kysely, sql } from 'kysely'

/**
 * `POST /session/refresh`: the session token is the long-lived refresh credential, and using it here
 * swaps it for a new one in the same session row (same id, so access JWTs keep their `sid`). The swap is
 * one conditional UPDATE on the old token: of concurrent refreshes with one token exactly one wins, and
 * the old token is dead the moment it commits. The answer carries a fresh access JWT for the session.
 */
export function refreshSession(opts: { db: Kysely<any>; table?: string }) {
  const table = opts.table ?? 'bastide.auth_sessions'
  return {
    id: 'bastide-refresh',
    endpoints: {
      refreshSession: createAuthEndpoint(
        '/session/refresh',
        { method: 'POST', requireHeaders: true, use: [sessionMiddleware] },
        async (ctx) => {
          const current = ctx.context.session
          const oldToken = current.session.token
          const token = generateRandomString(32)
          const expiresAt = new Date(Date.now() + ctx.context.sessionConfig.expiresIn * 1000)
          const updated = await sql<{ updatedAt: Date }>`
            UPDATE ${sql.table(table)} SET token = ${token}, "updatedAt" = now(), "expiresAt" = ${expiresAt}
            WHERE id = ${current.session.id} AND token = ${oldToken} AND "expiresAt" > now()
            RETURNING "updatedAt"`.execute(opts.db)
          const row = updated.rows[0]
          if (!row) {
            throw new APIError('UNAUTHORIZED', {
              code: 'SESSION_REFRESHED',
              message: 'This session token was already refreshed or has ended.',
            })
          }
          const session = { ...current.session, token, expiresAt, updatedAt: row.updatedAt }
          ctx.context.session = { ...current, session }
          const jwtOptions = ctx.context.getPlugin('jwt')?.options as JwtOptions | undefined
          const accessToken = await getJwtToken(ctx, jwtOptions)
          const exp = decodeJwt(accessToken).exp
          // Cookie clients get the new token as a cookie too (and, through the bearer plugin, set-auth-token).
          await setSessionCookie(ctx, { session, user: current.user })
          ctx.setHeader('cache-control', 'no-store')
          return ctx.json({
            token,
            accessToken,
            accessTokenExpiresAt: exp ? new Date(exp * 1000).toISOString() : null,
            expiresAt: expiresAt.toISOString(),
          })
        },
      ),
    },
  } satisfies BetterAuthPlugin
}
