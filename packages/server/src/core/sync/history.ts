import { type RawBuilder, sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import type { Collection } from '../collections/types.ts'
import { selectList, tableOf } from '../records/select.ts'
import type { Rec } from '../records/service.ts'

/**
 * The record as it was at `version`, from the change log (the `previous` of the write that moved it past that
 * version), as a row of the table like the records service reads one (unshaped: shapeRecord it for a caller).
 * Multiple relations come from their join tables, so they are the current links. undefined: the log no longer
 * has it (retention, sync off at the time), it never had that version, or that state no longer reads as a row
 * of the table (a field dropped and added again with another type).
 */
export async function recordAtVersion(
  db: Db | Transaction<any>,
  collection: Collection,
  recordId: string,
  version: number,
): Promise<Rec | undefined> {
  const rows = await readPast(
    db,
    sql<Rec>`SELECT ${selectList(collection)}
    FROM bastide.sync_log l CROSS JOIN LATERAL jsonb_populate_record(NULL::${tableOf(collection)}, l.previous) AS r
    WHERE l.collection_id = ${collection.id} AND l.record_id = ${recordId}::uuid AND l.previous IS NOT NULL
      AND l.previous->>'version' = ${String(version)}
    ORDER BY l.id DESC LIMIT 1`,
  )
  return rows?.[0]
}

/**
 * Runs a query over the log's past states read as rows of the table today, in a savepoint when `db` is a
 * transaction: a state that no longer fits the table (a value of a field since re-added with another type)
 * fails the query alone, which answers undefined, and the caller's transaction goes on. Other failures (the
 * database busy or gone) are thrown.
 */
export async function readPast<T>(db: Db | Transaction<any>, query: RawBuilder<T>): Promise<T[] | undefined> {
  const inTx = db.isTransaction
  if (inTx) await sql`SAVEPOINT bst_sync_past`.execute(db)
  try {
    const res = await query.execute(db)
    if (inTx) await sql`RELEASE SAVEPOINT bst_sync_past`.execute(db)
    return res.rows
  } catch (err) {
    if (inTx) {
      await sql`ROLLBACK TO SAVEPOINT bst_sync_past`.execute(db)
      await sql`RELEASE SAVEPOINT bst_sync_past`.execute(db)
    }
    if (isShapeError(err)) return undefined
    throw err
  }
}

/** A data exception (class 22: a value of the wrong type) or a type mismatch (class 42) in the old state. */
const isShapeError = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^(22|42)/.test(code)
}
