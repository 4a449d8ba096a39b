import { createHash } from 'node:crypto'
import { type Readable, Transform, type TransformCallback } from 'node:stream'

/** A blob as the reconciler sees it. */
export interface BlobInfo {
  readonly key: string
  readonly size: number
  readonly modified: Date
}

export interface WriteOptions {
  /** More bytes than this: the write rejects with BlobTooLargeError as soon as they arrive. */
  readonly maxBytes?: number
  /** Stored with the blob where the backend keeps it (S3); PostgreSQL stays the source of truth. */
  readonly contentType?: string
  readonly signal?: AbortSignal
}

export interface WriteResult {
  readonly size: number
  /** Hex sha256 of the bytes stored. */
  readonly sha256: string
}

/** Inclusive byte range, as in an HTTP `Range: bytes=start-end` header. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

/**
 * Where the bytes of storage objects live. Keys are internal blob keys (`<bucketId>/<uuid>`), chosen by the
 * caller and never reused for other bytes, so a store needs atomic writes but no versioning: metadata in
 * PostgreSQL points at a blob only once `write` resolved, and the reconciler removes blobs nothing points at.
 */
export interface FileStore {
  readonly kind: 'local' | 's3'
  /**
   * Streams `body` to `key`; the blob is visible at `key` only once complete, and replaces any blob there.
   * Computes size and sha256 on the way. On failure (BlobTooLargeError past `maxBytes`, an error from `body`,
   * an abort through `signal`) nothing is stored at `key` and `body` is destroyed.
   */
  write(key: string, body: Readable | AsyncIterable<Uint8Array>, opts?: WriteOptions): Promise<WriteResult>
  /**
   * The blob's bytes, or only `range` of them; undefined when there is no such blob. The caller checks the
   * range against `stat` first (the HTTP layer answers 416 for unsatisfiable ranges).
   */
  read(key: string, range?: ByteRange): Promise<Readable | undefined>
  stat(key: string): Promise<{ size: number; modified: Date } | undefined>
  /** Idempotent: removing a missing blob succeeds. */
  remove(key: string): Promise<void>
  /** Idempotent, like `remove`. */
  removeMany(keys: readonly string[]): Promise<void>
  /** Rejects with BlobNotFoundError when `from` does not exist. Atomic at `to`, like `write`. */
  copy(from: string, to: string): Promise<void>
  /** Every blob whose key starts with `prefix` (a plain string prefix), in no particular order, paged. */
  list(prefix: string): AsyncIterable<BlobInfo>
  /**
   * Deletes leftovers of writes interrupted by a crash that are older than `olderThanMs`; returns how many.
   * Local disk only: on S3, a bucket lifecycle rule (AbortIncompleteMultipartUpload) does this job.
   */
  sweepTemp?(olderThanMs: number): Promise<number>
  close?(): Promise<void>
}

export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`Blob exceeds the limit of ${limit} bytes.`)
    this.name = 'BlobTooLargeError'
  }
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No blob at ${key}.`)
    this.name = 'BlobNotFoundError'
  }
}

const MAX_KEY_LENGTH = 512
const KEY_CHARS = /^[A-Za-z0-9._/-]*$/

/**
 * Throws unless `key` is a well-formed internal blob key. User object keys are validated (and mapped to blob
 * keys) elsewhere; this guards the stores against a bug upstream turning into path traversal.
 */
export function validateBlobKey(key: string): void {
  if (key === '') throw new Error('Invalid blob key: empty')
  validateBlobPrefix(key)
  if (key.endsWith('/')) throw new Error(`Invalid blob key: ${JSON.stringify(key)}`)
}

/** Like validateBlobKey, but `''` and a trailing `/` are fine: `list('')` walks everything. */
export function validateBlobPrefix(prefix: string): void {
  const segments = prefix.split('/')
  // A trailing slash leaves one empty last segment, which a prefix may have.
  if (segments.at(-1) === '') segments.pop()
  const ok =
    prefix.length <= MAX_KEY_LENGTH &&
    KEY_CHARS.test(prefix) &&
    !prefix.startsWith('/') &&
    segments.every((s) => s !== '' && s !== '.' && s !== '..')
  if (!ok) throw new Error(`Invalid blob key: ${JSON.stringify(prefix.slice(0, 100))}`)
}

/** A pass-through that hashes and counts the bytes, and fails once more than `maxBytes` went by. */
export class HashingLimiter extends Transform {
  #size = 0
  #hash = createHash('sha256')
  #sha256: string | undefined

  constructor(readonly maxBytes = Number.POSITIVE_INFINITY) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length
    if (this.#size > this.maxBytes) {
      callback(new BlobTooLargeError(this.maxBytes))
      return
    }
    this.#hash.update(chunk)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    this.#sha256 = this.#hash.digest('hex')
    callback()
  }

  /** Available once the stream ended. */
  result(): WriteResult {
    if (this.#sha256 === undefined) throw new Error('HashingLimiter: the stream has not ended')
    return { size: this.#size, sha256: this.#sha256 }
  }
}

export function hashingLimiter(maxBytes?: number): HashingLimiter {
  return new HashingLimiter(maxBytes)
}
