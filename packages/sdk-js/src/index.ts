export { BastideClient, type ClientOptions, createClient } from './client.ts'
export { BastideError, type ErrorCode, ErrorCodes, isBastideError } from './errors.ts'
export { type FilterParams, type FilterValue, f, literal } from './filter.ts'
export type { AuthMode, FetchLike, QueryValue, RequestOptions, RetryOptions } from './http.ts'
export { Http } from './http.ts'
export type { SubscriptionTarget } from './realtime.ts'
export { RealtimeService } from './realtime.ts'
export { AuthService } from './services/auth.ts'
export { BatchBuilder, BatchCollection, type BatchRequest, type BatchResult } from './services/batch.ts'
export {
  CollectionService,
  type DeleteOptions,
  type FileInput,
  type ListOptions,
  type ReadOptions,
  type UpdateOptions,
  type WriteData,
  type WriteOptions,
} from './services/records.ts'
export { StorageService } from './services/storage.ts'
export {
  type AsyncKeyValue,
  asyncStorage,
  localStorageAdapter,
  memoryStorage,
  type SessionStorage,
} from './session-storage.ts'
export type {
  AnySchema,
  BaseRecord,
  CollectionDef,
  CollectionOf,
  Expanded,
  ExpandPath,
  ListResult,
  RecordChange,
  Register,
  RegisteredSchema,
  RelationDef,
  Schema,
  SortKey,
  User,
  WithExpand,
} from './types.ts'
