import { type RawBuilder, sql } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { Auth } from '../auth/create-auth.ts'
import { passwordProblem } from '../auth/password-policy.ts'
import { hasScope, type Principal, principalId } from '../auth/principal.ts'
import type { UserEvents } from '../auth/user-events.ts'
import { USERS } from '../auth/users-collection.ts'
import { linkTable } from '../collections/tables.ts'
import type { Collection, OnDelete } from '../collections/types.ts'
import { dependentsOf } from '../records/cascade.ts'
import { tableOf } from '../records/select.ts'
import type { RecordsService } from '../records/service.ts'
import { createUserAccessService, getUser } from './user-access.ts'

/** Columns of data.users the console sets itself (the records API never writes them). */
const SYSTEM_PATCH = ['email', 'verified', 'role'] as const

/** System columns an API key may not set: `email` (account takeover by password reset) and `role` (privileges). */
const KEY_REFUSED_PATCH = ['email', 'role'] as const

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
 * Who a user-management write acts as on the records it touches (the user's row, and what its relations cascade
 * to): a key is given the `users` scope for exactly this, and need not also hold records:write on every collection.
 * The history still names the key.
 */
function managing(p: Principal): Principal {
  return p.kind === 'key' && hasScope(p, 'users')
    ? { ...p, scopes: new Set([...p.scopes, 'records:write']) }
    : p
}

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
      // A key with the `users` scope is a script's credential, not a console admin: letting it change a user's
      // email would let whoever holds it take the account over through "forgot password", and `role` is what
      // app rules read as @request.auth.role, so setting it grants privileges. Both stay with console admins.
      if (p.kind === 'key') {
        const refused = KEY_REFUSED_PATCH.filter((k) => k in own)
        if (refused.length > 0)
          throw errors.forbidden(
            `An API key may not change ${refused.join(' or ')} of a user; a console admin must do it.`,
          )
      }
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
        if (Object.keys(rest).length > 0) await records.update(USERS, id, rest, managing(p), { tx })
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
        await records.remove(USERS, id, managing(p), { tx })
        await audit(tx.db as Db, {
          actor: principalId(p),
          action: 'user.delete',
          target: id,
          details: { email: user.email },
        })
      })
    },

    /** What deleting the user would take with them (read-only; see user-delete-preview.ts). */
    deletePreview: (id: string) => previewUserDelete(db, id),

    ...createUserAccessService({ db, userEvents, audit }),
  }
}

/** One relation field that points (directly or through cascaded records) at what the delete removes. */
export interface DeletePreviewRelation {
  readonly collection: string
  readonly field: string
  /** The collection the field points at: `users`, or one whose records cascade. */
  readonly target: string
  readonly onDelete: OnDelete
  readonly multiple: boolean
  /**
   * Records of `collection` affected through this field: deleted (cascade), whose field is emptied
   * (set_null), unlinked (a multiple relation loses the link) or blocking the delete (restrict).
   */
  readonly records: number
  readonly effect: 'delete' | 'set_null' | 'unlink' | 'block'
}

export interface DeletePreview {
  readonly user: { readonly id: string; readonly email: string | null }
  readonly relations: DeletePreviewRelation[]
  /** Records deleted with the user, per collection (cascades of cascades included; the user excluded). */
  readonly cascade: Record<string, number>
  /** Records whose relation to a deleted record is emptied or unlinked, per collection. */
  readonly changed: Record<string, number>
  /** Records of `restrict` relations that still point at what would be deleted: the delete is refused (409). */
  readonly blocking: Record<string, number>
  /** Whether the delete would be refused: `blocking` records, or a cascade deeper than the records service follows. */
  readonly blocked: boolean
  /** The cascade goes deeper than the records service follows (it refuses the delete with a 409). */
  readonly tooDeep: boolean
  /** Sign-in sessions ended (foreign-key cascade). */
  readonly sessions: number
  /** Linked sign-in methods removed (password, OAuth providers). */
  readonly accounts: number
  /** Stored objects owned by the user: they stay, without an owner. null when storage is not set up. */
  readonly files: { readonly count: number; readonly bytes: number } | null
}

/** The deepest cascade the records service applies (cascade.ts); deeper ones are refused there. */
const MAX_PREVIEW_DEPTH = 16

/**
 * What `DELETE /api/admin/users/:id` would do, read in one repeatable-read snapshot without writing: the
 * relations' on-delete actions followed the way records/cascade.ts applies them (cascades of cascades
 * included), `restrict` relations that would refuse it, and what goes by foreign key (sessions, accounts).
 */
