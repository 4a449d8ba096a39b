import { sql } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { Auth } from '../auth/create-auth.ts'
import { passwordProblem } from '../auth/password-policy.ts'
import { type Principal, principalId } from '../auth/principal.ts'
import type { UserEvents } from '../auth/user-events.ts'
import { USERS } from '../auth/users-collection.ts'
import type { RecordsService } from '../records/service.ts'
import { createUserAccessService, getUser } from './user-access.ts'

/** Columns of data.users the console sets itself (the records API never writes them). */
const SYSTEM_PATCH = ['email', 'verified', 'role'] as const

const systemPatch = z
  .object({
    email: z.email().max(320).optional(),
    verified: z.boolean().optional(),
    role: z.string().trim().min(1).max(50).optional(),
  })
  .strict()

export interface AdminUsersDeps {
  readonly db: Db
  readonly records: RecordsService
  /** App users' better-auth instance (its adapter and hasher create users). */
  readonly auth: Auth
  readonly passwordMinLength: number
  /** The console's own UPDATEs of data.users emit the users collection's `record.updated` through this. */
  readonly userEvents: UserEvents
  /** Every change is audited in the transaction that makes it. */
  readonly audit: AdminActions['record']
}

export interface UserPage {
  readonly items: Record<string, unknown>[]
  readonly page: number
  readonly perPage: number
  readonly totalItems: number
  readonly totalPages: number
}

export type AdminUsersService = ReturnType<typeof createAdminUsersService>

/**
 * App users as the console manages them: every column (ban state included), writes audited with the acting
 * admin. Profile fields go through the records service, so its validation, rules of relations and events
 * apply; the system columns are written here.
 */
export function createAdminUsersService(deps: AdminUsersDeps) {
  const { db, records, userEvents, audit } = deps

  return {
    get: (id: string) => getUser(db, id),

    async list(q: { page: number; perPage: number; search?: string | undefined }): Promise<UserPage> {
      const { page, perPage, search } = q
      const where = search
        ? sql`WHERE email ILIKE ${`%${escapeLike(search)}%`} OR name ILIKE ${`%${escapeLike(search)}%`}`
        : sql``
      const [items, total] = await Promise.all([
        sql<Record<string, unknown>>`SELECT * FROM data.users ${where}
          ORDER BY created DESC, id DESC LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`.execute(db),
        sql<{ n: number }>`SELECT count(*)::int AS n FROM data.users ${where}`.execute(db),
      ])
      const totalItems = total.rows[0]?.n ?? 0
      return { items: items.rows, page, perPage, totalItems, totalPages: Math.ceil(totalItems / perPage) }
    },

    /** A user with a password, created by an admin: the password policy applies as at sign-up. */
    async create(
      input: { email: string; password: string; name?: string | undefined; verified?: boolean | undefined },
      p: Principal,
    ) {
      const email = input.email.toLowerCase()
      const problem = passwordProblem(input.password, { email, minLength: deps.passwordMinLength })
      if (problem) throw errors.validation({ password: { code: 'weak', message: problem } })
      const ctx = await deps.auth.$context
      if (await ctx.internalAdapter.findUserByEmail(email)) throw errors.conflict('A user has this email.')
      const hash = await ctx.password.hash(input.password)
      const user = await ctx.internalAdapter.createUser(
        { email, name: input.name ?? '', emailVerified: input.verified ?? false },
        { method: 'admin' },
      )
      await ctx.internalAdapter.linkAccount({
        userId: user.id,
        providerId: 'credential',
        accountId: user.id,
        password: hash,
      })
      await audit(db, { actor: principalId(p), action: 'user.create', target: user.id, details: { email } })
      return getUser(db, user.id)
    },

    /** `email`, `verified` and `role` are set here; any other field is a profile field of the users collection. */
    async update(id: string, body: Record<string, unknown>, p: Principal) {
      const own: Record<string, unknown> = {}
      const rest: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(body)) {
        if ((SYSTEM_PATCH as readonly string[]).includes(k)) own[k] = v
        else rest[k] = v
      }
      const sys = systemPatch.parse(own)
      await inTransaction(db, async (tx) => {
        await getUser(tx.db as Db, id)
        const sets = [
          ...(sys.email !== undefined ? [sql`email = ${sys.email.toLowerCase()}`] : []),
          ...(sys.verified !== undefined ? [sql`verified = ${sys.verified}`] : []),
          ...(sys.role !== undefined ? [sql`role = ${sys.role}`] : []),
        ]
        if (sets.length > 0)
          await sql`UPDATE data.users SET ${sql.join(sets)}, updated = now() WHERE id = ${id}::uuid`.execute(
            tx.db,
          )
        // Profile fields after the system ones: the records service's event then carries the final row, so
        // one PATCH sends one `record.updated`.
        if (Object.keys(rest).length > 0) await records.update(USERS, id, rest, p, { tx })
        else if (sets.length > 0) await userEvents.updatedIn(tx, id)
        await audit(tx.db as Db, {
          actor: principalId(p),
          action: 'user.update',
          target: id,
          details: { fields: Object.keys(body) },
        })
      })
      return getUser(db, id)
    },

    async verify(id: string, p: Principal) {
      await inTransaction(db, async (tx) => {
        const res =
          await sql`UPDATE data.users SET verified = true, updated = now() WHERE id = ${id}::uuid`.execute(
            tx.db,
          )
        if (!res.numAffectedRows) throw errors.notFound('User')
        await userEvents.updatedIn(tx, id)
        await audit(tx.db as Db, { actor: principalId(p), action: 'user.verify', target: id })
      })
      return getUser(db, id)
    },

    /**
     * Through the records service: relation fields pointing at users apply their on-delete actions (with
     * events); sessions, accounts and second factors go by foreign-key cascade.
     */
    async remove(id: string, p: Principal): Promise<void> {
      await inTransaction(db, async (tx) => {
        const user = await getUser(tx.db as Db, id)
        await records.remove(USERS, id, p, { tx })
        await audit(tx.db as Db, {
          actor: principalId(p),
          action: 'user.delete',
          target: id,
          details: { email: user.email },
        })
      })
    },

    ...createUserAccessService({ db, userEvents, audit }),
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`)
}
