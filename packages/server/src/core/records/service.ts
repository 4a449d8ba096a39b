import type { Db } from '../../db/create-db.ts'
import type { Tx } from '../../db/transaction.ts'
import type { EventBus } from '../../events/bus.ts'
import type { Principal } from '../auth/principal.ts'
import type { CollectionsService } from '../collections/service.ts'
import type { RecordOutboxSink } from '../jobs/record-outbox.ts'
import type { FileHooks, Uploads } from './file-fields.ts'
import { createRecordReader } from './read-records.ts'
import { recordsContext } from './record-access.ts'
import { createRecordWriter } from './write-records.ts'

export interface ListQuery {
  readonly filter?: string
  readonly sort?: string
  readonly page?: number
  readonly perPage?: number
  readonly after?: string
  readonly fields?: string
  readonly expand?: string
  readonly count?: boolean
  /** The raw query string, for `@request.query.*` in rules. */
  readonly requestQuery?: Readonly<Record<string, string>>
}

export interface ReadOptions {
  readonly fields?: string
  readonly expand?: string
  /** The raw query string, for `@request.query.*` in rules. */
  readonly query?: Readonly<Record<string, string>>
}

export interface WriteOptions extends ReadOptions {
  /** Expected version (If-Match or `$version`). */
  readonly ifMatch?: number
  /** Join an outer transaction (batch, idempotency). */
  readonly tx?: Tx
  /** Objects uploaded for this write, by file field (see mergeUploads): exempt from the attach check. */
  readonly uploads?: Uploads
}

export interface ListResult {
  readonly items: Record<string, unknown>[]
  readonly page: number
  readonly perPage: number
  readonly totalItems?: number
  readonly totalPages?: number
  readonly nextCursor: string | null
}

export type Rec = Record<string, unknown>

export { MAX_PER_PAGE } from './read-records.ts'

export interface RecordsService {
  list(collection: string, q: ListQuery, p: Principal): Promise<ListResult>
  view(collection: string, id: string, p: Principal, o?: ReadOptions): Promise<Rec>
  create(collection: string, body: unknown, p: Principal, o?: WriteOptions): Promise<Rec>
  update(collection: string, id: string, body: unknown, p: Principal, o?: WriteOptions): Promise<Rec>
  remove(collection: string, id: string, p: Principal, o?: WriteOptions): Promise<void>
}

/**
 * Records: list and view (read-records.ts), create, update and delete (write-records.ts), every one decided
 * by the collection's rules through authorize (record-access.ts).
 */
export function createRecordsService(deps: {
  db: Db
  collections: CollectionsService
  bus: EventBus
  /** Storage for `file` fields; without it their keys are kept as plain values. */
  files?: FileHooks
  /** Durable record events: without it, changes only go to the bus (after commit). */
  outbox?: RecordOutboxSink
}): RecordsService {
  const ctx = recordsContext(deps)
  const { readShaped, ...read } = createRecordReader(ctx)
  return { ...read, ...createRecordWriter(ctx, readShaped) }
}
