import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { AppError, errors } from '../../errors/index.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { type Decision, deniesAll } from '../rules/authorize.ts'
import type { Bucket } from './buckets.ts'
import { forbiddenWrite, rowPasses, ruleSql } from './object-access.ts'
import type { Garbage } from './object-garbage.ts'
import { OBJECT_COLUMNS, type ObjectRow, toInfo } from './object-rows.ts'
import type { FoundObject, ObjectInfo } from './objects.ts'

/** The transactions that put an object's row in place: a new or replaced object, and a move. */
export function createObjectWrites(deps: { readonly db: Db; readonly garbage: Garbage }) {
  const { db, garbage } = deps

  /**
   * Inserts or replaces the row for `key` with blob `blob`, in one transaction that also checks the write
   * rule on the old row (an overwrite is an update) and on the new one, and records the replaced blobs as
   * garbage. Returns the new row.
   */
  async function commitObject(
    b: Bucket,
    key: string,
    blob: { blob: string; size: number; sha256: string; mimeType: string },
    owner: string | null,
    metadata: Record<string, unknown> | undefined,
    a: Decision,
  ): Promise<ObjectRow> {
    return inTransaction(db, async (tx) => {
      for (let attempt = 0; ; attempt++) {
        const existing = (
          await sql<ObjectRow>`SELECT ${OBJECT_COLUMNS} FROM bastide.objects o
            WHERE o.bucket_id = ${b.id}::uuid AND o.key = ${key} FOR UPDATE`.execute(tx.db)
        ).rows[0]
        let row: ObjectRow | undefined
        if (existing) {
          if (a.kind === 'expression' && !(await rowPasses(tx.db, existing.id, a.predicate)))
            throw forbiddenWrite(b)
          const variants = await sql<{ blob: string }>`
            DELETE FROM bastide.object_variants WHERE object_id = ${existing.id}::uuid RETURNING blob`.execute(
            tx.db,
          )
          row = (
            await sql<ObjectRow>`UPDATE bastide.objects o SET blob = ${blob.blob}, size = ${blob.size},
                sha256 = ${blob.sha256}, "mimeType" = ${blob.mimeType},
                metadata = ${metadata === undefined ? sql`o.metadata` : sql`${JSON.stringify(metadata)}::jsonb`},
                updated = now(), version = o.version + 1
              WHERE o.id = ${existing.id}::uuid RETURNING ${OBJECT_COLUMNS}`.execute(tx.db)
          ).rows[0]
          const old = [existing.blob, ...variants.rows.map((v) => v.blob)]
          await garbage.record(tx.db, old)
          tx.afterCommit(() => garbage.collectSoon(old))
        } else {
          row = (
            await sql<ObjectRow>`INSERT INTO bastide.objects AS o
                (id, bucket_id, key, blob, size, sha256, "mimeType", owner, metadata)
              VALUES (${uuidv7()}::uuid, ${b.id}::uuid, ${key}, ${blob.blob}, ${blob.size}, ${blob.sha256},
                ${blob.mimeType}, ${owner}::uuid, ${JSON.stringify(metadata ?? {})}::jsonb)
              ON CONFLICT (bucket_id, key) DO NOTHING RETURNING ${OBJECT_COLUMNS}`.execute(tx.db)
          ).rows[0]
          // Another upload created this key since our SELECT: go again, now as an overwrite of theirs.
          if (!row && attempt < 3) continue
        }
        if (!row) throw new AppError('CONFLICT', 'The object is being written by another request; retry.')
        if (a.kind === 'expression' && !(await rowPasses(tx.db, row.id, a.predicate))) throw forbiddenWrite(b)
        return row
      }
    }).catch((err: { code?: string }) => {
      // The bucket went away while the bytes streamed in.
      if (err.code === '23503') throw errors.notFound('Bucket')
      throw err
    })
  }

  /**
   * A move is the same row under a new bucket and key, bytes and variants untouched, in one transaction:
   * the source must pass its delete rule, the moved row the destination's write rule, and an object already
   * at the destination is replaced (its blobs become garbage).
   */
  async function moveObject(
    src: FoundObject,
    dest: Bucket,
    to: string,
    write: Decision,
    del: Decision,
  ): Promise<ObjectInfo> {
    if (deniesAll(del)) throw errors.notFound('Object')
    return inTransaction(db, async (tx) => {
      const locked = await sql<{ id: string }>`SELECT o.id FROM bastide.objects o
        WHERE o.id = ${src.info.id}::uuid${ruleSql(del)} FOR UPDATE`.execute(tx.db)
      if (!locked.rows[0]) throw errors.notFound('Object')
      const existing = (
        await sql<ObjectRow>`SELECT ${OBJECT_COLUMNS} FROM bastide.objects o
          WHERE o.bucket_id = ${dest.id}::uuid AND o.key = ${to} FOR UPDATE`.execute(tx.db)
      ).rows[0]
      if (existing) {
        if (write.kind === 'expression' && !(await rowPasses(tx.db, existing.id, write.predicate)))
          throw forbiddenWrite(dest)
        const gone = await sql<{ blob: string }>`
          WITH v AS (SELECT blob FROM bastide.object_variants WHERE object_id = ${existing.id}::uuid),
               d AS (DELETE FROM bastide.objects WHERE id = ${existing.id}::uuid RETURNING blob)
          SELECT blob FROM d UNION ALL SELECT blob FROM v`.execute(tx.db)
        const blobs = gone.rows.map((r) => r.blob)
        await garbage.record(tx.db, blobs)
        tx.afterCommit(() => garbage.collectSoon(blobs))
      }
      const row = (
        await sql<ObjectRow>`UPDATE bastide.objects o SET bucket_id = ${dest.id}::uuid, key = ${to}, updated = now(),
            version = o.version + 1
          WHERE o.id = ${src.info.id}::uuid RETURNING ${OBJECT_COLUMNS}`.execute(tx.db)
      ).rows[0]!
      if (write.kind === 'expression' && !(await rowPasses(tx.db, row.id, write.predicate)))
        throw forbiddenWrite(dest)
      return toInfo(dest, row)
    })
  }

  return { commitObject, moveObject }
}
