import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { type RawBuilder, sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { AppError, errors } from '../../errors/index.ts'
import { BlobTooLargeError, type ByteRange, type FileStore } from '../../storage/file-store.ts'
import { authRecord, hasScope, type Principal } from '../auth/principal.ts'
import type { Collection } from '../collections/types.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { bindFilter, compileFilter } from '../rules/index.ts'
import type { Bucket, BucketAction, BucketsService } from './buckets.ts'
import {
  OBJECTS_SCHEMA,
  validateKeyPrefix,
  validateObjectKey,
  validateObjectMetadata,
} from './object-schema.ts'
import { mimeMatches, sniffContentType } from './sniff-content-type.ts'
import {
  type TransformLimiter,
  type TransformParams,
  transformImage,
  transformKey,
} from './transform-image.ts'

/** An object as the API shows it. */
export interface ObjectInfo {
  readonly id: string
  readonly bucket: string
  readonly key: string
  readonly size: number
  readonly sha256: string
  readonly mimeType: string
  readonly owner: string | null
  readonly metadata: Readonly<Record<string, unknown>>
  readonly created: string
  readonly updated: string
  readonly version: number
}

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
}

/** An upload through a signed URL: the signer's right to write was checked when the URL was made. */
export interface SignedWriter {
  readonly kind: 'signed'
  /** The signer, who owns what is uploaded (null: an admin or a key signed it). */
  readonly owner: string | null
}

export const MAX_PER_PAGE = 1000
const DEFAULT_PER_PAGE = 100
/** sharp holds a whole source image in memory: larger sources are not transformed. */
const MAX_TRANSFORM_SOURCE_BYTES = 50 * 1024 * 1024

type Access = { bypass: true } | { bypass: false; rule: RawBuilder<unknown> | undefined; denied: boolean }

type Row = {
  id: string
  bucket_id: string
  key: string
  blob: string
  size: number
  sha256: string
  mimeType: string
  owner: string | null
  metadata: Record<string, unknown>
  created: string
  updated: string
  version: number
}

const toInfo = (b: Bucket, r: Row): ObjectInfo => ({
  id: r.id,
  bucket: b.name,
  key: r.key,
  size: Number(r.size),
  sha256: r.sha256,
  mimeType: r.mimeType,
  owner: r.owner,
  metadata: r.metadata ?? {},
  created: r.created,
  updated: r.updated,
  version: r.version,
})

const COLUMNS = sql`o.id, o.bucket_id, o.key, o.blob, o.size, o.sha256, o."mimeType", o.owner, o.metadata, o.created, o.updated, o.version`

