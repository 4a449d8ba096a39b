import type { SyncOverview } from '@bastide/protocol'
import { sql } from 'kysely'
import { z } from 'zod'
import type { Collection } from '../../core/collections/types.ts'
import { createSyncChanges, type SyncChanges } from '../../core/sync/changes.ts'
import { shapeOf } from '../../core/sync/cursor.ts'
import { createMergeRunner } from '../../core/sync/merge.ts'
import { purgeSyncLog } from '../../core/sync/retention.ts'
import {
  createSyncSettings,
  dropForeignLog,
  raiseHorizon,
  readSyncRow,
  type SyncSettingsStore,
} from '../../core/sync/settings.ts'
import { createSyncTrigger, syncTriggerState } from '../../core/sync/triggers.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { syncOpenApi } from './openapi.ts'
import { syncPushRoutes } from './push-routes.ts'
import { syncAdminRoutes, syncChangesRoutes } from './routes.ts'

export interface SyncService {
  /** Which collections sync, and how their conflicts resolve. */
  readonly settings: SyncSettingsStore
  /** The pull side: a page of changes since a cursor. */
  readonly changes: SyncChanges
  /** Removes log entries and push results older than `before` (the retention job; tests call it directly). */
  purge(before: Date): Promise<{ log: number; mutations: number }>
}

declare module '../define-module.ts' {
  interface Services {
    /** Offline sync: settings per collection, the change log's pull side. */
    sync: SyncService
  }
}

const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v)

/** Whether a schema change can change what a cursor's records look like or who sees them (not a rename). */
const reshaped = (a: Collection, b: Collection) => shapeOf(a) !== shapeOf(b)

/**
 * Offline sync: a row trigger logs each enabled collection's changes (bastide.sync_log), clients pull them at
 * /api/collections/:name/changes under the collection's rules and push queued writes at /api/sync/push;
 * /api/admin/sync turns collections on and sets their conflict policy. See docs/offline.md.
 */
export const syncModule = defineModule({
  id: 'sync',
  config: z.object({
    /** Change-log entries (and push results) older than this are removed; a client further behind resyncs. */
    BASTIDE_SYNC_RETENTION_DAYS: z.preprocess(
      unsetIfEmpty,
      z.coerce.number().int().min(1).max(3650).default(30),
    ),
  }),
  migrations,
  async start({ db, settings: env, log, use, actions, secret }) {
    const records = use('records')
    const collections = use('collections')
    const settings = createSyncSettings({ db, collections, actions })
    const changes = createSyncChanges({ db, collections, secret })
    const merge = createMergeRunner(use('functions'))
    const retentionDays = env.BASTIDE_SYNC_RETENTION_DAYS
    const purge = (before: Date) => purgeSyncLog(db, before)

    async function overview(): Promise<SyncOverview> {
      const r = await sql<{ entries: number; oldest: Date | null }>`
        SELECT count(*)::int AS entries, min(at) AS oldest FROM bastide.sync_log`.execute(db)
      const { entries, oldest } = r.rows[0]!
      return {
        retentionDays,
        collections: await settings.list(),
        log: { entries, oldest: oldest ? new Date(oldest).toISOString() : null },
      }
    }

    /**
     * An enabled collection whose table lost its triggers (restored, recreated) gets them back; triggers made
     * before its fields changed (they name its multiple relations) or by an older version are made again.
     * One at a time, for the collection as the cache has it when its turn comes: two schema changes in a row
     * cannot leave the older one's triggers in place.
     */
    let triggers: Promise<unknown> = Promise.resolve()
    const ensureTrigger = (id: string): Promise<void> => {
      const run = triggers.then(async () => {
        const c = collections.list().find((x) => x.id === id)
        if (!c) return
        const row = await readSyncRow(db, c.id)
        if (!row?.enabled) return
        const state = await syncTriggerState(db, c)
        if (state === 'ok') return
        await createSyncTrigger(db, c)
        if (state === 'missing')
          log.warn({ collection: c.name }, 'sync: change-log trigger was missing; recreated')
        else log.info({ collection: c.name }, 'sync: change-log trigger updated to the collection’s fields')
      })
      triggers = run.catch(() => {})
      return run
    }
    const warn = (what: string) => (err: unknown) =>
      log.warn({ err: (err as Error).message }, `sync: ${what} failed`)

    return {
      provides: { sync: { settings, changes, purge } },
      routes: [
        { path: '/api/collections', app: syncChangesRoutes({ changes }) },
        { path: '/api/sync', app: syncPushRoutes({ db, records, collections, settings, merge, log }) },
        { path: '/api/admin/sync', app: syncAdminRoutes({ settings, collections, overview }) },
      ],
      openapi: syncOpenApi,
      on: {
        'collection.updated': ({ collection, previous }) => {
          // Cursors carry a hash of the fields and rules already (the pull compares it at once); the horizon
          // is the durable record of the change, for whatever reads the settings row.
          const work = async () => {
            if (previous && reshaped(previous, collection)) await raiseHorizon(db, collection.id)
            await ensureTrigger(collection.id)
          }
          work().catch(warn('horizon after a schema change'))
        },
        'collection.deleted': ({ collection }) => {
          const work = async () => {
            await db.transaction().execute(async (trx) => {
              await sql`DELETE FROM bastide.sync_collections WHERE collection_id = ${collection.id}`.execute(
                trx,
              )
              await sql`DELETE FROM bastide.sync_log WHERE collection_id = ${collection.id}`.execute(trx)
            })
          }
          work().catch(warn('cleanup of a deleted collection'))
        },
      },
      jobs: [
        {
          name: 'purge-log',
          everyMs: 60 * 60_000,
          firstAfterMs: 60_000,
          run: async () => {
            const removed = await purge(new Date(Date.now() - retentionDays * 86_400_000))
            if (removed.log + removed.mutations > 0) log.info(removed, 'sync: old change-log entries removed')
          },
        },
      ],
      async ready() {
        if (await dropForeignLog(db))
          log.warn('sync: the change log came from another database cluster (a restore); devices will resync')
        const on = await sql<{ id: string }>`SELECT collection_id AS id FROM bastide.sync_collections
          WHERE enabled`.execute(db)
        const ids = new Set(on.rows.map((r) => r.id))
        for (const c of collections.list()) if (ids.has(c.id)) await ensureTrigger(c.id)
      },
    }
  },
})
