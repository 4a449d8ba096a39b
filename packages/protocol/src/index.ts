export type { BackupRun, BackupsOverview } from './backups.ts'
export { type CronFields, type CronSchedule, parseCron } from './cron.ts'
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
export type {
  MetricsSummary,
  MinuteStats,
  PrincipalKind,
  RequestLogEntry,
  RequestLogFilters,
  RequestLogPage,
  RouteStats,
} from './observability.ts'
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
export {
  type ApiKeyInfo,
  type AuditEntry,
  type CollectionInput,
  type CollectionRules,
  type CollectionSchema,
  FIELD_TYPES,
  type FieldOptions,
  type FieldSchema,
  type FieldType,
  type IndexSchema,
  KEY_SCOPES,
  type KeyScope,
  ON_DELETE,
  type OnDelete,
  RULE_ACTIONS,
  type RuleAction,
  SYSTEM_FIELDS,
} from './schema.ts'
export {
  type AppliedMigration,
  SCHEMA_CHANGE_OPS,
  type SchemaApplyResult,
  type SchemaBucket,
  type SchemaChange,
  type SchemaChangeOp,
  type SchemaChannel,
  type SchemaCollection,
  type SchemaDocument,
  type SchemaField,
  type SchemaIndex,
  type SchemaPlan,
  stableJson,
} from './schema-document.ts'
export type { Bucket, BucketRules, ListObjectsResult, StorageObject } from './storage.ts'
