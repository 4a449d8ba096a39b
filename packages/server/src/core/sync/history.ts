import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import type { Collection } from '../collections/types.ts'
import { selectList, tableOf } from '../records/select.ts'
import type { Rec } from '../records/service.ts'

/**
 * The record as it was at `version`, from the change log (the `previous` of the write that moved it past that
 * version), as a row of the table like the records service reads one (unshaped: shapeRecord it for a caller).
 * Multiple relations come from their join tables, so they are the current links. undefined: the log no longer
 * has it (retention, sync off at the time), or it never had that version.
 */
export async function recordAtVersion(
  db: Db,
  collection: Collection,
  recordId: string,
  version: number,
): Promise<Rec | undefined> {
  const res = await sql<Rec>`SELECT ${selectList(collection)}
    FROM bastide.sync_log l CROSS JOIN LATERAL jsonb_populate_record(NULL::${tableOf(collection)}, l.previous) AS r
    WHERE l.collection_id = ${collection.id} AND l.record_id = ${recordId}::uuid AND l.previous IS NOT NULL
      AND l.previous->>'version' = ${String(version)}
    ORDER BY l.id DESC LIMIT 1`.execute(db)
  return res.rows[0]
}
