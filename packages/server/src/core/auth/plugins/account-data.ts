import type { BetterAuthPlugin } from 'better-auth'
import { APIError, createAuthEndpoint, sensitiveSessionMiddleware } from 'better-auth/api'
import { type Kysely, type RawBuilder, sql } from 'kysely'
import { AppError } from '../../../errors/index.ts'
import { linkTable } from '../../collections/tables.ts'
import { type Collection, hasColumn, SYSTEM_FIELDS } from '../../collections/types.ts'
import { dependentsOf } from '../../records/cascade.ts'
import { selectList, shapeRecord, tableOf } from '../../records/select.ts'
import { authorize, predicateOf } from '../../rules/authorize.ts'
import type { Principal } from '../principal.ts'
import { USERS } from '../users-collection.ts'

export interface AccountDataDeps {
  /** better-auth's Kysely (Date objects for timestamps). */
  readonly db: Kysely<any>
  /** The current collections (they change at run time). */
  readonly collections: () => readonly Collection[]
}

/**
 * The user's own data (GDPR access and erasure):
 * - `GET /account/export`: the user, their sessions (never tokens), linked providers (never secrets),
 *   passkeys (names and dates), and the records of data collections whose relation field(s) point at
 *   them, keyed by collection: only those the collection's view rule lets this user view (a collection
 *   whose view rule is locked is left out), without hidden fields, exactly as the records API shows them.
 *   A record pointing at someone is not theirs to read: a report naming them stays with the moderators.
 * - `/delete-user` (better-auth's own) is guarded: when a `restrict` relation still points at the user,
 *   it answers 409 before anything is deleted (better-auth removes sessions and accounts before the user
 *   row, outside a transaction, so a failing foreign key would leave an account without its password).
 *   Otherwise the database applies each relation's onDelete (cascade / set_null) through its foreign keys.
 */
