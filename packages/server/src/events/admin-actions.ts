import type { Transaction } from 'kysely'
import type { Db } from '../db/create-db.ts'

/** Something an administrator did: a schema change, a key minted, a user banned... */
export interface AdminAction {
  /** Who: `admin:<id>`, `admin` (BASTIDE_ADMIN_KEY), `key:<id>`, `user:<id>`, `cli` (see principalId). */
  readonly actor: string
  /** What, as `<thing>.<verb>`: `collection.update`, `key.create`, `user.ban`... */
  readonly action: string
  /** On what: a collection name, a key id, a user id, a bucket name, a channel pattern. */
  readonly target: string | null
  /** Facts that are not a change of state (a ban's reason, sessions revoked). */
  readonly details?: Readonly<Record<string, unknown>>
  /** The state it changed, before and after: only the top-level properties that differ (see diffOf). */
  readonly diff?: { readonly before?: unknown; readonly after?: unknown }
}

export type ActionRecorder = (db: Db | Transaction<any>, action: AdminAction) => Promise<void>

/**
 * Admin actions, recorded inside the transaction that performs them: every recorder (the audit module)
 * writes with the caller's `db`, so an action and its trail commit or roll back together. With no
 * recorder (no audit module), recording is free.
 */
export interface AdminActions {
  record(db: Db | Transaction<any>, action: AdminAction): Promise<void>
  /** Adds a recorder; returns a function that removes it. */
  subscribe(recorder: ActionRecorder): () => void
}

export function createAdminActions(): AdminActions {
  const recorders = new Set<ActionRecorder>()
  return {
    async record(db, action) {
      for (const r of recorders) await r(db, action)
    },
    subscribe(recorder) {
      recorders.add(recorder)
      return () => recorders.delete(recorder)
    },
  }
}

/**
 * Runs `fn` in a transaction and records its admin action in the same one: `fn` returns its result and the
 * state it changed (`before` and/or `after`), recorded as their diffOf. Nothing is recorded when `fn` throws.
 */
export function audited<T>(
  db: Db,
  actions: AdminActions | undefined,
  what: { readonly actor: string; readonly action: string; readonly target: string },
  fn: (trx: Transaction<any>) => Promise<{ result: T; before?: object; after?: object }>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    const { result, before, after } = await fn(trx)
    await actions?.record(trx, { ...what, diff: diffOf(before, after) })
    return result
  })
}

/**
 * The part of two states that differs: top-level properties compared by value (JSON, key order aside), each side holding
 * only those. Created: `{ after }`; deleted: `{ before }`.
 */
export function diffOf(
  was: object | undefined,
  is: object | undefined,
): { before?: Record<string, unknown>; after?: Record<string, unknown> } {
  const before = was as Readonly<Record<string, unknown>> | undefined
  const after = is as Readonly<Record<string, unknown>> | undefined
  if (!before) return after ? { after: { ...after } } : {}
  if (!after) return { before: { ...before } }
  const b: Record<string, unknown> = {}
  const a: Record<string, unknown> = {}
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (stable(before[k]) === stable(after[k])) continue
    if (k in before) b[k] = before[k]
    if (k in after) a[k] = after[k]
  }
  return { before: b, after: a }
}

/** JSON with object keys sorted, so that equal values compare equal whatever order their keys were built in. */
function stable(v: unknown): string | undefined {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  )
}
