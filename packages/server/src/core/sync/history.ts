import { type RawBuilder, sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { type Collection, type Field, hasColumn, SYSTEM_FIELDS } from '../collections/types.ts'
import { tableOf } from '../records/select.ts'
import type { Rec } from '../records/service.ts'
import { type Decision, predicateOf } from '../rules/authorize.ts'
import { compileFilter } from '../rules/index.ts'

/**
 * A multiple relation's ids in a logged past state (`previous`, a jsonb expression), as a uuid[] in link order:
 * the trigger logs them under the field's name (migrations/0002-sync-links.ts). A state logged without them (a
 * field added since, or logged before they were) reads as no links, as a column added since reads null.
 */
export function loggedLinks(previous: RawBuilder<unknown>, f: Field): RawBuilder<unknown> {
  const v = sql`${previous} -> ${f.name}::text`
  return sql`ARRAY(SELECT _bst_l.v::uuid FROM jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(${v}) = 'array' THEN ${v} ELSE '[]'::jsonb END) WITH ORDINALITY AS _bst_l(v, o)
    ORDER BY _bst_l.o)`
}

/**
 * A past state's columns, aliased `r` (the log's `previous` read as a row of the table, `previous` the jsonb it
 * came from), as selectList reads a row: multiple relations from the logged links, not the join tables.
 */
export function pastSelectList(c: Collection, previous: RawBuilder<unknown>): RawBuilder<unknown> {
  const cols: RawBuilder<unknown>[] = SYSTEM_FIELDS.map((s) => sql.ref(`r.${s}`))
  for (const f of c.fields)
    cols.push(hasColumn(f) ? sql.ref(`r.${f.name}`) : sql`${loggedLinks(previous, f)} AS ${sql.id(f.name)}`)
  return sql.join(cols)
}

/**
 * A decision's predicate over a past state aliased `r` (see pastSelectList): the rule compiled again so that the
 * record's own multiple relations are the logged ones. undefined when every state passes.
 */
export function pastPredicate(d: Decision, previous: RawBuilder<unknown>): RawBuilder<unknown> | undefined {
  if (d.kind !== 'expression') return predicateOf(d)
  return compileFilter(d.expr, 'r', { selfLinks: (f) => loggedLinks(previous, f) })
}

/**
 * The record as it was at `version`, from the change log (the `previous` of the write that moved it past that
 * version), as a row of the table like the records service reads one (unshaped: shapeRecord it for a caller).
 * Multiple relations are the links logged with that state. undefined: the log no longer
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
    sql<Rec>`SELECT ${pastSelectList(collection, sql`l.previous`)}
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
