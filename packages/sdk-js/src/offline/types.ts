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
  /** Writes locally and queues the create; resolves once both are persisted. */
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
  close(): Promise<void>
}

export type { SyncMutationResult }
