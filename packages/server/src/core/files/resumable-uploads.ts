import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { FileStore } from '@tus/file-store'
import { type MetadataValue, S3Store } from '@tus/s3-store'
import type { DataStore, Upload } from '@tus/server'
import type { Logger } from 'pino'
import type { Config } from '../../config/load-config.ts'
import { AppError, errors } from '../../errors/index.ts'
import { type Principal, principalId } from '../auth/principal.ts'
import type { BucketsService } from './buckets.ts'
import { validateObjectMetadata } from './object-schema.ts'
import type { ObjectInfo, ObjectsService } from './objects.ts'
import { createUploadLocker, type UploadLocker } from './upload-locker.ts'

/**
 * Where uploads in progress live in the S3 bucket: apart from blobs (`<bucketId>/…`), and skipped by the
 * reconciler (they are no object's blob until they finish).
 */
export const RESUMABLE_UPLOADS_PREFIX = 'tus/'

/** Unfinished uploads are deleted this long after their creation. */
export const RESUMABLE_UPLOAD_TTL_MS = 24 * 3_600_000

const MiB = 1024 * 1024
/** A part of an S3 multipart upload, as tus's S3Store reads them. */
type Part = { PartNumber?: number; Size?: number; ETag?: string }
/** Upload ids as URLs show them: 128 random bits, hex. */
const URL_ID = /^[0-9a-f]{32}$/
/** What the server writes into an upload's metadata (clients' values for it are overwritten). */
const UPLOADER = 'uploader'
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*(\s*;[\x20-\x7e]*)?$/i

/**
 * Resumable uploads (tus), minus the HTTP: where unfinished uploads are kept (a tus FileStore under
 * `dataDir/storage/tus`, or S3 under `tus/`), who may create and continue them, and how a finished one
 * becomes a storage object.
 *
 * Identity: the principal who creates an upload is written into its metadata (in the datastore, so it
 * survives restarts and is seen by every node), and every later request on it must come from that same
 * principal, or the upload does not exist for it (404). The object is committed with the principal of the
 * request that sent the last bytes, which is therefore the uploader, freshly authenticated; `objects.upload`
 * then checks the bucket's rules, limit and allowed types again against the real bytes.
 */
export interface ResumableUploads {
  readonly datastore: DataStore
  /** tus's locks on uploads, held across every node sharing the database (see createUploadLocker). */
  readonly locker: UploadLocker
  /** A new upload id, as the datastore knows it. */
  newId(): string
  /** The datastore id for the last segment of an upload URL; undefined when it cannot be one. */
  idFromUrl(segment: string): string | undefined
  /** The upload URL's last segment for a datastore id. */
  urlId(id: string): string
  /**
   * Checks a new upload (declared length, bucket, key, write rule, size limit) and returns the metadata to
   * store with it: the client's `bucket`, `key`, `contentType` (or tus-js-client's `filetype`) and
   * `metadata` (JSON), and the uploader.
   */
  begin(
    upload: { size?: number | undefined; metadata?: Record<string, string | null> | undefined },
    p: Principal,
  ): Promise<Record<string, string>>
  /** Throws NOT_FOUND unless `p` created upload `id` (or it does not exist). */
  checkUploader(id: string, p: Principal): Promise<void>
  /**
   * Streams the complete upload `upload` into its object; `discard` it once the response is written (tus
   * reads it once more after this). When the object is refused (rules, limit, type: a 4xx), the upload is
   * deleted at once; after an unexpected failure it is kept, so that an empty PATCH at its full offset
   * finishes it again.
   */
  finish(upload: Upload, p: Principal): Promise<ObjectInfo>
  /** Deletes an upload's data (idempotent). */
  discard(id: string): Promise<void>
  /** Deletes unfinished uploads older than RESUMABLE_UPLOAD_TTL_MS; returns how many. */
  deleteExpired(): Promise<number>
  /** Frees this node's upload locks. */
  close(): Promise<void>
}

/**
 * tus's S3Store, made to rely on plain object operations only. Upstream finds an upload's parts with
 * ListParts and expired uploads with ListMultipartUploads, which several S3-compatible servers lack; here
 * each uploaded part is recorded as an empty marker object `<id>.parts/<n>.<size>.<etag>` (written once
 * the part is stored, so a crash in between only makes the client send those bytes again), and expiry
 * walks the `.info` objects. `remove` also works once the multipart upload was completed.
 */
class UploadS3Store extends S3Store {
  constructor(
    options: ConstructorParameters<typeof S3Store>[0],
    private readonly prefix: string,
  ) {
    super(options)
  }

