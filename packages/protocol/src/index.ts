export {
  AUTH_ERROR_STATUS,
  type AuthErrorCode,
  ERROR_STATUS,
  type ErrorBody,
  REALTIME_ERROR_STATUS,
  type RealtimeErrorCode,
  SERVER_ERROR_STATUS,
  type ServerErrorCode,
  type WireErrorCode,
} from './errors.ts'
export {
  type CollectionEvent,
  EVENT_NAMES,
  type EventMap,
  type EventName,
  RECORD_EVENT_BY_ACTION,
  type RecordEvent,
} from './events.ts'
export {
  type Ack,
  type BroadcastMessage,
  type BroadcastSender,
  type ChangeMessage,
  CLIENT_EVENTS,
  type ClientEventName,
  type PresenceEntry,
  type PresenceMessage,
  type PresenceState,
  type RealtimeErrorMessage,
  SERVER_EVENTS,
  type ServerEventName,
  type SubscribeRequest,
  type UnsubscribedMessage,
} from './realtime.ts'
export type { BaseRecord, ListResult, RecordAction } from './records.ts'
export type { Bucket, BucketRules, ListObjectsResult, StorageObject } from './storage.ts'
