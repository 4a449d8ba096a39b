export type {
  ApiKeyInfo,
  ApnsCredentialsInput,
  AuditEntry,
  CollectionInput,
  CollectionRules,
  CollectionSchema,
  FcmCredentialsInput,
  FieldOptions,
  FieldSchema,
  FieldType,
  IndexSchema,
  KeyScope,
  MetricsSummary,
  OnDelete,
  PushConfig,
  PushContent,
  PushCounts,
  PushCredentialProvider,
  PushCredentialsStatus,
  PushDelivery,
  PushDeliveryPage,
  PushDeliveryStatus,
  PushDevice,
  PushDeviceInput,
  PushMessage,
  PushMessageInput,
  PushMessagePage,
  PushMessageStatus,
  PushPreferences,
  PushProviderName,
  PushSubscriptionKeys,
  PushTarget,
  PushTopic,
  PushTopicInput,
  RequestLogEntry,
  RequestLogFilters,
  RequestLogPage,
  RuleAction,
  SchemaChange,
  SchemaDocument,
  SchemaPlan,
  SyncChange,
  SyncChangesPage,
  SyncCollectionSettings,
  SyncCollectionSettingsInput,
  SyncConflictInfo,
  SyncConflictPolicy,
  SyncMergeEvent,
  SyncMergeResult,
  SyncMutation,
  SyncMutationResult,
  SyncOverview,
  SyncRecord,
  WebPushCredentialsInput,
} from '@bastide/protocol'
export {
  FIELD_TYPES,
  KEY_SCOPES,
  ON_DELETE,
  PUSH_DELIVERY_STATUSES,
  PUSH_MESSAGE_STATUSES,
  PUSH_PROVIDERS,
  RULE_ACTIONS,
  SYNC_CONFLICT_POLICIES,
} from '@bastide/protocol'
export { BastideClient, type ClientOptions, createClient } from './client.ts'
export { BastideError, type ErrorCode, ErrorCodes, isBastideError } from './errors.ts'
export { type FilterParams, type FilterValue, f, literal } from './filter.ts'
export type { AuthMode, FetchLike, QueryValue, RequestOptions, RetryOptions } from './http.ts'
export { Http } from './http.ts'
export { indexedDbStore } from './offline/indexeddb-store.ts'
export { memoryStore } from './offline/memory-store.ts'
export {
  type ExpoSqliteDatabaseLike,
  type ExpoSqliteExecutorLike,
  expoSqliteDriver,
  type OpSqliteDatabaseLike,
  type OpSqliteExecutorLike,
  opSqliteDriver,
  type SqliteDriver,
  type SqliteExecutor,
  type SqliteValue,
  sqliteStore,
} from './offline/sqlite-store.ts'
export type {
  OfflineBatch,
  OfflineClient,
  OfflineCollection,
  OfflineCollectionOptions,
  OfflineConflict,
  OfflineFileInput,
  OfflineFileStore,
  OfflineOptions,
  OfflineQuery,
  OfflineRejection,
  OfflineSnapshot,
  OfflineStatus,
  OfflineStore,
  QueuedFile,
  QueuedMutation,
} from './offline/types.ts'
export {
  registerWebPush,
  type WebPushOptions,
  type WebPushRegistrationLike,
  type WebPushSubscriptionLike,
  type WebPushTarget,
} from './push-web.ts'
export { RealtimeChannel } from './realtime/realtime-channel.ts'
export { RealtimeService } from './realtime/realtime-service.ts'
export type {
  BroadcastSender,
  PresenceDiff,
  PresenceEntry,
  PresenceState,
  RealtimeStatus,
  SubscribeOptions,
  SubscriptionTarget,
} from './realtime/types.ts'
export { AdminService } from './services/admin/admin-service.ts'
export { AdminAdmins, type ConsoleAdminInfo, type ConsoleAdminPage } from './services/admin/admins.ts'
export type { AuditPage, AuditQuery } from './services/admin/audit.ts'
export { AdminAudit } from './services/admin/audit.ts'
export { AdminBackups, type BackupRun, type BackupsOverview } from './services/admin/backups.ts'
export {
  AdminChannels,
  type ChannelDefinitionInfo,
  type ChannelRulesInfo,
} from './services/admin/channels.ts'
export { AdminCollections, type CheckRuleInput } from './services/admin/collections.ts'
export {
  type ConsoleAdmin,
  ConsoleAuth,
  type ConsolePasskey,
  type ConsoleSession,
  type ConsoleSessionInfo,
  type ConsoleSignIn,
} from './services/admin/console-auth.ts'
export {
  AdminFunctions,
  type FunctionDetail,
  type FunctionSummary,
  type FunctionVersion,
  type Invocation,
  type InvocationPage,
  type InvocationQuery,
} from './services/admin/functions.ts'
export {
  AdminJobs,
  type JobInfo,
  type JobPage,
  type JobQueueStats,
  type JobState,
} from './services/admin/jobs.ts'
export { AdminKeys, type CreatedApiKey } from './services/admin/keys.ts'
export { AdminLogs } from './services/admin/logs.ts'
export { AdminMetrics } from './services/admin/metrics.ts'
export {
  AdminPush,
  AdminPushCredentials,
  AdminPushDevices,
  AdminPushMessages,
  AdminPushTopics,
  type PushCredentialsInputs,
  type PushDevicePage,
} from './services/admin/push.ts'
export { AdminSchema } from './services/admin/schema.ts'
export {
  AdminSettings,
  type OAuthProviderInput,
  type OAuthProviderView,
  type SecretState,
  type SettingField,
  type SettingSource,
  type Settings,
  type SettingsAuthMethod,
  type SettingsPatch,
} from './services/admin/settings.ts'
export { AdminSync } from './services/admin/sync.ts'
export {
  type AdminUser,
  type AdminUserPage,
  AdminUsers,
  type DeletePreviewRelation,
  type UserDeletePreview,
  type UserSessionInfo,
} from './services/admin/users.ts'
export {
  AdminWebhooks,
  type Webhook,
  type WebhookDelivery,
  type WebhookDeliveryPage,
  type WebhookInput,
  type WebhookWithSecret,
} from './services/admin/webhooks.ts'
export { AuthService } from './services/auth/auth-service.ts'
export type {
  AccountExport,
  AuthListener,
  AuthServiceOptions,
  SessionInfo,
  SignInResult,
  SignUpResult,
  TotpMethods,
  TotpSetup,
} from './services/auth/types.ts'
export { BatchBuilder, BatchCollection, type BatchRequest, type BatchResult } from './services/batch.ts'
export { type FunctionCall, FunctionsService } from './services/functions.ts'
export { OAuthService, type OAuthServiceOptions, type OAuthSignInOptions } from './services/oauth.ts'
export { type Passkey, PasskeyService } from './services/passkeys.ts'
export {
  PushDevices,
  PushPreferencesApi,
  type PushRegistration,
  PushService,
  type PushTopicState,
  PushTopics,
} from './services/push.ts'
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
export type { AuthEvent, Session, SessionSink } from './services/session.ts'
export {
  type Bucket,
  BucketApi,
  type BucketInput,
  type BucketPatch,
  type BucketRules,
  type DownloadOptions,
  type ImageTransform,
  type ListObjectsOptions,
  type ListObjectsResult,
  type RemoveResult,
  ResumableUpload,
  type ResumableUploadOptions,
  type ResumeStore,
  type SignedUrl,
  type SignedUrlOptions,
  type StorageObject,
  StorageService,
  type UploadData,
  type UploadOptions,
  type UploadProgress,
} from './services/storage.ts'
export {
  type AsyncKeyValue,
  asyncStorage,
  localStorageAdapter,
  memoryStorage,
  type SessionStorage,
  type WebStorage,
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
export {
  type AuthenticationResponseJSON,
  type AuthenticatorTransportJSON,
  type Base64URLString,
  browserCreateCredential,
  browserGetCredential,
  browserSupportsPasskeys,
  type CreateCredential,
  type GetCredential,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialDescriptorJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from './webauthn.ts'
