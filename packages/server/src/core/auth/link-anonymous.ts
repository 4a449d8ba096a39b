import { APIError } from 'better-auth'
import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import type { EventBus } from '../../events/bus.ts'
import { linkTable } from '../collections/tables.ts'
import type { Collection } from '../collections/types.ts'
import { dependentsOf } from '../records/cascade.ts'
import { selectList, shapeRecord, tableOf } from '../records/select.ts'
import { USERS } from './users-collection.ts'

/**
 * What happens when an anonymous user signs up or in for real: in one transaction, every relation that
 * points at the anonymous user (single: the column; multiple: the join table) is repointed to the account
 * it became, so deleting the anonymous user right after (better-auth does it) cascades nothing. Each
 * record that changes gets its `updated` and `version` bumped, so sync clients see the new owner, and a
 * `record.updated` after commit, like any update.
 */
export function createAnonymousLinker(deps: {
  db: Db
  bus?: EventBus
  collections: () => readonly Collection[]
}): (fromUserId: string, toUserId: string) => Promise<void> {
  return async (from, to) => {
    if (from === to) return
    const relations = dependentsOf(deps.collections(), USERS)
    if (relations.length === 0) return
    const changed: { c: Collection; row: Record<string, unknown> }[] = []
    const returning = (c: Collection) =>
      sql`RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`
    try {
      await deps.db.transaction().execute(async (trx) => {
        for (const { c, f } of relations) {
          const table = tableOf(c)
          if (f.options.multiple) {
            const jt = linkTable(f)
            // A record linked to both users keeps one link (the primary key is (source, target)).
            await sql`DELETE FROM ${jt} AS j WHERE j.target = ${from}
              AND EXISTS (SELECT 1 FROM ${jt} AS k WHERE k.source = j.source AND k.target = ${to})`.execute(
              trx,
            )
            const moved = await sql<{ source: string }>`UPDATE ${jt} SET target = ${to} WHERE target = ${from}
              RETURNING source`.execute(trx)
            const sources = [...new Set(moved.rows.map((r) => r.source))]
            if (sources.length) {
              const res = await sql<Record<string, unknown>>`UPDATE ${table} AS r
                SET updated = now(), version = r.version + 1
                WHERE r.id = ANY(${sources}::uuid[]) ${returning(c)}`.execute(trx)
              for (const row of res.rows) changed.push({ c, row })
            }
            continue
          }
          const res = await sql<Record<string, unknown>>`UPDATE ${table} AS r
            SET ${sql.id(f.name)} = ${to}, updated = now(), version = r.version + 1
            WHERE ${sql.ref(`r.${f.name}`)} = ${from} ${returning(c)}`.execute(trx)
          for (const row of res.rows) changed.push({ c, row })
        }
      })
    } catch (err) {
      // A unique relation (one profile per user...) held by both accounts: nothing moved, nothing is lost.
      if ((err as { code?: string }).code === '23505') {
        throw new APIError('CONFLICT', {
          code: 'ANONYMOUS_LINK_CONFLICT',
          message:
            'This account already has data that the anonymous session cannot be merged into. Sign out of the anonymous session first.',
        })
      }
      throw err
    }
    // Committed: shaped like the records service's events (the whole record, hidden fields included).
    for (const { c, row } of changed) {
      const { _seq, ...rec } = row
      deps.bus?.emit('record.updated', {
        seq: Number(_seq),
        action: 'update',
        collection: c.name,
        record: Object.freeze(shapeRecord(c, rec, true)),
        at: new Date().toISOString(),
      })
    }
  }
}
