import type { Collection } from '../core/collections/types.ts'

export type RecordAction = 'create' | 'update' | 'delete'

/** The typed catalog of everything the bus carries. Names are stable: functions and webhooks use them. */
export interface EventMap {
  'record.created': RecordEvent
  'record.updated': RecordEvent
  'record.deleted': RecordEvent
  'collection.created': CollectionEvent
  'collection.updated': CollectionEvent
  'collection.deleted': CollectionEvent
}

export interface RecordEvent {
  /** Per-database monotonic sequence number (PostgreSQL sequence `bastide.record_seq`). */
  readonly seq: number
  readonly action: RecordAction
  readonly collection: string
  readonly record: Readonly<Record<string, unknown>>
  /** For updates, the record as it was. */
  readonly previous?: Readonly<Record<string, unknown>>
  readonly at: string
}

export interface CollectionEvent {
  readonly collection: Collection
  readonly previous?: Collection
  readonly at: string
}

export type EventName = keyof EventMap
export const RECORD_EVENT_BY_ACTION = {
  create: 'record.created',
  update: 'record.updated',
  delete: 'record.deleted',
} as const satisfies Record<RecordAction, EventName>
