import type { RecordAction } from './records.ts'

/**
 * Functions: TypeScript modules the server runs in a sandbox on HTTP, record, auth, storage, cron and sync triggers,
 * and the durable job queue (PostgreSQL) that delivers every event trigger, retry and webhook.
 */

/** What a function answers to. One function may declare several triggers. */
export type FunctionTrigger =
  /** `/api/functions/<name>` and everything under it, any method (or the listed ones). */
  | { readonly http: true | { readonly methods?: readonly string[] } }
  /** After commit, once per change (at least once: use `ctx.job.id` as the idempotency key). */
  | { readonly record: { readonly collection: string; readonly actions?: readonly RecordAction[] } }
  /** Blocking hooks refuse with a message; `after-*` run after commit, through the queue. */
  | { readonly auth: AuthHook }
  | { readonly storage: { readonly bucket: string; readonly events?: readonly StorageEventName[] } }
  /** Five-field cron (UTC); runs once across all nodes. */
  | { readonly cron: string }
  /** An offline-sync merge function: run synchronously on a conflicting push, its answer is the record (see sync.ts). */
  | { readonly sync: 'merge' }

export const AUTH_HOOKS = ['before-sign-up', 'before-sign-in', 'after-sign-up', 'after-sign-in'] as const
export type AuthHook = (typeof AUTH_HOOKS)[number]

export const STORAGE_EVENTS = ['object.created', 'object.deleted'] as const
export type StorageEventName = (typeof STORAGE_EVENTS)[number]

export const TRIGGER_KINDS = ['http', 'record', 'auth', 'storage', 'cron', 'sync'] as const
export type TriggerKind = (typeof TRIGGER_KINDS)[number]

/** Limits of one invocation; the server caps each at its BASTIDE_FUNCTIONS_* maximum. */
export interface FunctionLimits {
  /** Wall time, ms. */
  readonly timeoutMs?: number
  /** Heap of the sandbox, MiB. */
  readonly memoryMb?: number
}

/** The data a function module declares (`export default defineFunction({...})`), without its handler. */
export interface FunctionManifest extends FunctionLimits {
  readonly on: FunctionTrigger | readonly FunctionTrigger[]
  /** `ctx.client` acts as an admin instead of as the caller (an event's user, or none). */
  readonly privileged?: boolean
  /** Attempts after the first for queued triggers (record, after-auth, storage, cron). Default 3. */
  readonly retries?: number
  /** Hosts `fetch` may reach although they resolve to loopback, private or link-local addresses. */
  readonly allowHosts?: readonly string[]
}

export type InvocationStatus = 'ok' | 'error' | 'timeout' | 'killed'

export interface FunctionLogLine {
  readonly at: string
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly message: string
}

export interface FunctionVersion {
  readonly version: number
  /** sha256 of the source, hex. */
  readonly checksum: string
  readonly createdAt: string
  /** Who deployed it: `admin:<id>` or `key:<id>`. */
  readonly createdBy: string
  readonly active: boolean
}

export interface FunctionSummary {
  readonly name: string
  /** The active version. */
  readonly version: number
  readonly manifest: FunctionManifest
  readonly createdAt: string
  readonly deployedAt: string
  readonly lastInvocation: {
    readonly at: string
    readonly status: InvocationStatus
    readonly durationMs: number
  } | null
}

export interface FunctionDetail extends FunctionSummary {
  /** The active version's source (TypeScript or JavaScript, one module). */
  readonly source: string
  readonly versions: readonly FunctionVersion[]
  /** Secret names only; values never leave the server. */
  readonly secrets: readonly { readonly name: string; readonly updatedAt: string }[]
}

/** `PUT /api/admin/functions/:name`: a new version, active at once. */
export interface DeployFunctionInput {
  /** One ES module; imports other than `@bastide/sdk/functions` must be bundled in (the CLI does). */
  readonly source: string
}

export interface Invocation {
  readonly id: string
  readonly function: string
  readonly version: number
  readonly trigger: TriggerKind
  readonly status: InvocationStatus
  /** HTTP triggers: the status the function answered. */
  readonly httpStatus: number | null
  readonly startedAt: string
  readonly durationMs: number
  /** Queued triggers: the job and its attempt (1 for the first). */
  readonly jobId: string | null
  readonly attempt: number | null
  readonly error: string | null
  readonly logs: readonly FunctionLogLine[]
}

export interface InvocationPage {
  readonly items: readonly Invocation[]
  readonly nextCursor: string | null
}

/** The job queue, as the console and CLI see it. */
export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed'

export interface JobQueueStats {
  readonly name: string
  readonly queued: number
  readonly active: number
  readonly failed: number
  readonly completed: number
  /** The queue its failures move to once out of retries. */
  readonly deadLetter: string | null
}

export interface JobInfo {
  readonly id: string
  readonly queue: string
  readonly state: JobState
  readonly data: unknown
  /** Attempts so far (retryCount + 1 once started). */
  readonly attempts: number
  readonly retryLimit: number
  readonly createdAt: string
  readonly startedAt: string | null
  readonly completedAt: string | null
  /** The last failure's message. */
  readonly error: string | null
  /** The key that made this delivery unique, if any. */
  readonly singletonKey: string | null
}

export interface JobPage {
  readonly items: readonly JobInfo[]
  readonly nextCursor: string | null
}
