// Offline sync: the wire contract of `GET /api/collections/{name}/changes` (pull), `POST /api/sync/push` (push) and
// `/api/admin/sync/collections` (which collections sync, and how their conflicts resolve).
import type { ErrorBody } from './errors.ts'
import type { BaseRecord } from './records.ts'

/**
 * How a conflicting write (its `baseVersion` is not the record's version any more) is resolved on the server:
 * - `server_wins`: the write is dropped; the client takes the server's record.
 * - `client_wins`: the client's fields are written over the server's record.
 * - `lww_field`: last writer wins per field: fields only one side changed since `baseVersion` are merged; a field
 *   both changed takes the later edit (the client's `at`, clamped to the server's clock, against the record's
 *   `updated`).
 * - `function`: the collection's merge function (a deployed function with a `sync` trigger) returns the record.
 */
export const SYNC_CONFLICT_POLICIES = ['server_wins', 'client_wins', 'lww_field', 'function'] as const
export type SyncConflictPolicy = (typeof SYNC_CONFLICT_POLICIES)[number]

/** A collection's sync settings (`GET|PUT /api/admin/sync/collections/{name}`). */
export interface SyncCollectionSettings {
  readonly collection: string
  /** Off: the collection's changes are not logged and `/changes` answers 409 SYNC_DISABLED. */
  readonly enabled: boolean
  readonly conflict: SyncConflictPolicy
  /** The merge function's name, with `conflict: 'function'` (required then), else null. */
  readonly mergeFunction: string | null
}

export type SyncCollectionSettingsInput = Omit<SyncCollectionSettings, 'collection' | 'mergeFunction'> & {
  readonly mergeFunction?: string | null
}

/** `GET /api/admin/sync`: the settings of every collection, and the change log's retention. */
export interface SyncOverview {
  readonly retentionDays: number
  readonly collections: readonly SyncCollectionSettings[]
  /** Change-log entries kept, and the oldest one's time (null when empty). */
  readonly log: { readonly entries: number; readonly oldest: string | null }
}

/** A field as the caller sees it (hidden fields left out for non-admins): what a client needs to filter locally. */
export interface SyncFieldInfo {
  readonly name: string
  readonly type: string
  /** select/relation/file with `multiple`. */
  readonly multiple: boolean
  /** relation: the target collection. */
  readonly collection?: string
  /** file: the bucket its objects are in (where a device uploads the files it attached offline). */
  readonly bucket?: string
}

export type SyncRecord = BaseRecord & Readonly<Record<string, unknown>>

export type SyncChange =
  | { readonly op: 'upsert'; readonly record: SyncRecord }
  /**
   * `deleted`: the record is gone; `left_view`: it still exists but the caller may no longer see it (a rule or
   * the query's filter stopped matching). Sent only to callers who could see it before.
   */
  | { readonly op: 'remove'; readonly id: string; readonly reason: 'deleted' | 'left_view' }

/**
 * `GET /api/collections/{name}/changes?since=&filter=&limit=` (limit 1..5000, default 1000). Without `since`: every
 * record the caller may list and view (and that matches `filter`), by id, then changes. With it: the changes since,
 * in commit order, each record at most once per page (as it is now).
 */
export interface SyncChangesPage {
  readonly changes: readonly SyncChange[]
  /** Pass as `since` for the next page (and the next sync when `hasMore` is false); opaque. */
  readonly cursor: string
  readonly hasMore: boolean
  /**
   * The cursor is older than the retained change log, was made for another filter, or the collection's fields or
   * rules changed since: drop the local copy of this query and pull again without `since`. Comes with no changes.
   */
  readonly resync: boolean
  readonly fields: readonly SyncFieldInfo[]
}

export const SYNC_MUTATION_OPS = ['create', 'update', 'delete'] as const
export type SyncMutationOp = (typeof SYNC_MUTATION_OPS)[number]

/** One offline write, as queued on the device. */
export interface SyncMutation {
  /** The client's id for this mutation, unique per `clientId`: a retried push answers with the first result. */
  readonly id: string
  readonly collection: string
  readonly op: SyncMutationOp
  readonly recordId: string
  /** create: the record's fields; update: only the fields this edit changed. */
  readonly data?: Readonly<Record<string, unknown>>
  /** update and delete: the version the edit was made on (absent: no conflict check, the write applies). */
  readonly baseVersion?: number
  /** When the edit was made on the device (ISO-8601). */
  readonly at: string
}

/** `POST /api/sync/push` (up to 500 mutations, applied in order, each in its own transaction). */
export interface SyncPushRequest {
  /** The device's id (a UUID it keeps): mutation ids are unique per client. */
  readonly clientId: string
  readonly mutations: readonly SyncMutation[]
}

export interface SyncConflictInfo {
  readonly policy: SyncConflictPolicy
  /** The record's version when the write arrived (null: it was deleted). */
  readonly serverVersion: number | null
  /** Fields both sides changed (for update); empty when unknown. */
  readonly fields: readonly string[]
  /** Whose data the record now holds. */
  readonly outcome: 'server' | 'client' | 'merged'
}

/**
 * - `applied`: written as sent.
 * - `resolved`: it conflicted; `conflict` says how the collection's policy resolved it.
 * - `rejected`: refused (rules, validation, unknown collection, sync disabled): `error` says why; nothing written.
 * In every case `record` is the record as the server now has it and the caller may see it (null: gone, or not
 * visible): the client replaces its copy with it.
 */
export interface SyncMutationResult {
  readonly id: string
  readonly status: 'applied' | 'resolved' | 'rejected'
  readonly record: SyncRecord | null
  readonly conflict?: SyncConflictInfo
  readonly error?: ErrorBody
}

/**
 * The push's answer: one result per mutation, in order. It may hold fewer results than the push sent (the first ones;
 * a push runs 10 merge functions at most): those not answered were not applied, and the client sends them again
 * in its next push. A push of at least one mutation answers at least one.
 */
export interface SyncPushResponse {
  readonly results: readonly SyncMutationResult[]
}

/** The event a `function` policy's merge function receives (trigger `{ "sync": "merge" }`); it returns the fields to write. */
export interface SyncMergeEvent {
  readonly trigger: 'sync'
  readonly collection: string
  readonly recordId: string
  /** The record at `baseVersion` when the change log still has it, else null. */
  readonly base: SyncRecord | null
  /** The record as it is now (null: deleted). */
  readonly server: SyncRecord | null
  readonly client: {
    readonly op: SyncMutationOp
    readonly data: Readonly<Record<string, unknown>>
    readonly at: string
  }
}

/** What a merge function returns: the fields to write (`{ data }`), or `{ keep: 'server' }` to drop the write. */
export type SyncMergeResult =
  | { readonly data: Readonly<Record<string, unknown>> }
  | { readonly keep: 'server' }
