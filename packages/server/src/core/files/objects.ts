import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { StorageObject } from '@bastide/protocol'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import { AppError, errors } from '../../errors/index.ts'
import { BlobTooLargeError, type ByteRange, type FileStore } from '../../storage/file-store.ts'
import type { Principal } from '../auth/principal.ts'
import type { Collection } from '../collections/types.ts'
import { deniesAll } from '../rules/authorize.ts'
import type { Bucket, BucketsService } from './buckets.ts'
import { BYPASS, forbiddenWrite, objectAccess, rowPasses, ruleSql } from './object-access.ts'
import { createGarbage } from './object-garbage.ts'
import { OBJECT_COLUMNS, type ObjectRow, toInfo } from './object-rows.ts'
import { validateKeyPrefix, validateObjectKey, validateObjectMetadata } from './object-schema.ts'
import { createObjectVariants } from './object-variants.ts'
import { createObjectWrites } from './object-writes.ts'
import { mimeMatches, sniffContentType } from './sniff-content-type.ts'
import type { TransformLimiter, TransformParams } from './transform-image.ts'

/** An object as the API shows it (the wire type, declared in packages/protocol). */
export type ObjectInfo = StorageObject

/** An object found for reading: its info, and the blob holding its bytes. */
export interface FoundObject {
  readonly info: ObjectInfo
  readonly blob: string
  readonly bucket: Bucket
}

export interface UploadInput {
  readonly body: Readable
  /** What the client says the bytes are; the bytes themselves decide (see sniffContentType). */
  readonly declaredType?: string | undefined
  /** From Content-Length when the client sent one: refused at once when over the limit. */
  readonly contentLength?: number | undefined
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
  readonly signal?: AbortSignal | undefined
}

export interface ListObjectsQuery {
  readonly prefix?: string | undefined
  readonly after?: string | undefined
  readonly perPage?: number | undefined
}

/** Who is reading: a principal, or a signed URL that already proved the right to one object. */
export type ReadGrant = Principal | { readonly kind: 'signed' }

export interface ObjectsService {
  upload(bucket: string, key: string, input: UploadInput, p: Principal | SignedWriter): Promise<ObjectInfo>
  find(bucket: string, key: string, p: ReadGrant): Promise<FoundObject>
  read(found: FoundObject, range?: ByteRange): Promise<Readable>
  /** The transformed image (cached as a variant of the object), bounded by the transform limiter. */
  variant(
    found: FoundObject,
    params: TransformParams,
  ): Promise<{ blob: string; size: number; mimeType: string; read(): Promise<Readable> }>
  list(
    bucket: string,
    q: ListObjectsQuery,
    p: Principal,
  ): Promise<{ items: ObjectInfo[]; perPage: number; nextCursor: string | null }>
  remove(bucket: string, key: string, p: Principal): Promise<void>
  copy(
    bucket: string,
    input: { from: string; to: string; toBucket?: string | undefined },
    p: Principal,
    move: boolean,
  ): Promise<ObjectInfo>
  /**
   * Checks `p` may do `action` on the object `key` (or, for write, a would-be object there). Read and delete
   * answer 404 when the object is missing or the rule says no.
   */
  authorize(bucket: string, key: string, action: 'read' | 'write' | 'delete', p: Principal): Promise<void>
  /** Deletes the bytes of blobs that no row points at any more (their garbage rows first). */
  collectGarbage(blobs?: readonly string[]): Promise<number>
  /**
   * Tells `listener` of every object created (uploaded, replaced, copied or moved in) and deleted (or moved
   * out) through this service, after commit; returns a function that stops it. A listener must not throw.
   */
  onChange(listener: (change: ObjectChange) => void): () => void
  /** Tells the listeners of objects deleted elsewhere (a record's file fields, attachments.ts), after commit. */
  announceDeleted(
    bucket: string,
    objects: readonly { readonly key: string; readonly size: number; readonly mimeType: string }[],
  ): void
}

