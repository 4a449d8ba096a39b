import type { CollectionEvent as WireCollectionEvent, EventMap as WireEventMap } from '@bastide/protocol'
import type { Collection } from '../core/collections/types.ts'

// Names and payloads are declared once, in the protocol (functions, webhooks and clients use them); the server
// fills in its own collection type.
export {
  type EventName,
  RECORD_EVENT_BY_ACTION,
  type RecordAction,
  type RecordEvent,
} from '@bastide/protocol'

/** The typed catalog of everything the bus carries. */
export type EventMap = WireEventMap<Collection>

export type CollectionEvent = WireCollectionEvent<Collection>
