import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import { type Principal, principalId } from '../auth/principal.ts'
import type { UserEvents } from '../auth/user-events.ts'

/** How long an impersonation session lasts unless the admin asks for less. */
const DEFAULT_IMPERSONATION_MINUTES = 15

/** The user as the console sees it: every column, ban state included; NOT_FOUND when there is none. */
export async function getUser(db: Db, id: string): Promise<Record<string, unknown>> {
  const row = (
    await sql<Record<string, unknown>>`SELECT * FROM data.users WHERE id = ${id}::uuid`.execute(db)
  ).rows[0]
  if (!row) throw errors.notFound('User')
  return row
}

/**
 * Who may still sign in and with which sessions: bans, session revocation and impersonation. Every change is
 * audited in its own transaction, so an action and its audit entry commit together.
 */
export function createUserAccessService(deps: {
  readonly db: Db
  readonly userEvents: UserEvents
  readonly audit: AdminActions['record']
}) {
  const { db, userEvents, audit } = deps

  return {
    async ban(
      id: string,
      input: { reason?: string | undefined; expiresAt?: string | undefined },
      p: Principal,
    ) {
      if (input.expiresAt && new Date(input.expiresAt) <= new Date())
        throw errors.validation({ expiresAt: { code: 'past', message: 'A ban ends in the future.' } })
      await inTransaction(db, async (tx) => {
        const res = await sql`UPDATE data.users SET banned = true, "banReason" = ${input.reason ?? null},
            "banExpires" = ${input.expiresAt ?? null}::timestamptz, updated = now()
          WHERE id = ${id}::uuid`.execute(tx.db)
        if (!res.numAffectedRows) throw errors.notFound('User')
        await userEvents.updatedIn(tx, id)
        // Sessions go with the ban: session tokens and the access JWTs minted from them stop at once.
        const del = await sql`DELETE FROM bastide.auth_sessions WHERE "userId" = ${id}::uuid`.execute(tx.db)
        await audit(tx.db as Db, {
          actor: principalId(p),
          action: 'user.ban',
          target: id,
          details: {
            reason: input.reason ?? null,
            expiresAt: input.expiresAt ?? null,
            sessionsRevoked: Number(del.numAffectedRows ?? 0),
          },
        })
      })
      return getUser(db, id)
    },

    async unban(id: string, p: Principal) {
      await inTransaction(db, async (tx) => {
        const res = await sql`UPDATE data.users SET banned = false, "banReason" = NULL, "banExpires" = NULL,
            updated = now() WHERE id = ${id}::uuid`.execute(tx.db)
        if (!res.numAffectedRows) throw errors.notFound('User')
        await userEvents.updatedIn(tx, id)
        await audit(tx.db as Db, { actor: principalId(p), action: 'user.unban', target: id })
      })
      return getUser(db, id)
    },

    async sessions(id: string): Promise<Record<string, unknown>[]> {
      await getUser(db, id)
      const rows = await sql<Record<string, unknown>>`
        SELECT id, "createdAt", "updatedAt", "expiresAt", "ipAddress", "userAgent", "impersonatedBy"
        FROM bastide.auth_sessions WHERE "userId" = ${id}::uuid ORDER BY "createdAt" DESC`.execute(db)
      return rows.rows
    },

    /** Signs the user out everywhere; answers how many sessions ended. */
    async revokeSessions(id: string, p: Principal): Promise<number> {
      return inTransaction(db, async (tx) => {
        await getUser(tx.db as Db, id)
        const del = await sql`DELETE FROM bastide.auth_sessions WHERE "userId" = ${id}::uuid`.execute(tx.db)
        const n = Number(del.numAffectedRows ?? 0)
        await audit(tx.db as Db, {
          actor: principalId(p),
          action: 'user.sessions.revoke',
          target: id,
          details: { revoked: n },
        })
        return n
      })
    },

    /** A session token acting as the user, for `minutes`; refused (409) while the user is banned. */
    async impersonate(id: string, minutes: number | undefined, p: Principal) {
      const mins = minutes ?? DEFAULT_IMPERSONATION_MINUTES
      const by = p.kind === 'admin' && p.adminId ? p.adminId : 'admin'
      const token = randomBytes(24).toString('base64url')
      const sessionId = crypto.randomUUID()
      const expiresAt = await inTransaction(db, async (tx) => {
        const user = await getUser(tx.db as Db, id)
        if (user.banned === true && (!user.banExpires || new Date(user.banExpires as string) > new Date()))
          throw errors.conflict('This user is banned.')
        // A short session of its own, marked with the admin: never an extension of the user's own sessions.
        const res = await sql<{ expiresAt: string }>`
          INSERT INTO bastide.auth_sessions (id, token, "userId", "expiresAt", "userAgent", "impersonatedBy")
          VALUES (${sessionId}, ${token}, ${id}::uuid, now() + make_interval(mins => ${mins}),
            'bastide-console (impersonation)', ${by})
          RETURNING "expiresAt"`.execute(tx.db)
        await audit(tx.db as Db, {
          actor: principalId(p),
          action: 'user.impersonate',
          target: id,
          details: { sessionId, minutes: mins },
        })
        return res.rows[0]!.expiresAt
      })
      return { token, sessionId, expiresAt, userId: id }
    },
  }
}
