import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { AppError } from '../../errors/index.ts'
import type { Principal } from '../auth/principal.ts'
import type { BucketsService } from './buckets.ts'
import type { ObjectsService } from './objects.ts'

/**
 * Deletes the objects `keys` of a bucket inside `tx`: their rows (their variants go by cascade) and, in the
 * same statement, garbage rows for their blobs and their variants' blobs. Returns those blobs, whose bytes
 * the caller removes after commit (`objects.collectGarbage`); a crash in between leaves them to the
 * reconciler. Keys with no object are skipped.
 */
export async function deleteObjectsInTx(
  tx: Tx,
  bucketId: string,
  keys: readonly string[],
): Promise<{ blobs: string[]; deleted: DeletedObject[] }> {
  if (keys.length === 0) return { blobs: [], deleted: [] }
  const res = await sql<{ blobs: string[] | null; deleted: DeletedObject[] | null }>`
    WITH d AS (DELETE FROM bastide.objects o WHERE o.bucket_id = ${bucketId}::uuid AND o.key = ANY(${[...keys]}::text[])
               RETURNING o.id, o.blob, o.key, o.size, o."mimeType"),
         v AS (SELECT blob FROM bastide.object_variants WHERE object_id IN (SELECT id FROM d)),
         g AS (INSERT INTO bastide.garbage_blobs (blob)
               SELECT blob FROM d UNION ALL SELECT blob FROM v ON CONFLICT DO NOTHING RETURNING blob)
    SELECT (SELECT array_agg(blob) FROM g) AS blobs,
      (SELECT json_agg(json_build_object('key', key, 'size', size, 'mimeType', "mimeType")) FROM d) AS deleted`.execute(
    tx.db,
  )
  return { blobs: res.rows[0]?.blobs ?? [], deleted: res.rows[0]?.deleted ?? [] }
}

/** An object deleted with its record (see ObjectsService.announceDeleted). */
interface DeletedObject {
  readonly key: string
  readonly size: number
  readonly mimeType: string
}

/**
 * What records need from storage for `file` fields: whether a caller may attach an existing object, and
 * deleting the objects a record lets go of, in the record's own transaction.
 */
export interface FileAttachments {
  /**
   * May `p` attach the existing object `key`? Attaching hands the object's life to the record (removing it
   * from the record deletes it), so a user must be able to read it and to own it or delete it under the
   * bucket's rules. Admins and API keys only need it to exist.
   */
  canAttach(bucket: string, key: string, p: Principal): Promise<boolean>
  /** Deletes the objects in `tx`; their bytes go after commit. */
  release(tx: Tx, bucket: string, keys: readonly string[]): Promise<void>
  /** Deletes objects now, in a transaction of their own (uploads of a record write that failed). */
  discard(bucket: string, keys: readonly string[]): Promise<void>
}

export function createFileAttachments(deps: {
  db: Db
  buckets: BucketsService
  objects: ObjectsService
  log: Logger
}): FileAttachments {
  const { db, buckets, objects, log } = deps
  const collectSoon = (blobs: readonly string[]) => {
    if (blobs.length === 0) return
    objects
      .collectGarbage(blobs)
      .catch((err) =>
        log.warn({ err: (err as Error).message }, 'could not delete detached blobs; the reconciler will'),
      )
  }
  const denied = (err: unknown) => {
    if (err instanceof AppError && (err.status === 404 || err.status === 400)) return false
    throw err
  }

  return {
    async canAttach(bucket, key, p) {
      if (p.kind === 'admin' || p.kind === 'key') {
        return objects.find(bucket, key, { kind: 'signed' }).then(() => true, denied)
      }
      const found = await objects.find(bucket, key, p).catch((err: unknown) => {
        denied(err)
        return undefined
      })
      if (!found) return false
      if (p.kind === 'user' && found.info.owner === p.id) return true
      return objects.authorize(bucket, key, 'delete', p).then(() => true, denied)
    },

    async release(tx, bucket, keys) {
      if (keys.length === 0) return
      const b = await buckets.find(bucket)
      if (!b) return
      const { blobs, deleted } = await deleteObjectsInTx(tx, b.id, keys)
      tx.afterCommit(() => {
        collectSoon(blobs)
        objects.announceDeleted(b.name, deleted)
      })
    },

    async discard(bucket, keys) {
      if (keys.length === 0) return
      const b = await buckets.find(bucket)
      if (!b) return
      const { blobs, deleted } = await inTransaction(db, (tx) => deleteObjectsInTx(tx, b.id, keys))
      collectSoon(blobs)
      objects.announceDeleted(b.name, deleted)
    },
  }
}
