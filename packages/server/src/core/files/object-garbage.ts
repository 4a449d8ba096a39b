import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import type { FileStore } from '../../storage/file-store.ts'
import { BACKUP_LOCK_KEY } from '../backup/backup-lock.ts'

/**
 * Blobs no row points at any more. They are recorded in bastide.garbage_blobs in the transaction that lets
 * go of them, and their bytes deleted after commit (or by the reconciler, after a crash).
 */
export interface Garbage {
  /** Records `blobs` as garbage, in `executor`'s transaction. */
  record(executor: any, blobs: readonly string[]): Promise<void>
  /** Deletes the bytes of `blobs` (default: the oldest garbage), then their rows; returns how many. */
  collect(blobs?: readonly string[]): Promise<number>
  /** After commit: bytes nothing points at go now; if that fails, the garbage rows keep them for later. */
  collectSoon(blobs: readonly string[]): void
}

export function createGarbage(deps: {
  readonly db: Db
  readonly store: FileStore
  readonly log: Logger
}): Garbage {
  const { db, store, log } = deps

  async function collect(blobs?: readonly string[]): Promise<number> {
    const list =
      blobs ??
      (
        await sql<{ blob: string }>`SELECT blob FROM bastide.garbage_blobs ORDER BY since LIMIT 1000`.execute(
          db,
        )
      ).rows.map((r) => r.blob)
    if (list.length === 0) return 0
    // A backup running now may still read these bytes (it holds the lock exclusively from before its snapshot): leave
    // them, and their rows, for a later run.
    return db.transaction().execute(async (trx) => {
      const free = await sql<{
        ok: boolean
      }>`SELECT pg_try_advisory_xact_lock_shared(${BACKUP_LOCK_KEY}) AS ok`.execute(trx)
      if (!free.rows[0]?.ok) return 0
      await store.removeMany(list)
      await sql`DELETE FROM bastide.garbage_blobs WHERE blob = ANY(${[...list]}::text[])`.execute(trx)
      return list.length
    })
  }

  return {
    async record(executor, blobs) {
      if (blobs.length === 0) return
      await sql`INSERT INTO bastide.garbage_blobs (blob) SELECT unnest(${[...blobs]}::text[]) ON CONFLICT DO NOTHING`.execute(
        executor,
      )
    },
    collect,
    collectSoon(blobs) {
      if (blobs.length === 0) return
      collect(blobs).catch((err) =>
        log.warn(
          { err: (err as Error).message, blobs: blobs.length },
          'could not delete replaced blobs; the reconciler will',
        ),
      )
    },
  }
}