  private partsPrefix(id: string): string {
    return `${id}.parts/`
  }

  private async *keys(prefix: string): AsyncGenerator<{ key: string; modified: Date | undefined }> {
    let token: string | undefined
    do {
      const page = await this.client.listObjectsV2({
        Bucket: this.bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      })
      for (const o of page.Contents ?? []) if (o.Key) yield { key: o.Key, modified: o.LastModified }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
  }

  private async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      await this.client.deleteObjects({
        Bucket: this.bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      })
    }
  }

  protected override async uploadPart(
    metadata: MetadataValue,
    body: Readable | Buffer,
    partNumber: number,
  ): Promise<string> {
    const size = Buffer.isBuffer(body)
      ? body.length
      : 'path' in body && typeof body.path === 'string'
        ? (await stat(body.path)).size
        : undefined
    const etag = await super.uploadPart(metadata, body, partNumber)
    const bytes = size ?? (body as { bytesRead?: number }).bytesRead ?? 0
    const tag = Buffer.from(etag, 'utf8').toString('base64url')
    await this.client.putObject({
      Bucket: this.bucket,
      Key: `${this.partsPrefix(metadata.file.id)}${String(partNumber).padStart(5, '0')}.${bytes}.${tag}`,
      Body: '',
    })
    return etag
  }

  protected override async retrieveParts(id: string): Promise<Part[]> {
    const parts: Part[] = []
    for await (const { key } of this.keys(this.partsPrefix(id))) {
      const m = /\/(\d+)\.(\d+)\.([\w-]*)$/.exec(key)
      if (m)
        parts.push({
          PartNumber: Number(m[1]),
          Size: Number(m[2]),
          ETag: Buffer.from(m[3]!, 'base64url').toString('utf8'),
        })
    }
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!)
    // Only the parts numbered 1, 2, 3… without a gap count.
    const n = parts.findIndex((p, i) => p.PartNumber !== i + 1)
    return n < 0 ? parts : parts.slice(0, n)
  }

  override async remove(id: string): Promise<void> {
    try {
      await super.remove(id)
    } catch (err) {
      // A completed upload has no multipart upload left to abort, and super.remove stops there (S3 answers
      // NoSuchUpload, which tus turns into a 404; some compatible servers answer 405).
      const e = err as { status_code?: number; $metadata?: { httpStatusCode?: number } }
      if (e.status_code !== 404 && e.$metadata?.httpStatusCode !== 405) throw err
      await this.deleteKeys([id, this.infoKey(id), this.partKey(id, true)])
      await this.clearCache(id)
    }
    const markers: string[] = []
    for await (const { key } of this.keys(this.partsPrefix(id))) markers.push(key)
    await this.deleteKeys([...markers, this.partKey(id, true)])
  }

  override async deleteExpired(): Promise<number> {
    const ttl = this.getExpiration()
    if (ttl === 0) return 0
    const expired: string[] = []
    for await (const { key, modified } of this.keys(this.prefix)) {
      if (key.endsWith('.info') && modified && modified.getTime() + ttl < Date.now())
        expired.push(key.slice(0, -'.info'.length))
    }
    for (const id of expired) await this.remove(id)
    return expired.length
  }
}

