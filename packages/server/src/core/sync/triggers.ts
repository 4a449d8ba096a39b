import { sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { DATA_SCHEMA } from '../../db/migrate.ts'
import { dataTable } from '../collections/tables.ts'
import type { Collection } from '../collections/types.ts'

/** The row trigger that logs a synced collection's changes into bastide.sync_log. */
export const SYNC_TRIGGER = 'bastide_sync'

// DDL takes no parameters: the id goes in as a literal, so it must be one the catalog could have made.
function idLiteral(c: Collection) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(c.id)) throw new Error(`unexpected collection id ${JSON.stringify(c.id)}`)
  return sql.lit(c.id)
}

/** Creates (or replaces) the change-log trigger on `c`'s table; run it in the transaction that enables sync. */
export async function createSyncTrigger(db: Db | Transaction<any>, c: Collection): Promise<void> {
  await sql`CREATE OR REPLACE TRIGGER ${sql.id(SYNC_TRIGGER)} AFTER INSERT OR UPDATE OR DELETE ON ${dataTable(c.name)}
    FOR EACH ROW EXECUTE FUNCTION bastide.sync_log_change(${idLiteral(c)})`.execute(db)
}

export async function dropSyncTrigger(db: Db | Transaction<any>, c: Collection): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS ${sql.id(SYNC_TRIGGER)} ON ${dataTable(c.name)}`.execute(db)
}

/** Whether `c`'s table has the trigger (a restored or recreated table may have lost it). */
export async function hasSyncTrigger(db: Db | Transaction<any>, c: Collection): Promise<boolean> {
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_trigger t
    JOIN pg_class k ON k.oid = t.tgrelid JOIN pg_namespace s ON s.oid = k.relnamespace
    WHERE s.nspname = ${DATA_SCHEMA} AND k.relname = ${c.name} AND t.tgname = ${SYNC_TRIGGER}`.execute(db)
  return r.rows[0]!.n > 0
}
