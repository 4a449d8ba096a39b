import { sql, type Transaction } from 'kysely'
import type { Db } from './create-db.ts'

/** A unit of work: the Kysely executor to use and a place to queue work that must only run after commit. */
export interface Tx {
  readonly db: Db | Transaction<any>
  afterCommit(fn: () => void): void
}

/**
 * Runs `fn` in a transaction and fires its after-commit hooks once it has committed; nothing runs for
 * rolled-back work. With `outer`, joins that transaction instead (its hooks fire when the outer commits).
 */
export async function inTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>, outer?: Tx): Promise<T> {
  if (outer) return fn(outer)
  const hooks: (() => void)[] = []
  const result = await db.transaction().execute((trx) => fn({ db: trx, afterCommit: (h) => hooks.push(h) }))
  runHooks(hooks)
  return result
}

/**
 * A Tx that is not a transaction: for work that is a single statement (atomic on its own), so it saves
 * the BEGIN/COMMIT round trips. Hooks run when `commit()` is called after the statement succeeded.
 */
export function autocommit(db: Db): Tx & { commit(): void } {
  const hooks: (() => void)[] = []
  return { db, afterCommit: (h) => hooks.push(h), commit: () => runHooks(hooks.splice(0)) }
}

function runHooks(hooks: readonly (() => void)[]): void {
  for (const h of hooks) {
    try {
      h()
    } catch {
      // A subscriber's failure must not turn a committed write into an error for the client.
    }
  }
}

/**
 * Lifts the request statement timeout (BASTIDE_DB_STATEMENT_TIMEOUT_MS) for the rest of the current
 * transaction, for work that may legitimately take long: migrations, schema changes that rewrite or index a
 * large table. Lock waits keep their own bound, and a PostgreSQL that stops answering is still noticed (see
 * connection-guard.ts).
 */
export async function allowLongStatements(trx: Db | Transaction<any>): Promise<void> {
  await sql`SELECT set_config('statement_timeout', '0', true)`.execute(trx)
}