export async function previewUserDelete(db: Db, id: string): Promise<DeletePreview> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const t = trx as unknown as Db
      const user = await getUser(t, id)
      const all = (
        await sql<{
          name: string
          fields: Collection['fields']
        }>`SELECT name, fields FROM bastide.collections`.execute(t)
      ).rows.map((r) => ({ name: r.name, fields: r.fields }) as unknown as Collection)
      const byName = new Map(all.map((c) => [c.name, c]))
      /** Records the delete removes, per collection. */
      const doomed = new Map<string, Set<string>>([[USERS, new Set([id])]])
      const relations = new Map<string, DeletePreviewRelation>()
      const changed = new Map<string, Set<string>>()
      const add = (r: Omit<DeletePreviewRelation, 'records'>, n: number) => {
        if (n === 0) return
        const k = `${r.collection}\u0000${r.field}\u0000${r.target}`
        const prev = relations.get(k)
        relations.set(k, { ...r, records: (prev?.records ?? 0) + n })
      }
      const markChanged = (c: string, ids: string[]) => {
        let set = changed.get(c)
        if (!set) changed.set(c, (set = new Set()))
        for (const x of ids) set.add(x)
      }
      // Breadth first, level by level, as applyOnDelete walks depth first: the same set of records either way.
      let level: [string, string[]][] = [[USERS, [id]]]
      for (let depth = 0; level.length > 0 && depth <= MAX_PREVIEW_DEPTH; depth++) {
        const next: [string, string[]][] = []
        for (const [target, ids] of level) {
          for (const { c, f } of dependentsOf(all, target)) {
            const action: OnDelete = f.options.onDelete ?? 'set_null'
            const base = {
              collection: c.name,
              field: f.name,
              target,
              onDelete: action,
              multiple: !!f.options.multiple,
            }
            if (action === 'restrict') continue // counted once the whole cascade is known
            if (f.options.multiple) {
              const rows = await sql<{ source: string }>`SELECT DISTINCT source FROM ${linkTable(f)}
                WHERE target = ANY(${ids}::uuid[])`.execute(t)
              const sources = rows.rows.map((r) => r.source)
              markChanged(c.name, sources)
              add({ ...base, effect: 'unlink' }, sources.length)
              continue
            }
            const rows = await sql<{ id: string }>`SELECT r.id FROM ${tableOf(c)} AS r
              WHERE ${sql.ref(`r.${f.name}`)} = ANY(${ids}::uuid[])`.execute(t)
            const hit = rows.rows.map((r) => r.id)
            if (action === 'set_null') {
              markChanged(c.name, hit)
              add({ ...base, effect: 'set_null' }, hit.length)
              continue
            }
            let gone = doomed.get(c.name)
            if (!gone) doomed.set(c.name, (gone = new Set()))
            const fresh = hit.filter((x) => !gone.has(x))
            for (const x of fresh) gone.add(x)
            add({ ...base, effect: 'delete' }, hit.length)
            if (fresh.length > 0 && byName.has(c.name)) next.push([c.name, fresh])
          }
        }
        level = next
      }
      const tooDeep = level.length > 0
      // `restrict` relations pointing at anything removed, from records that are not removed themselves.
      const blocking = new Map<string, number>()
      for (const [target, set] of doomed) {
        const ids = [...set]
        for (const { c, f } of dependentsOf(all, target)) {
          if ((f.options.onDelete ?? 'set_null') !== 'restrict') continue
          const alsoGone = [...(doomed.get(c.name) ?? [])]
          const rows = f.options.multiple
            ? await sql<{ n: number }>`SELECT count(DISTINCT source)::int AS n FROM ${linkTable(f)}
                WHERE target = ANY(${ids}::uuid[]) AND NOT (source = ANY(${alsoGone}::uuid[]))`.execute(t)
            : await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${tableOf(c)} AS r
                WHERE ${sql.ref(`r.${f.name}`)} = ANY(${ids}::uuid[]) AND NOT (r.id = ANY(${alsoGone}::uuid[]))`.execute(
                t,
              )
          const n = rows.rows[0]?.n ?? 0
          if (n === 0) continue
          blocking.set(c.name, (blocking.get(c.name) ?? 0) + n)
          add(
            {
              collection: c.name,
              field: f.name,
              target,
              onDelete: 'restrict',
              multiple: !!f.options.multiple,
              effect: 'block',
            },
            n,
          )
        }
      }
      const cascade: Record<string, number> = {}
      for (const [c, set] of doomed) {
        const n = c === USERS ? set.size - 1 : set.size
        if (n > 0) cascade[c] = n
      }
      const changedCounts: Record<string, number> = {}
      for (const [c, set] of changed) {
        const n = [...set].filter((x) => !doomed.get(c)?.has(x)).length
        if (n > 0) changedCounts[c] = n
      }
      const count = async (q: RawBuilder<{ n: number }>) => (await q.execute(t)).rows[0]?.n ?? 0
      const sessions = await count(
        sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.auth_sessions WHERE "userId" = ${id}::uuid`,
      )
      const accounts = await count(
        sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.auth_accounts WHERE "userId" = ${id}::uuid`,
      )
      const hasObjects = (
        await sql<{ t: string | null }>`SELECT to_regclass('bastide.objects')::text AS t`.execute(t)
      ).rows[0]?.t
      const files = hasObjects
        ? await sql<{
            n: number
            bytes: string
          }>`SELECT count(*)::int AS n, coalesce(sum(size), 0)::text AS bytes
            FROM bastide.objects WHERE owner = ${id}::uuid`
            .execute(t)
            .then((r) => ({ count: r.rows[0]?.n ?? 0, bytes: Number(r.rows[0]?.bytes ?? 0) }))
        : null
      const sorted = [...relations.values()].sort(
        (a, b) => a.collection.localeCompare(b.collection) || a.field.localeCompare(b.field),
      )
      return {
        user: { id, email: (user.email as string | null) ?? null },
        relations: sorted,
        cascade,
        changed: changedCounts,
        blocking: Object.fromEntries(blocking),
        blocked: blocking.size > 0 || tooDeep,
        tooDeep,
        sessions,
        accounts,
        files,
      }
    })
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`)
}
