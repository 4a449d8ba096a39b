import { type RawBuilder, sql } from 'kysely'
import type { Tx } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import { linkTable } from '../collections/tables.ts'
import type { Collection, Field } from '../collections/types.ts'
import { selectList, tableOf } from './select.ts'

export type Rec = Record<string, unknown>
export interface CascadeHooks {
  /** A record changed or deleted by the cascade; `previous`, on update, when `wantsPrevious` asked for it. */
  emit(action: 'update' | 'delete', c: Collection, row: Rec, previous?: Rec): void
  /** Whether updates of `c`'s records need the record as it was (a durable subscriber): one more read. */
  readonly wantsPrevious?: (c: Collection) => boolean
}

/** Relation fields (in any collection) that point at `target`. */
export function dependentsOf(all: readonly Collection[], target: string): { c: Collection; f: Field }[] {
  return all.flatMap((c) =>
    c.fields.filter((f) => f.type === 'relation' && f.options.collection === target).map((f) => ({ c, f })),
  )
}

const MAX_DEPTH = 16

/**
 * Applies the relations' on-delete actions to the records that point at `ids` of `target` before those are
 * deleted, the way the foreign keys would, but as ordinary writes: each changed record gets its version
 * bumped and each change emits its event, so realtime and sync see cascades too. `restrict` is left to the
 * foreign key, which then fails the whole transaction. The foreign keys stay as the safety net.
 */
export async function applyOnDelete(
  tx: Tx,
  all: readonly Collection[],
  target: Collection,
  ids: readonly string[],
  on: CascadeHooks,
  depth = 0,
  seen: Set<string> = new Set(ids.map((id) => `${target.name}:${id}`)),
): Promise<void> {
  if (ids.length === 0) return
  if (depth > MAX_DEPTH)
    throw errors.conflict(`Deleting this record would cascade more than ${MAX_DEPTH} levels deep.`)
  for (const { c, f } of dependentsOf(all, target.name)) {
    const action = f.options.onDelete ?? 'set_null'
    if (action === 'restrict') continue
    if (f.options.multiple) {
      // The link disappears; the record that held it changes.
      const jt = linkTable(f)
      const before = on.wantsPrevious?.(c)
        ? await previousRows(
            tx,
            c,
            sql`r.id IN (SELECT source FROM ${jt} WHERE target = ANY(${ids}::uuid[]))`,
          )
        : undefined
      const unlinked = await sql<{
        source: string
      }>`DELETE FROM ${jt} WHERE target = ANY(${ids}::uuid[]) RETURNING source`.execute(tx.db)
      const sources = [...new Set(unlinked.rows.map((r) => r.source))].filter(
        (s) => !seen.has(`${c.name}:${s}`),
      )
      if (sources.length === 0) continue
      const res =
        await sql<Rec>`UPDATE ${tableOf(c)} AS r SET updated = now(), version = r.version + 1 WHERE r.id = ANY(${sources}::uuid[])
        RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`.execute(tx.db)
      for (const row of res.rows) on.emit('update', c, row, before?.get(String(row.id)))
      continue
    }
    const col = sql.ref(`r.${f.name}`)
    if (action === 'set_null') {
      const before = on.wantsPrevious?.(c)
        ? await previousRows(tx, c, sql`${col} = ANY(${ids}::uuid[])`)
        : undefined
      const res =
        await sql<Rec>`UPDATE ${tableOf(c)} AS r SET ${sql.id(f.name)} = NULL, updated = now(), version = r.version + 1
        WHERE ${col} = ANY(${ids}::uuid[]) RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`.execute(
          tx.db,
        )
      for (const row of res.rows) on.emit('update', c, row, before?.get(String(row.id)))
      continue
    }
    // cascade: their own dependents first, then the rows themselves.
    const doomed = await sql<{
      id: string
    }>`SELECT r.id FROM ${tableOf(c)} AS r WHERE ${col} = ANY(${ids}::uuid[]) FOR UPDATE`.execute(tx.db)
    const next = doomed.rows.map((r) => r.id).filter((id) => !seen.has(`${c.name}:${id}`))
    if (next.length === 0) continue
    for (const id of next) seen.add(`${c.name}:${id}`)
    await applyOnDelete(tx, all, c, next, on, depth + 1, seen)
    const res = await sql<Rec>`DELETE FROM ${tableOf(c)} AS r WHERE r.id = ANY(${next}::uuid[])
      RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`.execute(tx.db)
    for (const row of res.rows) on.emit('delete', c, row)
  }
}

/** The rows matching `where`, as they are before an update, locked, by id. */
async function previousRows(tx: Tx, c: Collection, where: RawBuilder<unknown>): Promise<Map<string, Rec>> {
  const res =
    await sql<Rec>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r WHERE ${where} FOR UPDATE`.execute(tx.db)
  return new Map(res.rows.map((r) => [String(r.id), r]))
}
