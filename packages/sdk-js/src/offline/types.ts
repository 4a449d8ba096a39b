import type {
  SyncConflictInfo,
  SyncFieldInfo,
  SyncMutation,
  SyncMutationResult,
  SyncRecord,
} from '@bastide/protocol'
import type { BastideError } from '../errors.ts'

export type { SyncFieldInfo, SyncRecord }

/**
 * A write waiting in the outbox: the mutation as it is pushed, its place in the queue (`seq`), and `follows`
 * when it was made on top of an earlier queued write of the same record (its `baseVersion` is then the version
 * that write comes back with, set when it is acknowledged).
 */
export interface QueuedMutation extends SyncMutation {
  readonly seq: number
  readonly follows?: true
}

/** What a store holds: the server's copy of each record, the outbox in `seq` order, and the sync state. */
export interface OfflineSnapshot {
  readonly records: Readonly<Record<string, readonly SyncRecord[]>>
  readonly outbox: readonly QueuedMutation[]
  readonly meta: Readonly<Record<string, unknown>>
}

/**
 * One atomic change to a store, applied in this order: `clear` (every record of those collections), `remove`,
 * `put`, `dequeue`, `enqueue` (a mutation whose id is queued already is replaced in place), `meta` (a null
 * value removes the key).
 */
export interface OfflineBatch {
  readonly put?: readonly (readonly [collection: string, record: SyncRecord])[]
  readonly remove?: readonly (readonly [collection: string, id: string])[]
  readonly clear?: readonly string[]
  readonly enqueue?: readonly QueuedMutation[]
  readonly dequeue?: readonly string[]
  readonly meta?: Readonly<Record<string, unknown>>
}

/**
 * Where an offline client keeps its data between launches. `write` is atomic: after a crash either all of the
 * batch is there, or none of it.
 */
export interface OfflineStore {
  load(): Promise<OfflineSnapshot>
  write(batch: OfflineBatch): Promise<void>
  close(): Promise<void>
  /** Where the bytes of files attached offline wait for their upload; a store without it cannot queue files. */
  readonly files?: OfflineFileStore
}

/** The bytes of queued files, by id. `put` resolves once they are durable. */
export interface OfflineFileStore {
  put(id: string, data: Blob | Uint8Array): Promise<void>
  /** The bytes, or undefined when there are none under that id. */
  get(id: string): Promise<Blob | Uint8Array | undefined>
  delete(ids: readonly string[]): Promise<void>
  /** Every id held (to drop the bytes a crash left without a queued upload). */
  list(): Promise<string[]>
}

/** A file to attach to a record offline: `offline.file(data)`, given as a `file` field's value (or in its list). */
export interface OfflineFileInput {
  readonly data: Blob | Uint8Array
  readonly name: string
  readonly contentType: string | undefined
  /** The bucket, when the collection's fields are not known yet (no sync so far); else the field's bucket. */
  readonly bucket: string | undefined
}

/** A queued upload, kept in the store's meta under `file:<id>` until its write is acknowledged. */
export interface QueuedFile {
  readonly id: string
  readonly collection: string
  readonly recordId: string
  readonly bucket: string
  readonly key: string
  readonly size: number
  readonly contentType: string | undefined
  /** The tus upload URL once created: a restart resumes from there. */
  readonly url?: string
  /** Stored on the server (the bytes on the device are gone). */
  readonly uploaded?: true
}

/** A declared collection: which of its records the device keeps (`filter`, under the caller's rules). */
export interface OfflineCollectionOptions {
  readonly filter?: string
}

export interface OfflineOptions {
  /** `memoryStore()`, `fileStore(path)` (Node), `indexedDbStore(name)` (browsers), `sqliteStore(driver)` (React Native). */
  readonly store: OfflineStore
  /** The collections kept on the device: names, or names with the filter of the records to keep. */
  readonly collections: Readonly<Record<string, OfflineCollectionOptions>> | readonly string[]
  /** Periodic sync in ms (default 30 000); 0 turns it off. */
  readonly intervalMs?: number
  /** Bytes per request of the uploads of files attached offline (default 8 MiB): what a cut costs at most. */
  readonly uploadChunkSize?: number
  /** Pull when the server announces a change to a declared collection (default true). */
  readonly realtime?: boolean
  /** A queued write conflicted and the collection's policy resolved it: the record now holds `record`. */
  onConflict?(c: OfflineConflict): void
  /** A queued write was refused (rules, validation, …): the local change is rolled back to `record`. */
  onRejected?(r: OfflineRejection): void
}

