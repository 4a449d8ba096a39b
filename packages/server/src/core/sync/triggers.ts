import { sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { DATA_SCHEMA } from '../../db/migrate.ts'
import { dataTable } from '../collections/tables.ts'
import { type Collection, hasColumn, joinTableName } from '../collections/types.ts'

/** The row trigger that logs a synced collection's creates and updates into bastide.sync_log. */
export const SYNC_TRIGGER = 'bastide_sync'
/**
 * The one that logs its deletes, BEFORE the row goes: the join tables' ON DELETE CASCADE (an AFTER trigger named
 * RI_ConstraintTrigger_…, which fires before ours) would otherwise have removed the multiple relations' links.
 */
export const SYNC_DELETE_TRIGGER = 'bastide_sync_delete'
/**
 * The statement trigger that sees a TRUNCATE (which fires no row trigger) and moves the collection's horizon, so
 * every cursor issued before it resyncs (migrations/0003-sync-truncate.ts).
 */
export const SYNC_TRUNCATE_TRIGGER = 'bastide_sync_truncate'

// pg_trigger.tgtype bits: ROW 1, BEFORE 2, INSERT 4, DELETE 8, UPDATE 16, TRUNCATE 32 (none of ROW, BEFORE:
// a statement-level AFTER trigger).
const AFTER_INSERT_UPDATE = 1 | 4 | 16
const BEFORE_DELETE = 1 | 2 | 8
const AFTER_TRUNCATE = 32

/**
 * The trigger function's arguments (see migrations/0002-sync-links.ts): the collection's id, the join tables'
 * schema, then each multiple relation's name and join table, so that `previous` carries its links.
 */
export function syncTriggerArgs(c: Collection): string[] {
  const args = [c.id, DATA_SCHEMA]
  for (const f of c.fields) if (!hasColumn(f)) args.push(f.name, joinTableName(f))
  return args
}

// DDL takes no parameters: the arguments go in as literals, so they must be names the catalog could have made.
function literals(args: string[]) {
  for (const a of args)
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(a)) throw new Error(`unexpected trigger argument ${JSON.stringify(a)}`)
  return sql.join(args.map((a) => sql.lit(a)))
}

/**
 * Creates (or replaces) the change-log triggers on `c`'s table; run it in the transaction that enables sync, and
 * again when its fields change (the arguments name the multiple relations). All three go in together.
 */
export async function createSyncTrigger(db: Db | Transaction<any>, c: Collection): Promise<void> {
  if (!db.isTransaction) return (db as Db).transaction().execute((trx) => createSyncTrigger(trx, c))
  const args = literals(syncTriggerArgs(c))
  const table = dataTable(c.name)
  await sql`CREATE OR REPLACE TRIGGER ${sql.id(SYNC_TRIGGER)} AFTER INSERT OR UPDATE ON ${table}
    FOR EACH ROW EXECUTE FUNCTION bastide.sync_log_change(${args})`.execute(db)
  await sql`CREATE OR REPLACE TRIGGER ${sql.id(SYNC_DELETE_TRIGGER)} BEFORE DELETE ON ${table}
    FOR EACH ROW EXECUTE FUNCTION bastide.sync_log_change(${args})`.execute(db)
  await sql`CREATE OR REPLACE TRIGGER ${sql.id(SYNC_TRUNCATE_TRIGGER)} AFTER TRUNCATE ON ${table}
    FOR EACH STATEMENT EXECUTE FUNCTION bastide.sync_log_truncate(${literals([c.id])})`.execute(db)
}

export async function dropSyncTrigger(db: Db | Transaction<any>, c: Collection): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS ${sql.id(SYNC_TRIGGER)} ON ${dataTable(c.name)}`.execute(db)
  await sql`DROP TRIGGER IF EXISTS ${sql.id(SYNC_DELETE_TRIGGER)} ON ${dataTable(c.name)}`.execute(db)
  await sql`DROP TRIGGER IF EXISTS ${sql.id(SYNC_TRUNCATE_TRIGGER)} ON ${dataTable(c.name)}`.execute(db)
}

/**
 * Whether `c`'s table has its triggers as createSyncTrigger makes them: `missing` when one is gone (a restored or
 * recreated table), `stale` when one logs other events or other multiple relations (made before the fields
 * changed, or by an older version).
 */
export async function syncTriggerState(
  db: Db | Transaction<any>,
  c: Collection,
): Promise<'ok' | 'missing' | 'stale'> {
  const r = await sql<{ name: string; type: number; args: Buffer | null }>`
    SELECT t.tgname AS name, t.tgtype::int AS type, t.tgargs AS args FROM pg_trigger t
    JOIN pg_class k ON k.oid = t.tgrelid JOIN pg_namespace s ON s.oid = k.relnamespace
    WHERE s.nspname = ${DATA_SCHEMA} AND k.relname = ${c.name}
      AND t.tgname IN (${SYNC_TRIGGER}, ${SYNC_DELETE_TRIGGER}, ${SYNC_TRUNCATE_TRIGGER})`.execute(db)
  const found = new Map(r.rows.map((t) => [t.name, t]))
  const main = found.get(SYNC_TRIGGER)
  const del = found.get(SYNC_DELETE_TRIGGER)
  const trunc = found.get(SYNC_TRUNCATE_TRIGGER)
  if (!main) return 'missing'
  // tgargs: each argument followed by a NUL byte.
  const nul = (args: string[]) => args.map((a) => `${a}\u0000`).join('')
  const expected = nul(syncTriggerArgs(c))
  const argsOf = (t: { args: Buffer | null }) => t.args?.toString('utf8') ?? ''
  if (main.type !== AFTER_INSERT_UPDATE || argsOf(main) !== expected) return 'stale'
  if (!del) return 'missing'
  if (del.type !== BEFORE_DELETE || argsOf(del) !== expected) return 'stale'
  if (!trunc) return 'missing'
  return trunc.type === AFTER_TRUNCATE && argsOf(trunc) === nul([c.id]) ? 'ok' : 'stale'
}
