import {
  SYNC_CONFLICT_POLICIES,
  type SyncCollectionSettings,
  type SyncCollectionSettingsInput,
  type SyncConflictPolicy,
} from '@bastide/protocol'
import { sql, type Transaction } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { errors, parseInput } from '../../errors/index.ts'
import { type AdminActions, diffOf } from '../../events/admin-actions.ts'
import { type Principal, principalId } from '../auth/principal.ts'
import type { CollectionsService } from '../collections/service.ts'
import type { Collection } from '../collections/types.ts'
import { createSyncTrigger, dropSyncTrigger } from './triggers.ts'

export interface SyncSettingsStore {
  /** By collection name; undefined when never set (sync off) or no such collection. */
  get(collection: string): Promise<SyncCollectionSettings | undefined>
  list(): Promise<SyncCollectionSettings[]>
  /** Turns sync on or off (the change-log trigger with it, in the same transaction) and sets the policy. */
  set(collection: string, input: SyncCollectionSettingsInput, by: Principal): Promise<SyncCollectionSettings>
}

/** PUT /api/admin/sync/collections/:name (SyncCollectionSettingsInput). */
export const syncSettingsInput = z
  .object({
    enabled: z.boolean(),
    conflict: z.enum(SYNC_CONFLICT_POLICIES),
    mergeFunction: z.string().min(1).max(128).nullable().optional(),
  })
  .strict()

/** A collection's settings row, with the horizon its cursors are issued under. */
export interface SyncRow {
  readonly enabled: boolean
  readonly conflict: SyncConflictPolicy
  readonly mergeFunction: string | null
  /** `xid.id`: moved on enable and on a change of fields or rules; a cursor carrying another one resyncs. */
  readonly horizon: string
}

export async function readSyncRow(
  db: Db | Transaction<any>,
  collectionId: string,
): Promise<SyncRow | undefined> {
  const r = await sql<{
    enabled: boolean
    conflict: SyncConflictPolicy
    merge_function: string | null
    horizon: string
  }>`
    SELECT enabled, conflict, merge_function, horizon_xid::text || '.' || horizon_id::text AS horizon
    FROM bastide.sync_collections WHERE collection_id = ${collectionId}`.execute(db)
  const row = r.rows[0]
  return row
    ? {
        enabled: row.enabled,
        conflict: row.conflict,
        mergeFunction: row.merge_function,
        horizon: row.horizon,
      }
    : undefined
}

/**
 * A new horizon: this transaction's id, and a log id no entry has yet. Unique per call, so every cursor
 * issued before it (whatever position it holds) is told to resync.
 */
const NEW_HORIZON = sql`horizon_xid = pg_current_xact_id()::text::bigint, horizon_id = nextval('bastide.sync_log_id_seq')`

/** Moves `c`'s horizon (its fields or rules changed): every cursor issued for it resyncs. */
export async function raiseHorizon(db: Db | Transaction<any>, collectionId: string): Promise<void> {
  await sql`UPDATE bastide.sync_collections SET ${NEW_HORIZON}, updated = now()
    WHERE collection_id = ${collectionId}`.execute(db)
}

/**
 * A change log written by another PostgreSQL cluster (a backup restored into a new one) holds transaction ids this
 * cluster has not reached: no cursor could ever move past them, and the purge horizon would refuse every new one.
 * Such a log is dropped and every collection's horizon moved, so devices resync. Answers whether it did.
 */
export async function dropForeignLog(db: Db): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const r = await sql<{ foreign: boolean }>`
      WITH next AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x)
      SELECT (SELECT h.xid FROM bastide.sync_horizon h) >= next.x
        OR COALESCE((SELECT l.xid FROM bastide.sync_log l ORDER BY l.id DESC LIMIT 1) >= next.x, false) AS foreign
      FROM next`.execute(trx)
    if (!r.rows[0]?.foreign) return false
    await sql`DELETE FROM bastide.sync_log`.execute(trx)
    await sql`UPDATE bastide.sync_horizon SET xid = 0, id = 0`.execute(trx)
    await sql`UPDATE bastide.sync_collections SET ${NEW_HORIZON}, updated = now()`.execute(trx)
    return true
  })
}