export interface OfflineConflict {
  readonly collection: string
  readonly id: string
  readonly mutation: SyncMutation
  readonly conflict: SyncConflictInfo
  /** The record as the server now has it (null: gone, or out of the caller's view). */
  readonly record: SyncRecord | null
}

export interface OfflineRejection {
  readonly collection: string
  readonly id: string
  readonly mutation: SyncMutation
  readonly error: BastideError
  readonly record: SyncRecord | null
}

export interface OfflineStatus {
  /** `offline` after a network failure until a request succeeds; `syncing` while a sync runs. */
  readonly state: 'online' | 'offline' | 'syncing'
  /** Writes in the outbox, not yet acknowledged by the server. */
  readonly pending: number
  /** Files attached offline whose bytes are not on the server yet. */
  readonly uploads: number
  /** When the last sync finished without error (ISO-8601). */
  readonly lastSyncAt: string | null
  /** The last sync's error (`CODE: message`), until one succeeds. */
  readonly error: string | null
}

export interface OfflineQuery {
  readonly filter?: string
  readonly sort?: string
  readonly limit?: number
}

export interface OfflineCollection<T> {
  /** The record as this device sees it (the server's copy with queued writes applied). */
  get(id: string): T | undefined
  /** Records from the device, filtered and sorted as the records API would (`filter`, `sort`, `limit`). */
  list(q?: OfflineQuery): T[]
  /**
   * `list(q)` now, and again on every change that alters its result. Returns the function that stops it.
   * A bad filter throws here; one that turns out to name an unknown field once a pull brings the collection's
   * fields goes to `onError` (the query then keeps its last rows).
   */
  live(q: OfflineQuery, cb: (rows: T[]) => void, onError?: (e: unknown) => void): () => void
  /**
   * Writes locally and queues the create; resolves once both are persisted. A `file` field takes
   * `offline.file(data)` (or a list of them, with keys, for a multiple one): the bytes are kept on the device and
   * uploaded (tus, resumed after a restart) before the write is pushed; the field holds the object's key at once.
   */
  create(data: Partial<T> & { id?: string }): Promise<T>
  update(id: string, patch: Partial<T>): Promise<T>
  delete(id: string): Promise<void>
}

export interface OfflineClient {
  /** Resolves once the store is loaded. */
  readonly ready: Promise<void>
  collection<T = SyncRecord>(name: string): OfflineCollection<T>
  /**
   * Pushes the outbox, then pulls every collection. Concurrent calls share a run (one started after the call).
   * Never rejects: failures show in `status` (and are retried on their own).
   */
  sync(): Promise<void>
  readonly status: OfflineStatus
  onStatus(cb: (s: OfflineStatus) => void): () => void
  /**
   * A file to give as a `file` field's value in `create` or `update`: its bytes wait on the device until they are
   * uploaded. The store must keep files (every store of the SDK does).
   */
  file(
    data: Blob | Uint8Array,
    o?: { name?: string; contentType?: string; bucket?: string },
  ): OfflineFileInput
  /** The bytes of a file attached offline and not uploaded yet, by its key (to show it meanwhile); else undefined. */
  localFile(key: string): Promise<Blob | Uint8Array | undefined>
  /**
   * Empties the store: every record, every queued write and file (never sent: they are lost), the cursors and the
   * device's client id. For a sign-out on a shared device; the client goes on, and syncs from scratch for whoever
   * signs in next.
   */
  clear(): Promise<void>
  /** Stops syncing and closes the store. */
  close(): Promise<void>
}

export type { SyncMutationResult }
