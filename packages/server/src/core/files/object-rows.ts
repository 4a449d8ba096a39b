import { sql } from 'kysely'
import type { Bucket } from './buckets.ts'
import type { ObjectInfo } from './objects.ts'

/** A row of bastide.objects as the statements here select it (OBJECT_COLUMNS, alias `o`). */
export type ObjectRow = {
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

export const OBJECT_COLUMNS = sql`o.id, o.bucket_id, o.key, o.blob, o.size, o.sha256, o."mimeType", o.owner, o.metadata, o.created, o.updated, o.version`

export const toInfo = (b: Bucket, r: ObjectRow): ObjectInfo => ({
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