function wire(c: Collection, row: SyncRow): SyncCollectionSettings {
  return {
    collection: c.name,
    enabled: row.enabled,
    conflict: row.conflict,
    mergeFunction: row.mergeFunction,
  }
}

export function createSyncSettings(deps: {
  db: Db
  collections: CollectionsService
  actions: AdminActions
}): SyncSettingsStore {
  const { db, collections, actions } = deps
  return {
    async get(name) {
      const c = collections.find(name)
      if (!c) return undefined
      const row = await readSyncRow(db, c.id)
      return row && wire(c, row)
    },

    async list() {
      const r = await sql<{
        collection_id: string
        enabled: boolean
        conflict: SyncConflictPolicy
        merge_function: string | null
      }>`
        SELECT collection_id, enabled, conflict, merge_function FROM bastide.sync_collections`.execute(db)
      const byId = new Map(r.rows.map((x) => [x.collection_id, x]))
      const out: SyncCollectionSettings[] = []
      for (const c of collections.list()) {
        const x = byId.get(c.id)
        if (x)
          out.push({
            collection: c.name,
            enabled: x.enabled,
            conflict: x.conflict,
            mergeFunction: x.merge_function,
          })
      }
      return out
    },

    async set(name, raw, by) {
      const input = parseInput(syncSettingsInput, raw)
      if (input.conflict === 'function' && !input.mergeFunction)
        throw errors.validation({
          mergeFunction: { code: 'required', message: "The 'function' policy needs a merge function." },
        })
      const mergeFunction = input.conflict === 'function' ? input.mergeFunction! : null
      const known = collections.get(name)
      return db.transaction().execute(async (trx) => {
        // The catalog as committed (a rename may have landed since the cache was read); FOR SHARE holds it
        // until the trigger is in place.
        const cat = await sql<{ name: string }>`SELECT name FROM bastide.collections
          WHERE id = ${known.id} FOR SHARE`.execute(trx)
        if (!cat.rows[0]) throw errors.notFound('Collection')
        const c: Collection = cat.rows[0].name === known.name ? known : { ...known, name: cat.rows[0].name }
        await sql`SELECT 1 FROM bastide.sync_collections WHERE collection_id = ${c.id} FOR UPDATE`.execute(
          trx,
        )
        const before = await readSyncRow(trx, c.id)
        const turnsOn = input.enabled && !before?.enabled
        if (!before) {
          await sql`INSERT INTO bastide.sync_collections (collection_id, enabled, conflict, merge_function, horizon_xid, horizon_id)
            VALUES (${c.id}, ${input.enabled}, ${input.conflict}, ${mergeFunction},
              pg_current_xact_id()::text::bigint, nextval('bastide.sync_log_id_seq'))`.execute(trx)
        } else {
          await sql`UPDATE bastide.sync_collections SET enabled = ${input.enabled}, conflict = ${input.conflict},
            merge_function = ${mergeFunction}, updated = now()${turnsOn ? sql`, ${NEW_HORIZON}` : sql``}
            WHERE collection_id = ${c.id}`.execute(trx)
        }
        if (input.enabled) await createSyncTrigger(trx, c)
        else if (before?.enabled) {
          await dropSyncTrigger(trx, c)
          // Unlogged from now on: what the log holds can serve no cursor (re-enabling moves the horizon).
          await sql`DELETE FROM bastide.sync_log WHERE collection_id = ${c.id}`.execute(trx)
        }
        const after = { collection: c.name, enabled: input.enabled, conflict: input.conflict, mergeFunction }
        await actions.record(trx, {
          actor: principalId(by),
          action: 'sync.update',
          target: c.name,
          diff: diffOf(before && wire(c, before), after),
        })
        return after
      })
    },
  }
}