export function createResumableUploads(deps: {
  config: Pick<Config, 'dataDir' | 's3' | 'storage'>
  buckets: BucketsService
  objects: ObjectsService
  /** Where upload locks are taken: the shared database. */
  databaseUrl: string
  /** How long a request waits for an upload another request holds (default: tus's 30 s). */
  lockTimeoutMs?: number
  log: Logger
}): ResumableUploads {
  const { config, buckets, objects, log } = deps
  const locker = createUploadLocker({
    connectionString: deps.databaseUrl,
    log,
    ...(deps.lockTimeoutMs !== undefined ? { acquireTimeoutMs: deps.lockTimeoutMs } : {}),
  })
  const s3 = config.s3
  const prefix = s3 ? RESUMABLE_UPLOADS_PREFIX : ''
  const store: FileStore | UploadS3Store = s3
    ? new UploadS3Store(
        {
          partSize: 8 * MiB,
          expirationPeriodInMilliseconds: RESUMABLE_UPLOAD_TTL_MS,
          // Expiry is enforced by deleteExpired, not by bucket lifecycle rules on tags (which not every
          // S3-compatible server supports).
          useTags: false,
          s3ClientConfig: {
            bucket: s3.bucket,
            endpoint: s3.endpoint,
            region: s3.region,
            credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
            forcePathStyle: s3.pathStyle,
            // Checksums only where S3 requires them: MinIO and other S3-compatible servers refuse some of the
            // newer default ones.
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
          },
        },
        RESUMABLE_UPLOADS_PREFIX,
      )
    : new FileStore({
        directory: path.join(config.dataDir, 'storage', 'tus'),
        expirationPeriodInMilliseconds: RESUMABLE_UPLOAD_TTL_MS,
      })

  /** Uploaders by upload id: immutable once created, so a cache saves a datastore read per request. */
  const uploaders = new Map<string, string>()
  const remember = (id: string, uploader: string) => {
    if (uploaders.size >= 10_000) uploaders.clear()
    uploaders.set(id, uploader)
  }

  const remove = async (id: string) => {
    uploaders.delete(id)
    await store.remove(id).catch((err: unknown) => {
      if ((err as { status_code?: number }).status_code !== 404)
        log.warn({ upload: id, err: (err as Error).message }, 'could not delete a resumable upload')
    })
  }

  const invalid = (field: string, message: string) =>
    errors.validation({ [field]: { code: 'invalid', message } })

  return {
    datastore: store,
    locker,
    newId: () => prefix + randomBytes(16).toString('hex'),
    idFromUrl: (segment) => (URL_ID.test(segment) ? prefix + segment : undefined),
    urlId: (id) => id.slice(prefix.length),

    async begin(upload, p) {
      if (p.kind === 'anonymous') throw errors.unauthorized()
      // Rules and limits are checked against the length before any byte is accepted: it must be known.
      if (upload.size === undefined)
        throw errors.badRequest('Send Upload-Length: uploads of deferred length are not supported.')
      const m = upload.metadata ?? {}
      const bucket = m.bucket
      const key = m.key ?? m.filename
      if (!bucket) throw invalid('bucket', 'Send the bucket in Upload-Metadata.')
      if (!key) throw invalid('key', 'Send the key (or a filename) in Upload-Metadata.')
      const declared = m.contentType ?? m.filetype
      if (declared && (declared.length > 255 || !MIME.test(declared)))
        throw invalid('contentType', 'contentType must be a MIME type.')
      if (m.metadata) {
        let parsed: unknown
        try {
          parsed = JSON.parse(m.metadata)
        } catch {
          throw invalid('metadata', 'metadata must be JSON.')
        }
        // The same checks as the upload that will commit it (shape, depth, size), before any byte is taken.
        if (parsed === null) throw invalid('metadata', 'Metadata must be a JSON object.')
        validateObjectMetadata(parsed)
      }
      const b = await buckets.get(bucket)
      await objects.authorize(bucket, key, 'write', p)
      const limit = Math.min(b.maxFileSize ?? config.storage.maxFileSize, config.storage.maxFileSize)
      if (upload.size > limit) throw errors.payloadTooLarge(limit)
      return {
        bucket,
        key,
        ...(declared ? { contentType: declared } : {}),
        ...(m.metadata ? { metadata: m.metadata } : {}),
        [UPLOADER]: principalId(p),
      }
    },

    async checkUploader(id, p) {
      if (p.kind === 'anonymous') throw errors.unauthorized()
      let uploader = uploaders.get(id)
      if (uploader === undefined) {
        const upload = await store.getUpload(id)
        uploader = upload.metadata?.[UPLOADER] ?? ''
        remember(id, uploader)
      }
      // 404, not 403: someone else's upload id must not reveal that it exists.
      if (uploader !== principalId(p)) throw errors.notFound('Upload')
    },

    async finish(upload, p) {
      const m = upload.metadata ?? {}
      if (!m.bucket || !m.key || m[UPLOADER] !== principalId(p)) {
        await remove(upload.id)
        throw errors.notFound('Upload')
      }
      const body: Readable = await store.read(upload.id)
      try {
        const info = await objects.upload(
          m.bucket,
          m.key,
          {
            body,
            declaredType: m.contentType ?? undefined,
            contentLength: upload.size,
            metadata: m.metadata ? JSON.parse(m.metadata) : undefined,
          },
          p,
        )
        return info
      } catch (err) {
        body.destroy()
        if (err instanceof AppError && err.status < 500) await remove(upload.id)
        throw err
      }
    },

    discard: remove,

    async deleteExpired() {
      const n = await store.deleteExpired()
      if (n > 0) uploaders.clear()
      return n
    },

    close: () => locker.close(),
  }
}
