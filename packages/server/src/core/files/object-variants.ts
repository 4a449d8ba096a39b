import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { AppError } from '../../errors/index.ts'
import type { FileStore } from '../../storage/file-store.ts'
import type { Garbage } from './object-garbage.ts'
import type { FoundObject, ObjectsService } from './objects.ts'
import {
  type TransformLimiter,
  type TransformParams,
  transformImage,
  transformKey,
} from './transform-image.ts'

/** sharp holds a whole source image in memory: larger sources are not transformed. */
const MAX_TRANSFORM_SOURCE_BYTES = 50 * 1024 * 1024

/** Image variants: made once per (object, transform), cached as blobs of their own, dropped with the object. */
export function createObjectVariants(deps: {
  readonly db: Db
  readonly store: FileStore
  readonly garbage: Garbage
  readonly limiter: TransformLimiter
  readonly maxImagePixels: number
  /** The bytes of an object (or of a variant, under its blob). */
  readonly read: (found: FoundObject) => Promise<Readable>
}): ObjectsService['variant'] {
  const { db, store, garbage } = deps

  async function variant(found: FoundObject, params: TransformParams) {
    const t = transformKey(params)
    const cached = (
      await sql<{ blob: string; size: number; mimeType: string }>`
        SELECT blob, size, "mimeType" FROM bastide.object_variants
        WHERE object_id = ${found.info.id}::uuid AND transform = ${t}`.execute(db)
    ).rows[0]
    const out = cached ?? (await deps.limiter.run(() => makeVariant(found, params, t)))
    return { ...out, size: Number(out.size), read: () => deps.read({ ...found, blob: out.blob }) }
  }

  async function makeVariant(found: FoundObject, params: TransformParams, t: string) {
    if (found.info.size > MAX_TRANSFORM_SOURCE_BYTES) {
      throw new AppError('UNPROCESSABLE_IMAGE', 'The image is too large to transform.', {
        maxBytes: MAX_TRANSFORM_SOURCE_BYTES,
      })
    }
    const image = await transformImage(await deps.read(found), params, {
      maxInputPixels: deps.maxImagePixels,
      maxInputBytes: MAX_TRANSFORM_SOURCE_BYTES,
    })
    const blob = `${found.bucket.id}/variants/${randomUUID()}`
    const written = await store.write(blob, image.stream)
    // Kept only while the object still has the bytes it was made from: an overwrite in the meantime dropped
    // the variants, and this one would be stale.
    const res = await sql<{ blob: string }>`
      INSERT INTO bastide.object_variants (object_id, transform, blob, size, "mimeType")
      SELECT o.id, ${t}, ${blob}, ${written.size}, ${image.mimeType} FROM bastide.objects o
      WHERE o.id = ${found.info.id}::uuid AND o.blob = ${found.blob}
      ON CONFLICT (object_id, transform) DO NOTHING RETURNING blob`.execute(db)
    if (res.rows.length === 0) {
      // Another request made the same variant first, or the source changed: serve these bytes this once.
      await garbage.record(db, [blob])
      setTimeout(() => garbage.collectSoon([blob]), 60_000).unref()
    }
    return { blob, size: written.size, mimeType: image.mimeType }
  }

  return variant
}
