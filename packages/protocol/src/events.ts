import type { RecordAction } from './records.ts'

/**
 * The events the server's bus carries (after commit only). Names are stable: functions and webhooks use them.
 * Collection payloads are generic in the collection's shape, which the server owns.
 */
export const EVENT_NAMES = [
  'record.created',
  'record.updated',
  'record.deleted',
  'collection.created',
  'collection.updated',
  'collection.deleted',
] as const

export type EventName = (typeof EVENT_NAMES)[number]

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

export interface CollectionEvent<C = unknown> {
  readonly collection: C
  readonly previous?: C
  readonly at: string
}

/** Each event's payload; `C` is the collection definition's type. */
export interface EventMap<C = unknown> {
  'record.created': RecordEvent
  'record.updated': RecordEvent
  'record.deleted': RecordEvent
  'collection.created': CollectionEvent<C>
  'collection.updated': CollectionEvent<C>
  'collection.deleted': CollectionEvent<C>
}

export const RECORD_EVENT_BY_ACTION = {
  create: 'record.created',
  update: 'record.updated',
  delete: 'record.deleted',
} as const satisfies Record<RecordAction, EventName>