/** An object write, after commit (functions' `storage` triggers). */
export interface ObjectChange {
  readonly name: 'object.created' | 'object.deleted'
  readonly bucket: string
  readonly key: string
  readonly size: number
  readonly contentType: string
  readonly at: string
}

/** An upload through a signed URL: the signer's right to write was checked when the URL was made. */
export interface SignedWriter {
  readonly kind: 'signed'
  /** The signer, who owns what is uploaded (null: an admin or a key signed it). */
  readonly owner: string | null
}

export const MAX_PER_PAGE = 1000
const DEFAULT_PER_PAGE = 100

/**
 * Objects: metadata rows in bastide.objects, bytes in the FileStore under random blob names. Rows are
 * written only after their bytes are complete and swapped in one transaction, so a reader sees the old
 * object or the new one, never a partial one; replaced and deleted blobs are recorded as garbage in the
 * same transaction and removed after commit (or by the reconciler, after a crash). Bucket rules decide
 * (object-access.ts); the transactions are in object-writes.ts, image variants in object-variants.ts.
 */
export function createObjectsService(deps: {
  db: Db
  store: FileStore
  buckets: BucketsService
  lookup: (name: string) => Collection | undefined
  limiter: TransformLimiter
  maxFileSize: number
  maxImagePixels: number
  log: Logger
}): ObjectsService {
  const { db, store, buckets, log } = deps
  const { access, findRow, precheck } = objectAccess(deps)
  const garbage = createGarbage(deps)
  const { commitObject, moveObject } = createObjectWrites({ db, garbage })
  const variant = createObjectVariants({ ...deps, garbage, read: (found) => service.read(found) })
  const newBlob = (b: Bucket) => `${b.id}/${randomUUID()}`
  const listeners = new Set<(change: ObjectChange) => void>()
  const changed = (
    name: ObjectChange['name'],
    bucket: string,
    info: { key: string; size: number; mimeType: string },
  ) => {
    if (listeners.size === 0) return
    const change = {
      name,
      bucket,
      key: info.key,
      size: info.size,
      contentType: info.mimeType,
      at: new Date().toISOString(),
    }
    for (const l of listeners) {
      try {
        l(change)
      } catch (err) {
        log.error({ err: (err as Error).message }, 'object change listener failed')
      }
    }
  }

  const service: ObjectsService = {
    async upload(bucketName, key, input, p) {
      const b = await buckets.get(bucketName)
      const a = p.kind === 'signed' ? BYPASS : access(b, 'write', p)
      if (deniesAll(a)) throw forbiddenWrite(b)
      validateObjectKey(key)
      const metadata = input.metadata === undefined ? undefined : validateObjectMetadata(input.metadata)
      const owner = p.kind === 'user' ? p.id : p.kind === 'signed' ? p.owner : null
      const limit = Math.min(b.maxFileSize ?? deps.maxFileSize, deps.maxFileSize)
      if (input.contentLength !== undefined && input.contentLength > limit)
        throw errors.payloadTooLarge(limit)
      await precheck(b, key, owner, metadata, a)

      const sniffed = await sniffContentType(input.body, input.declaredType)
      if (b.allowedMimeTypes.length > 0 && !mimeMatches(sniffed.mimeType, b.allowedMimeTypes)) {
        sniffed.stream.destroy()
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `The ${b.name} bucket does not accept ${sniffed.mimeType} files.`,
          {
            mimeType: sniffed.mimeType,
            allowed: b.allowedMimeTypes,
          },
        )
      }
      const blob = newBlob(b)
      let written: { size: number; sha256: string }
      try {
        written = await store.write(blob, sniffed.stream, {
          maxBytes: limit,
          contentType: sniffed.mimeType,
          ...(input.signal ? { signal: input.signal } : {}),
        })
      } catch (err) {
        if (err instanceof BlobTooLargeError) throw errors.payloadTooLarge(limit)
        throw err
      }
      try {
        const row = await commitObject(
          b,
          key,
          { blob, ...written, mimeType: sniffed.mimeType },
          owner,
          metadata,
          a,
        )
        const info = toInfo(b, row)
        changed('object.created', b.name, info)
        return info
      } catch (err) {
        // Nothing points at the new bytes: drop them now (the reconciler would, later).
        await store.remove(blob).catch(() => {})
        throw err
      }
    },

    async find(bucketName, key, p) {
      const b = await buckets.find(bucketName)
      // 404 for a missing bucket as for a hidden object: names are not disclosed either way.
      if (!b) throw errors.notFound('Object')
      validateObjectKey(key)
      const a = p.kind === 'signed' ? BYPASS : access(b, 'read', p)
      const row = await findRow(b, key, a)
      if (!row) throw errors.notFound('Object')
      return { info: toInfo(b, row), blob: row.blob, bucket: b }
    },

    async read(found, range) {
      const s = await store.read(found.blob, range)
      if (!s) {
        log.error(
          { bucket: found.bucket.name, key: found.info.key, blob: found.blob },
          'object bytes are missing',
        )
        throw errors.notFound('Object')
      }
      return s
    },

    variant,

    async list(bucketName, q, p) {
      const b = await buckets.find(bucketName)
      if (!b) throw errors.notFound('Bucket')
      const a = access(b, 'read', p)
      const perPage = q.perPage ?? DEFAULT_PER_PAGE
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE)
        throw errors.validation({ perPage: { code: 'invalid', message: `perPage is 1 to ${MAX_PER_PAGE}.` } })
      if (deniesAll(a)) return { items: [], perPage, nextCursor: null }
      const prefix = validateKeyPrefix(q.prefix ?? '')
      const after = q.after ? decodeCursor(q.after) : undefined
      const upper = prefixUpperBound(prefix)
      const res = await sql<ObjectRow>`SELECT ${OBJECT_COLUMNS} FROM bastide.objects o
        WHERE o.bucket_id = ${b.id}::uuid
          ${prefix ? sql`AND o.key >= ${prefix}` : sql``}
          ${upper !== undefined ? sql`AND o.key < ${upper}` : sql``}
          ${after !== undefined ? sql`AND o.key > ${after}` : sql``}${ruleSql(a)}
        ORDER BY o.key LIMIT ${perPage + 1}`.execute(db)
      const rows = res.rows.slice(0, perPage)
      return {
        items: rows.map((r) => toInfo(b, r)),
        perPage,
        nextCursor: res.rows.length > perPage ? encodeCursor(rows[rows.length - 1]!.key) : null,
      }
    },

    async remove(bucketName, key, p) {
      const b = await buckets.find(bucketName)
      if (!b) throw errors.notFound('Object')
      validateObjectKey(key)
      const a = access(b, 'delete', p)
      if (deniesAll(a)) throw errors.notFound('Object')
      // One statement: the row, its variants (cascade) and the garbage rows for their blobs, all or nothing.
      const res = await sql<{ n: number; blobs: string[] | null; size: number | null; mime: string | null }>`
        WITH d AS (DELETE FROM bastide.objects o WHERE o.bucket_id = ${b.id}::uuid AND o.key = ${key}${ruleSql(a)}
                   RETURNING o.id, o.blob, o.size, o."mimeType"),
             v AS (SELECT blob FROM bastide.object_variants WHERE object_id IN (SELECT id FROM d)),
             g AS (INSERT INTO bastide.garbage_blobs (blob)
                   SELECT blob FROM d UNION ALL SELECT blob FROM v ON CONFLICT DO NOTHING RETURNING blob)
        SELECT (SELECT count(*) FROM d)::int AS n, (SELECT array_agg(blob) FROM g) AS blobs,
          (SELECT size FROM d LIMIT 1)::float8 AS size, (SELECT "mimeType" FROM d LIMIT 1) AS mime`.execute(
        db,
      )
      const r = res.rows[0]
      if (!r || r.n === 0) throw errors.notFound('Object')
      garbage.collectSoon(r.blobs ?? [])
      changed('object.deleted', b.name, { key, size: Number(r.size ?? 0), mimeType: r.mime ?? '' })
    },

    async copy(bucketName, input, p, move) {
      const from = validateObjectKey(input.from)
      const to = validateObjectKey(input.to)
      const src = await service.find(bucketName, from, p)
      const dest = input.toBucket ? await buckets.get(input.toBucket) : src.bucket
      if (dest.id === src.bucket.id && from === to) return src.info
      const a = access(dest, 'write', p)
      if (deniesAll(a)) throw forbiddenWrite(dest)
      const limit = Math.min(dest.maxFileSize ?? deps.maxFileSize, deps.maxFileSize)
      if (src.info.size > limit) throw errors.payloadTooLarge(limit)
      if (dest.allowedMimeTypes.length > 0 && !mimeMatches(src.info.mimeType, dest.allowedMimeTypes))
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `The ${dest.name} bucket does not accept ${src.info.mimeType} files.`,
        )
      if (move) {
        const moved = await moveObject(src, dest, to, a, access(src.bucket, 'delete', p))
        changed('object.deleted', src.bucket.name, src.info)
        changed('object.created', dest.name, moved)
        return moved
      }
      const owner = p.kind === 'user' ? p.id : src.info.owner
      // Blobs are never shared between rows (deleting one row frees its bytes): a copy copies them.
      const blob = newBlob(dest)
      await store.copy(src.blob, blob)
      try {
        const row = await commitObject(
          dest,
          to,
          { blob, size: src.info.size, sha256: src.info.sha256, mimeType: src.info.mimeType },
          owner,
          src.info.metadata as Record<string, unknown>,
          a,
        )
        const info = toInfo(dest, row)
        changed('object.created', dest.name, info)
        return info
      } catch (err) {
        await store.remove(blob).catch(() => {})
        throw err
      }
    },

    async authorize(bucketName, key, action, p) {
      if (action === 'read') {
        await service.find(bucketName, key, p)
        return
      }
      if (action === 'delete') {
        const b = await buckets.find(bucketName)
        if (!b) throw errors.notFound('Object')
        validateObjectKey(key)
        if (!(await findRow(b, key, access(b, 'delete', p)))) throw errors.notFound('Object')
        return
      }
      const b = await buckets.get(bucketName)
      validateObjectKey(key)
      const a = access(b, 'write', p)
      if (deniesAll(a)) throw forbiddenWrite(b)
      await precheck(b, key, p.kind === 'user' ? p.id : null, undefined, a)
      const existing = await findRow(b, key, BYPASS)
      if (existing && a.kind === 'expression' && !(await rowPasses(db, existing.id, a.predicate)))
        throw forbiddenWrite(b)
    },

    collectGarbage: garbage.collect,

    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },

    announceDeleted(bucket, deleted) {
      for (const o of deleted) changed('object.deleted', bucket, { ...o, size: Number(o.size) })
    },
  }

  return service
}

/** The smallest string greater than every string starting with `prefix` (keys compare bytewise, UTF-8). */
export function prefixUpperBound(prefix: string): string | undefined {
  const chars = [...prefix]
  while (chars.length) {
    const last = chars.pop()!.codePointAt(0)!
    let next = last + 1
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000
    if (next <= 0x10ffff) return chars.join('') + String.fromCodePoint(next)
  }
  return undefined
}

const encodeCursor = (key: string) => Buffer.from(key, 'utf8').toString('base64url')
function decodeCursor(c: string): string {
  const key = Buffer.from(c, 'base64url').toString('utf8')
  if (!key || encodeCursor(key) !== c) throw errors.invalidCursor()
  return key
}
