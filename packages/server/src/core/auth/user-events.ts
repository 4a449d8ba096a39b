import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import type { Tx } from '../../db/transaction.ts'
import type { EventBus } from '../../events/bus.ts'
import { RECORD_EVENT_BY_ACTION, type RecordAction } from '../../events/catalog.ts'
import type { CollectionsService } from '../collections/service.ts'
import { selectList, shapeRecord, tableOf } from '../records/select.ts'
import { USERS } from './users-collection.ts'

type Row = Record<string, unknown>

/** A snapshot not claimed by its delete within this long belongs to a delete that rolled back. */
const SNAPSHOT_TTL_MS = 60_000

/**
 * Record events for the `users` collection when something other than the records service writes it
 * (better-auth, the console's own statements): shaped like the records service's, seq included.
 */
export interface UserEvents {
  /**
   * The write is committed: reads the user as it is now and emits `record.created` / `record.updated`;
   * for `delete`, emits `record.deleted` with the snapshot `deleting` took.
   */
  changed(action: RecordAction, userId: string): Promise<void>
  /** Before a delete done elsewhere: keeps the record, which is gone by the time `changed('delete')` runs. */
  deleting(userId: string): Promise<void>
  /** Inside the writing transaction: reads the user there and queues `record.updated` for after commit. */
  updatedIn(tx: Tx, userId: string): Promise<void>
}

export function createUserEvents(deps: {
  db: Db
  bus: EventBus
  collections: Pick<CollectionsService, 'get'>
}): UserEvents {
  const { db, bus } = deps
  const snapshots = new Map<string, { record: Row; at: number }>()

  const read = async (executor: Db | Tx['db'], id: string) => {
    const c = deps.collections.get(USERS)
    const res = await sql<Row>`SELECT ${selectList(c)}, nextval('bastide.record_seq') AS _seq
      FROM ${tableOf(c)} AS r WHERE r.id = ${id}::uuid`.execute(executor)
    const row = res.rows[0]
    if (!row) return undefined
    const { _seq, ...rec } = row
    // Like the records service: the whole record, hidden fields included (consumers filter per audience).
    return { seq: Number(_seq), record: Object.freeze(shapeRecord(c, rec, true)) }
  }

  const emit = (action: RecordAction, seq: number, record: Row) =>
    bus.emit(RECORD_EVENT_BY_ACTION[action], {
      seq,
      action,
      collection: USERS,
      record,
      at: new Date().toISOString(),
    })

  return {
    async changed(action, id) {
      if (action === 'delete') {
        const kept = snapshots.get(id)
        snapshots.delete(id)
        const res = await sql<{ seq: string }>`SELECT nextval('bastide.record_seq') AS seq`.execute(db)
        emit('delete', Number(res.rows[0]!.seq), kept?.record ?? Object.freeze({ id }))
        return
      }
      // Gone already (deleted right after)? Its own delete event tells the story.
      const now = await read(db, id)
      if (now) emit(action, now.seq, now.record)
    },

    async deleting(id) {
      const cutoff = Date.now() - SNAPSHOT_TTL_MS
      for (const [k, v] of snapshots) if (v.at < cutoff) snapshots.delete(k)
      const c = deps.collections.get(USERS)
      const res = await sql<Row>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r
        WHERE r.id = ${id}::uuid`.execute(db)
      const row = res.rows[0]
      if (row) snapshots.set(id, { record: Object.freeze(shapeRecord(c, row, true)), at: Date.now() })
    },

    async updatedIn(tx, id) {
      const now = await read(tx.db, id)
      if (now) tx.afterCommit(() => emit('update', now.seq, now.record))
    },
  }
}
