/** A bucket's access rules: filter expressions; `null` (or left out) is locked, `""` is everyone. */
export interface BucketRules {
  readonly read?: string | null
  readonly write?: string | null
  readonly delete?: string | null
}

/** A bucket, as `/api/storage/buckets` returns it. */
export interface Bucket {
  readonly id: string
  readonly name: string
  readonly public: boolean
  /** Bytes; null: the server's limit. */
  readonly maxFileSize: number | null
  /** Sniffed types allowed, exact or `type/*`; empty: any. */
  readonly allowedMimeTypes: readonly string[]
  readonly rules: BucketRules
  readonly created: string
  readonly updated: string
}

/** An object as the server describes it. */
export interface StorageObject {
  readonly id: string
  readonly bucket: string
  readonly key: string
  readonly size: number
  /** Hex SHA-256 of the bytes (the ETag is this value, quoted). */
  readonly sha256: string
  /** Sniffed from the bytes, not taken from the uploader. */
  readonly mimeType: string
  /** The user who uploaded it. */
  readonly owner: string | null
  readonly metadata: Readonly<Record<string, unknown>>
  readonly created: string
  readonly updated: string
  /** 1 when created, +1 on each overwrite. */
  readonly version: number
}

/** A page of a bucket's objects. */
export interface ListObjectsResult {
  readonly items: readonly StorageObject[]
  readonly perPage: number
  /** Pass as `after` for the next page; null on the last one. */
  readonly nextCursor: string | null
}