/**
 * Objects: metadata rows in bastide.objects, bytes in the FileStore under random blob names. Rows are
 * written only after their bytes are complete and swapped in one transaction, so a reader sees the old
 * object or the new one, never a partial one; replaced and deleted blobs are recorded as garbage in the
 * same transaction and removed after commit (or by the reconciler, after a crash).
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

  /**
   * Who may do `action` in bucket `b`: admins, and keys with the storage scope, bypass rules; everyone else
   * gets the bucket's rule compiled against bastide.objects (alias `o`) for this request.
   */
  function access(b: Bucket, action: BucketAction, p: Principal): Access {
    if (p.kind === 'admin') return { bypass: true }
    if (p.kind === 'key') {
      const scope = action === 'read' ? 'storage:read' : 'storage:write'
      if (!hasScope(p, scope)) throw errors.forbidden(`This API key lacks the ${scope} scope.`)
      return { bypass: true }
    }
    if (action === 'read' && b.public) return { bypass: false, rule: undefined, denied: false }
    const src = b.rules[action]
    if (src === null) return { bypass: false, rule: undefined, denied: true }
    if (src.trim() === '') return { bypass: false, rule: undefined, denied: false }
    const bound = bindFilter(src, OBJECTS_SCHEMA, deps.lookup, { auth: authRecord(p) }, false)
    if (bound.kind === 'const') return { bypass: false, rule: undefined, denied: !bound.value }
    return { bypass: false, rule: compileFilter(bound, 'o'), denied: false }
  }

  const ruleSql = (a: Access) => (!a.bypass && a.rule ? sql` AND (${a.rule})` : sql``)

  /** The object row for `key`, if `a` lets the caller see it. */
  async function findRow(
    b: Bucket,
    key: string,
    a: Access,
    executor: Db | any = db,
  ): Promise<Row | undefined> {
    if (!a.bypass && a.denied) return undefined
    const res = await sql<Row>`SELECT ${COLUMNS} FROM bastide.objects o
      WHERE o.bucket_id = ${b.id}::uuid AND o.key = ${key}${ruleSql(a)}`.execute(executor)
    return res.rows[0]
  }

  /** Does the object row `id` (as it now stands in this transaction) pass `rule`? */
  async function rowPasses(executor: any, id: string, rule: RawBuilder<unknown>): Promise<boolean> {
    const res = await sql<{
      ok: boolean
    }>`SELECT (${rule}) AS ok FROM bastide.objects o WHERE o.id = ${id}::uuid`.execute(executor)
    return res.rows[0]?.ok === true
  }

  /**
   * Before any byte is read: can the would-be object pass the write rule at all? Only rules that do not
   * read the bytes' properties (size, mimeType) can be decided now; the rest is decided on the stored row.
   */
  async function precheck(
    b: Bucket,
    key: string,
    owner: string | null,
    metadata: unknown,
    a: Access,
  ): Promise<void> {
    if (a.bypass || !a.rule) return
    const src = b.rules.write ?? ''
    if (/\b(size|mimeType)\b/.test(src)) return
    const res = await sql<{ ok: boolean }>`SELECT (${a.rule}) AS ok FROM (SELECT
        ${randomUUID()}::uuid AS id, ${key}::text COLLATE "C" AS key, 0::bigint AS size, ''::text AS "mimeType",
        ${owner}::uuid AS owner, ${JSON.stringify(metadata ?? {})}::jsonb AS metadata,
        now() AS created, now() AS updated, 1 AS version) AS o`.execute(db)
    if (!res.rows[0]?.ok) throw forbiddenWrite(b)
  }

  const forbiddenWrite = (b: Bucket) =>
    errors.forbidden(`You are not allowed to write to the ${b.name} bucket here.`)

  async function garbage(executor: any, blobs: readonly string[]): Promise<void> {
    if (blobs.length === 0) return
    await sql`INSERT INTO bastide.garbage_blobs (blob) SELECT unnest(${[...blobs]}::text[]) ON CONFLICT DO NOTHING`.execute(
      executor,
    )
  }

  async function collectGarbage(blobs?: readonly string[]): Promise<number> {
    const list =
      blobs ??
      (
        await sql<{ blob: string }>`SELECT blob FROM bastide.garbage_blobs ORDER BY since LIMIT 1000`.execute(
          db,
        )
      ).rows.map((r) => r.blob)
    if (list.length === 0) return 0
    await store.removeMany(list)
    await sql`DELETE FROM bastide.garbage_blobs WHERE blob = ANY(${[...list]}::text[])`.execute(db)
    return list.length
  }

  /** After commit: bytes nothing points at go now; if that fails, the garbage rows keep them for later. */
  const collectSoon = (blobs: readonly string[]) => {
    if (blobs.length === 0) return
    collectGarbage(blobs).catch((err) =>
      log.warn(
        { err: (err as Error).message, blobs: blobs.length },
        'could not delete replaced blobs; the reconciler will',
      ),
    )
  }

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
    a: Access,
  ): Promise<Row> {
    return inTransaction(db, async (tx) => {
      for (let attempt = 0; ; attempt++) {
        const existing = (
          await sql<Row>`SELECT ${COLUMNS} FROM bastide.objects o
            WHERE o.bucket_id = ${b.id}::uuid AND o.key = ${key} FOR UPDATE`.execute(tx.db)
        ).rows[0]
        let row: Row | undefined
        if (existing) {
          if (!a.bypass && a.rule && !(await rowPasses(tx.db, existing.id, a.rule))) throw forbiddenWrite(b)
          const variants = await sql<{ blob: string }>`
            DELETE FROM bastide.object_variants WHERE object_id = ${existing.id}::uuid RETURNING blob`.execute(
            tx.db,
          )
          row = (
            await sql<Row>`UPDATE bastide.objects o SET blob = ${blob.blob}, size = ${blob.size},
                sha256 = ${blob.sha256}, "mimeType" = ${blob.mimeType},
                metadata = ${metadata === undefined ? sql`o.metadata` : sql`${JSON.stringify(metadata)}::jsonb`},
                updated = now(), version = o.version + 1
              WHERE o.id = ${existing.id}::uuid RETURNING ${COLUMNS}`.execute(tx.db)
          ).rows[0]
          const old = [existing.blob, ...variants.rows.map((v) => v.blob)]
          await garbage(tx.db, old)
          tx.afterCommit(() => collectSoon(old))
        } else {
          row = (
            await sql<Row>`INSERT INTO bastide.objects AS o
                (id, bucket_id, key, blob, size, sha256, "mimeType", owner, metadata)
              VALUES (${uuidv7()}::uuid, ${b.id}::uuid, ${key}, ${blob.blob}, ${blob.size}, ${blob.sha256},
                ${blob.mimeType}, ${owner}::uuid, ${JSON.stringify(metadata ?? {})}::jsonb)
              ON CONFLICT (bucket_id, key) DO NOTHING RETURNING ${COLUMNS}`.execute(tx.db)
          ).rows[0]
          // Another upload created this key since our SELECT: go again, now as an overwrite of theirs.
          if (!row && attempt < 3) continue
        }
        if (!row) throw new AppError('CONFLICT', 'The object is being written by another request; retry.')
        if (!a.bypass && a.rule && !(await rowPasses(tx.db, row.id, a.rule))) throw forbiddenWrite(b)
        return row
      }
    }).catch((err: { code?: string }) => {
      // The bucket went away while the bytes streamed in.
      if (err.code === '23503') throw errors.notFound('Bucket')
      throw err
    })
  }

  const newBlob = (b: Bucket) => `${b.id}/${randomUUID()}`

  const service: ObjectsService = {
    async upload(bucketName, key, input, p) {
      const b = await buckets.get(bucketName)
      const a: Access = p.kind === 'signed' ? { bypass: true } : access(b, 'write', p)
      if (!a.bypass && a.denied) throw forbiddenWrite(b)
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
        return toInfo(b, row)
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
      const a: Access = p.kind === 'signed' ? { bypass: true } : access(b, 'read', p)
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

    async variant(found, params) {
      const t = transformKey(params)
      const cached = (
        await sql<{ blob: string; size: number; mimeType: string }>`
          SELECT blob, size, "mimeType" FROM bastide.object_variants
          WHERE object_id = ${found.info.id}::uuid AND transform = ${t}`.execute(db)
      ).rows[0]
      const out = cached ?? (await deps.limiter.run(() => makeVariant(found, params, t)))
      return { ...out, size: Number(out.size), read: () => service.read({ ...found, blob: out.blob }) }
    },

    async list(bucketName, q, p) {
      const b = await buckets.find(bucketName)
      if (!b) throw errors.notFound('Bucket')
      const a = access(b, 'read', p)
      const perPage = q.perPage ?? DEFAULT_PER_PAGE
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE)
        throw errors.validation({ perPage: { code: 'invalid', message: `perPage is 1 to ${MAX_PER_PAGE}.` } })
      if (!a.bypass && a.denied) return { items: [], perPage, nextCursor: null }
      const prefix = validateKeyPrefix(q.prefix ?? '')
      const after = q.after ? decodeCursor(q.after) : undefined
      const upper = prefixUpperBound(prefix)
      const res = await sql<Row>`SELECT ${COLUMNS} FROM bastide.objects o
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
      if (!a.bypass && a.denied) throw errors.notFound('Object')
      // One statement: the row, its variants (cascade) and the garbage rows for their blobs, all or nothing.
      const res = await sql<{ n: number; blobs: string[] | null }>`
        WITH d AS (DELETE FROM bastide.objects o WHERE o.bucket_id = ${b.id}::uuid AND o.key = ${key}${ruleSql(a)}
                   RETURNING o.id, o.blob),
             v AS (SELECT blob FROM bastide.object_variants WHERE object_id IN (SELECT id FROM d)),
             g AS (INSERT INTO bastide.garbage_blobs (blob)
                   SELECT blob FROM d UNION ALL SELECT blob FROM v ON CONFLICT DO NOTHING RETURNING blob)
        SELECT (SELECT count(*) FROM d)::int AS n, (SELECT array_agg(blob) FROM g) AS blobs`.execute(db)
      const r = res.rows[0]
      if (!r || r.n === 0) throw errors.notFound('Object')
      collectSoon(r.blobs ?? [])
    },

    async copy(bucketName, input, p, move) {
      const from = validateObjectKey(input.from)
      const to = validateObjectKey(input.to)
      const src = await service.find(bucketName, from, p)
      const dest = input.toBucket ? await buckets.get(input.toBucket) : src.bucket
      if (dest.id === src.bucket.id && from === to) return src.info
      const a = access(dest, 'write', p)
      if (!a.bypass && a.denied) throw forbiddenWrite(dest)
      const limit = Math.min(dest.maxFileSize ?? deps.maxFileSize, deps.maxFileSize)
      if (src.info.size > limit) throw errors.payloadTooLarge(limit)
      if (dest.allowedMimeTypes.length > 0 && !mimeMatches(src.info.mimeType, dest.allowedMimeTypes))
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `The ${dest.name} bucket does not accept ${src.info.mimeType} files.`,
        )
      if (move) return moveObject(src, dest, to, a, access(src.bucket, 'delete', p))
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
        return toInfo(dest, row)
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
      if (!a.bypass && a.denied) throw forbiddenWrite(b)
      await precheck(b, key, p.kind === 'user' ? p.id : null, undefined, a)
      const existing = await findRow(b, key, { bypass: true })
      if (existing && !a.bypass && a.rule && !(await rowPasses(db, existing.id, a.rule)))
        throw forbiddenWrite(b)
    },

    collectGarbage,
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
    write: Access,
    del: Access,
  ): Promise<ObjectInfo> {
    if (!del.bypass && del.denied) throw errors.notFound('Object')
    return inTransaction(db, async (tx) => {
      const locked = await sql<{ id: string }>`SELECT o.id FROM bastide.objects o
        WHERE o.id = ${src.info.id}::uuid${ruleSql(del)} FOR UPDATE`.execute(tx.db)
      if (!locked.rows[0]) throw errors.notFound('Object')
      const existing = (
        await sql<Row>`SELECT ${COLUMNS} FROM bastide.objects o
          WHERE o.bucket_id = ${dest.id}::uuid AND o.key = ${to} FOR UPDATE`.execute(tx.db)
      ).rows[0]
      if (existing) {
        if (!write.bypass && write.rule && !(await rowPasses(tx.db, existing.id, write.rule)))
          throw forbiddenWrite(dest)
        const gone = await sql<{ blob: string }>`
          WITH v AS (SELECT blob FROM bastide.object_variants WHERE object_id = ${existing.id}::uuid),
               d AS (DELETE FROM bastide.objects WHERE id = ${existing.id}::uuid RETURNING blob)
          SELECT blob FROM d UNION ALL SELECT blob FROM v`.execute(tx.db)
        const blobs = gone.rows.map((r) => r.blob)
        await garbage(tx.db, blobs)
        tx.afterCommit(() => collectSoon(blobs))
      }
      const row = (
        await sql<Row>`UPDATE bastide.objects o SET bucket_id = ${dest.id}::uuid, key = ${to}, updated = now(),
            version = o.version + 1
          WHERE o.id = ${src.info.id}::uuid RETURNING ${COLUMNS}`.execute(tx.db)
      ).rows[0]!
      if (!write.bypass && write.rule && !(await rowPasses(tx.db, row.id, write.rule)))
        throw forbiddenWrite(dest)
      return toInfo(dest, row)
    })
  }

  async function makeVariant(found: FoundObject, params: TransformParams, t: string) {
    if (found.info.size > MAX_TRANSFORM_SOURCE_BYTES) {
      throw new AppError('UNPROCESSABLE_IMAGE', 'The image is too large to transform.', {
        maxBytes: MAX_TRANSFORM_SOURCE_BYTES,
      })
    }
    const image = await transformImage(await service.read(found), params, {
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
      await garbage(db, [blob])
      setTimeout(() => collectSoon([blob]), 60_000).unref()
    }
    return { blob, size: written.size, mimeType: image.mimeType }
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
