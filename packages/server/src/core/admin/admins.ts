import { sql } from 'kysely'
import type { Config } from '../../config/load-config.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import { type AdminActions, audited } from '../../events/admin-actions.ts'
import { type AdminAuth, checkNewAdmin, type NewAdmin } from '../auth/admin-auth.ts'
import { type Principal, principalId } from '../auth/principal.ts'

/** A console admin as the admins list shows them: never a secret, only what their account has set up. */
export interface AdminInfo {
  readonly id: string
  readonly email: string
  readonly name: string
  readonly twoFactorEnabled: boolean
  /** How many passkeys can sign them in. */
  readonly passkeys: number
  /** ISO 8601. */
  readonly created: string
  /** When they last signed in (ISO 8601); null when they never have. */
  readonly lastSignIn: string | null
}

export interface AdminPage {
  readonly items: AdminInfo[]
  readonly page: number
  readonly perPage: number
  readonly totalItems: number
  readonly totalPages: number
}

export interface AdminsDeps {
  readonly db: Db
  /** The admins' better-auth instance: its password hasher, so that admins created here sign in there. */
  readonly adminAuth: AdminAuth
  readonly config: Config
  /** Every change is audited in the transaction that makes it. */
  readonly actions: AdminActions
}

export type AdminsService = ReturnType<typeof createAdminsService>

interface AdminRow {
  readonly id: string
  readonly email: string
  readonly name: string
  readonly twoFactorEnabled: boolean
  readonly passkeys: number
  readonly created: Date | string
  readonly lastSignIn: Date | string | null
}

/** A pg error code, wherever the driver or Kysely put it. */
const pgCode = (e: unknown) => (e as { code?: unknown } | null)?.code

/**
 * Console admins, managed by console admins: list, create another one, delete one (never the last, never
 * oneself). Creating and deleting are each one transaction with their audit entry.
 */
export function createAdminsService(deps: AdminsDeps) {
  const { db, actions } = deps

  const iso = (v: unknown): string => (v instanceof Date ? v : new Date(String(v))).toISOString()

  const select = () =>
    sql<AdminRow>`
      SELECT a.id, a.email, a.name, a."twoFactorEnabled",
        (SELECT count(*)::int FROM bastide.admin_passkeys p WHERE p."userId" = a.id) AS passkeys,
        a."createdAt" AS created,
        COALESCE(a."lastSignInAt",
          (SELECT max(s."createdAt") FROM bastide.admin_sessions s WHERE s."userId" = a.id)) AS "lastSignIn"
      FROM bastide.admins a`

  const toInfo = (r: AdminRow): AdminInfo => ({
    id: r.id,
    email: r.email,
    name: r.name,
    twoFactorEnabled: r.twoFactorEnabled,
    passkeys: Number(r.passkeys),
    created: iso(r.created),
    lastSignIn: r.lastSignIn == null ? null : iso(r.lastSignIn),
  })

  /** One admin; 404 when there is none with this id. */
  const get = async (id: string): Promise<AdminInfo> => {
    const r = (await sql<AdminRow>`${select()} WHERE a.id = ${id}`.execute(db)).rows[0]
    if (!r) throw errors.notFound('Admin')
    return toInfo(r)
  }

  return {
    get,

    /** A page of admins, oldest first (the first admin on top). */
    async list(q: { page: number; perPage: number }): Promise<AdminPage> {
      const offset = (q.page - 1) * q.perPage
      const [rows, total] = await Promise.all([
        sql<AdminRow>`
          ${select()} ORDER BY a."createdAt", a.id LIMIT ${q.perPage} OFFSET ${offset}`.execute(db),
        sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.admins`.execute(db),
      ])
      const totalItems = Number(total.rows[0]?.n ?? 0)
      return {
        items: rows.rows.map(toInfo),
        page: q.page,
        perPage: q.perPage,
        totalItems,
        totalPages: Math.ceil(totalItems / q.perPage),
      }
    },

    /**
     * Another console admin with an email+password credential (hashed by the admins' auth instance), who signs
     * in at once. 409 when an admin has the address; 400 for a weak password. Audited as `admin.create`.
     */
    async create(input: NewAdmin, by: Principal): Promise<AdminInfo> {
      const { email, name } = checkNewAdmin(deps.config, input)
      const ctx = await deps.adminAuth.$context
      // Hashed before the transaction: scrypt takes a while and holds no lock.
      const hash = await ctx.password.hash(input.password)
      const id = crypto.randomUUID()
      try {
        await audited(
          db,
          actions,
          { actor: principalId(by), action: 'admin.create', target: id },
          async (trx) => {
            await sql`
              INSERT INTO bastide.admins (id, name, email, "emailVerified")
              VALUES (${id}, ${name}, ${email}, true)`.execute(trx)
            // The same credential row better-auth links at sign-up: accountId is the admin's id.
            await sql`
              INSERT INTO bastide.admin_accounts (id, "accountId", "providerId", "userId", password)
              VALUES (${crypto.randomUUID()}, ${id}, 'credential', ${id}, ${hash})`.execute(trx)
            return { result: undefined, after: { email, name } }
          },
        )
      } catch (e) {
        if (pgCode(e) === '23505') throw errors.conflict('An admin has this email.')
        throw e
      }
      return get(id)
    },

    /**
     * Deletes an admin, with their sessions, TOTP and passkeys (ON DELETE CASCADE). Refused for oneself (400:
     * another admin does it) and for the last admin (409: the console would lock everyone out). Every admin row
     * is locked first, so two admins deleting each other at once cannot both succeed. Audited as `admin.delete`.
     */
    async remove(id: string, by: Principal): Promise<void> {
      if (by.kind === 'admin' && by.adminId === id)
        throw errors.badRequest(
          'You cannot delete your own admin account: another admin can, or sign in as another admin first.',
        )
      await audited(
        db,
        actions,
        { actor: principalId(by), action: 'admin.delete', target: id },
        async (trx) => {
          const all = (
            await sql<{ id: string; email: string; name: string }>`
            SELECT id, email, name FROM bastide.admins ORDER BY id FOR UPDATE`.execute(trx)
          ).rows
          const victim = all.find((a) => a.id === id)
          if (!victim) throw errors.notFound('Admin')
          if (all.length <= 1)
            throw errors.conflict(
              'This is the last console admin: create another admin before deleting this one, or nobody can sign in to the console.',
            )
          await sql`DELETE FROM bastide.admins WHERE id = ${id}`.execute(trx)
          return { result: undefined, before: { email: victim.email, name: victim.name } }
        },
      )
    },
  }
}