export function accountData(deps: AccountDataDeps) {
  const { db } = deps

  /**
   * Records of `c` that point at `userId` through any of `fields` and that `rule` (the view rule compiled
   * for this user; undefined: every record) lets them view, oldest first. One query per collection.
   */
  const recordsPointingAt = async (
    c: Collection,
    fieldNames: readonly string[],
    userId: string,
    rule: RawBuilder<unknown> | undefined,
  ) => {
    const conds: RawBuilder<unknown>[] = []
    for (const f of c.fields.filter((x) => fieldNames.includes(x.name))) {
      conds.push(
        f.options.multiple
          ? sql`EXISTS (SELECT 1 FROM ${linkTable(f)} AS j WHERE j.source = r.id AND j.target = ${userId})`
          : sql`${sql.ref(`r.${f.name}`)} = ${userId}`,
      )
    }
    if (conds.length === 0) return []
    const allowed = rule ? sql` AND (${rule})` : sql``
    const rows = await sql<Record<string, unknown>>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r
      WHERE (${sql.join(conds, sql` OR `)})${allowed} ORDER BY r.created, r.id`.execute(db)
    return rows.rows.map((row) => shapeRecord(c, row, false))
  }

  /** Collections with a `restrict` relation that still points at the user. */
  const restrictedBy = async (userId: string): Promise<string[]> => {
    const out = new Set<string>()
    for (const { c, f } of dependentsOf(deps.collections(), USERS)) {
      if (f.options.onDelete !== 'restrict' || out.has(c.name)) continue
      const hit = f.options.multiple
        ? await sql`SELECT 1 FROM ${linkTable(f)} WHERE target = ${userId} LIMIT 1`.execute(db)
        : await sql`SELECT 1 FROM ${tableOf(c)} AS r WHERE ${sql.ref(`r.${f.name}`)} = ${userId} LIMIT 1`.execute(
            db,
          )
      if (hit.rows.length) out.add(c.name)
    }
    return [...out].sort()
  }

  return {
    id: 'bastide-account-data',
    endpoints: {
      exportAccountData: createAuthEndpoint(
        '/account/export',
        { method: 'GET', use: [sensitiveSessionMiddleware] },
        async (ctx) => {
          const userId = ctx.context.session.user.id
          const all = deps.collections()
          const users = all.find((c) => c.name === USERS)
          const userRow = users
            ? (
                await sql<Record<string, unknown>>`SELECT ${selectList(users)} FROM ${tableOf(users)} AS r
                  WHERE r.id = ${userId}`.execute(db)
              ).rows[0]
            : undefined
          const user = users && userRow ? shapeRecord(users, userRow, false) : ctx.context.session.user
          const sessions = await db
            .selectFrom('bastide.auth_sessions')
            .select(['id', 'createdAt', 'updatedAt', 'expiresAt', 'ipAddress', 'userAgent', 'impersonatedBy'])
            .where('userId', '=', userId)
            .orderBy('createdAt')
            .execute()
          const accounts = await db
            .selectFrom('bastide.auth_accounts')
            .select(['providerId', 'createdAt', 'updatedAt'])
            .where('userId', '=', userId)
            .orderBy('createdAt')
            .execute()
          const passkeys = await db
            .selectFrom('bastide.auth_passkeys')
            .select(['name', 'createdAt', 'deviceType', 'backedUp'])
            .where('userId', '=', userId)
            .orderBy('createdAt')
            .execute()
          const byCollection = new Map<Collection, string[]>()
          for (const { c, f } of dependentsOf(all, USERS)) {
            // Other users' records that point at this one (a `referredBy`...) are theirs, not this user's.
            if (c.name === USERS) continue
            byCollection.set(c, [...(byCollection.get(c) ?? []), f.name])
          }
          // The view rule sees this user as @request.auth, as on GET /api/collections/{name}/records/{id}.
          const asUser: Principal = {
            kind: 'user',
            id: userId,
            record: users && userRow ? authRecordOf(users, userRow, userId) : { id: userId },
          }
          const byName = new Map(all.map((c) => [c.name, c]))
          const records: Record<string, Record<string, unknown>[]> = {}
          for (const [c, fields] of byCollection) {
            const view = c.rules.view
            // Locked: admins and keys only; the user cannot read these records, so they are not exported.
            if (view === null) continue
            let rule: RawBuilder<unknown> | undefined
            try {
              const lookup = (n: string) => byName.get(n)
              rule = predicateOf(
                authorize(asUser, {
                  rule: view,
                  scope: 'records:read',
                  schema: c,
                  lookup,
                  request: { method: 'GET' },
                }),
              )
            } catch (err) {
              // A rule that no longer binds (schema changed under it) lets nothing through, as in the API.
              if (err instanceof AppError) continue
              throw err
            }
            records[c.name] = await recordsPointingAt(c, fields, userId, rule)
          }
          ctx.setHeader('cache-control', 'no-store')
          return ctx.json({
            exportedAt: new Date().toISOString(),
            user,
            sessions: sessions.map(({ impersonatedBy, ...s }) => ({ ...s, impersonated: !!impersonatedBy })),
            accounts,
            passkeys,
            records,
          })
        },
      ),
    },
    init: () => ({
      options: {
        user: {
          deleteUser: {
            // Runs after better-auth checked the password (or the session's freshness), before it deletes
            // anything; a `beforeDelete` set in the auth options themselves would take precedence (defu).
            beforeDelete: async (user: { id: string }) => {
              const blocking = await restrictedBy(user.id)
              if (blocking.length) {
                throw new APIError('CONFLICT', {
                  code: 'ACCOUNT_HAS_RESTRICTED_RECORDS',
                  message: `Records in ${blocking.join(', ')} still point at this account and must be removed first.`,
                  collections: blocking,
                })
              }
            },
          },
        },
      },
    }),
  } satisfies BetterAuthPlugin
}

/**
 * The user as rules see them (@request.auth), as user-principal.ts builds it: every column of their row but
 * the ban data (the hidden system fields).
 */
function authRecordOf(
  users: Collection,
  row: Readonly<Record<string, unknown>>,
  userId: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const s of SYSTEM_FIELDS) out[s] = row[s]
  for (const f of users.fields) if (hasColumn(f) && !(f.hidden && f.system)) out[f.name] = row[f.name]
  return { ...out, id: userId }
}
