import type { BetterAuthPlugin } from 'better-auth'
import { APIError, createAuthMiddleware, getSessionFromCtx } from 'better-auth/api'
import { type Kysely, sql } from 'kysely'
import { sessionTokenValue } from '../session-token.ts'

type AuthContextLike = Parameters<Parameters<typeof createAuthMiddleware>[0]>[0]

/**
 * Sessions are listed and revoked by id, never by token. better-auth's `/list-sessions` returns every
 * session's token: any one leaked session (an XSS on one device, a shared log) would then hand over all
 * the others, each a long-lived refresh credential. Here the list carries `id` and `current` instead,
 * and `/revoke-session` also takes `{ id }` (better-auth's `{ token }` still works).
 */
export function sessionIds(opts: { db: Kysely<any>; table?: string }): BetterAuthPlugin {
  const table = opts.table ?? 'bastide.auth_sessions'
  /**
   * The caller's session. Plugin before-hooks run before the bearer plugin's header-to-cookie rewrite
   * takes effect, so a bearer token is resolved here; a browser's cookie goes through better-auth.
   */
  const callerSession = async (ctx: AuthContextLike) => {
    const bearer = ctx.headers?.get('authorization')?.match(/^Bearer\s+(.+)$/i)?.[1]
    if (bearer) {
      const raw = await sessionTokenValue(bearer, ctx.context.secret)
      if (!raw) return undefined
      const r = await sql<{ id: string; userId: string }>`
        SELECT id, "userId" FROM ${sql.table(table)} WHERE token = ${raw} AND "expiresAt" > now()
      `.execute(opts.db)
      return r.rows[0]
    }
    const s = await getSessionFromCtx(ctx as Parameters<typeof getSessionFromCtx>[0])
    return s ? { id: s.session.id, userId: s.user.id } : undefined
  }
  return {
    id: 'bastide-session-ids',
    hooks: {
      before: [
        {
          matcher: (ctx) => ctx.path === '/revoke-session',
          handler: createAuthMiddleware(async (ctx) => {
            const body = (ctx.body ?? {}) as { id?: unknown; token?: unknown }
            if (body.token !== undefined || body.id === undefined) return
            if (typeof body.id !== 'string' || body.id.length > 100) {
              throw new APIError('BAD_REQUEST', {
                code: 'VALIDATION_FAILED',
                message: 'id must be a string.',
              })
            }
            const userId = (await callerSession(ctx))?.userId
            if (!userId)
              throw new APIError('UNAUTHORIZED', { code: 'UNAUTHORIZED', message: 'Sign in first.' })
            // Scoped to the caller: another user's session id is as unknown as a made-up one.
            const row = await sql<{ token: string }>`
              SELECT token FROM ${sql.table(table)} WHERE id = ${body.id} AND "userId" = ${userId}
            `.execute(opts.db)
            const token = row.rows[0]?.token
            if (!token) throw new APIError('NOT_FOUND', { code: 'NOT_FOUND', message: 'Session not found.' })
            return { context: { body: { token } } }
          }),
        },
      ],
      after: [
        {
          matcher: (ctx) => ctx.path === '/list-sessions',
          handler: createAuthMiddleware(async (ctx) => {
            const returned = ctx.context.returned
            if (!Array.isArray(returned)) return
            const current = (await callerSession(ctx))?.id
            return ctx.json(
              returned.map(({ token: _token, ...s }: { token?: string; id: string }) => ({
                ...s,
                current: s.id === current,
              })),
            )
          }),
        },
      ],
    },
  }
}
