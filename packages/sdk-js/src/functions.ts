/**
 * `@bastide/sdk/functions`: what a function module imports. A function is one TypeScript module,
 * `bastide/functions/<name>/index.ts`, whose default export is `defineFunction({ on, handler, ... })`; the server
 * runs it in a sandbox on the triggers it declares (`bastide functions deploy` bundles and uploads it).
 *
 * Inside the sandbox the server resolves this import itself: nothing here runs there but `defineFunction`, which
 * returns its argument. The types are the contract: the event each trigger delivers and the context every handler
 * receives.
 */
import type {
  AuthHook,
  FunctionManifest,
  FunctionTrigger,
  PushMessageInput,
  RecordEvent,
  StorageEventName,
  SyncMergeEvent,
  SyncMergeResult,
} from '@bastide/protocol'
import type { BastideClient } from './client.ts'

export type {
  AuthHook,
  FunctionLimits,
  FunctionManifest,
  FunctionTrigger,
  PushMessageInput,
  PushTarget,
  RecordAction,
  RecordEvent,
  StorageEventName,
} from '@bastide/protocol'

/** `/api/functions/<name>` (and below): the request as a standard `Request`; the handler returns a `Response`. */
export interface HttpFunctionEvent {
  readonly trigger: 'http'
  /** Its body streams in; `request.url` is the full URL, `/api/functions/<name>/...`. */
  readonly request: Request
}

/** A record change, after commit (at least once: use `ctx.job.id` as the idempotency key). */
export interface RecordFunctionEvent {
  readonly trigger: 'record'
  /** `previous` is set on updates: the record as it was. */
  readonly event: RecordEvent
}

/** The user an auth hook is about. `id` is unset in `before-sign-up` (the user does not exist yet). */
export interface AuthHookUser {
  readonly id?: string
  readonly email: string
  readonly name?: string
  readonly [field: string]: unknown
}

/** A sign-up or sign-in: `before-*` hooks may refuse it, `after-*` hooks run after commit, through the queue. */
export interface AuthFunctionEvent<H extends AuthHook = AuthHook> {
  readonly trigger: 'auth'
  readonly hook: H
  readonly user: AuthHookUser
}

/** An object written to or deleted from a bucket. */
export interface StorageObjectEvent {
  readonly name: StorageEventName
  readonly bucket: string
  readonly key: string
  readonly size: number
  readonly contentType: string
  readonly at: string
}

export interface StorageFunctionEvent {
  readonly trigger: 'storage'
  readonly event: StorageObjectEvent
}

/** A cron slot; it runs once across all nodes. */
export interface CronFunctionEvent {
  readonly trigger: 'cron'
  /** The trigger's cron expression. */
  readonly schedule: string
  /** The slot, ISO (UTC): the same on every retry of it. */
  readonly at: string
}

/** What a handler receives, by trigger (`event.trigger` tells which). */
export type FunctionEvent =
  | HttpFunctionEvent
  | RecordFunctionEvent
  | AuthFunctionEvent
  | StorageFunctionEvent
  | CronFunctionEvent
  | SyncMergeEvent

/** A `before-sign-up` / `before-sign-in` hook's answer: `allow: false` refuses (403) with `message`. */
export type AuthHookDecision = { readonly allow: true } | { readonly allow: false; readonly message?: string }

/** Log lines of one invocation (console.log/warn/error are captured too); kept with the invocation. */
export interface FunctionLogger {
  debug(...args: unknown[]): void
  info(...args: unknown[]): void
  warn(...args: unknown[]): void
  error(...args: unknown[]): void
}

/** The queued delivery a handler runs for (record, after-auth, storage and cron triggers). */
export interface FunctionJob {
  /** Stable across the retries of one delivery: the idempotency key for side effects. */
  readonly id: string
  /** 1 for the first attempt. */
  readonly attempt: number
  readonly retryLimit: number
}

/** A mail a function sends: plain addresses, and a text or an HTML body (or both). */
export interface FunctionMailMessage {
  /**
   * One address, or an array of at most 10: each gets a mail of their own (no one sees the others). One run mails
   * 50 recipients at most.
   */
  readonly to: string | readonly string[]
  /** One line, at most 998 characters. */
  readonly subject: string
  /** At most 1 MiB. */
  readonly text?: string
  /** At most 1 MiB. */
  readonly html?: string
}

/** `ctx.mail`: mail sent with the server's mailer (its SMTP settings; without any, mails are only logged). */
export interface FunctionMailer {
  /**
   * Resolves once the mail is handed to the SMTP server. Rejects with a TypeError on a bad message (nothing is
   * sent), or with an Error when the mail could not go: in a queued trigger, the delivery is then retried, so
   * mails sent before the failure go again (the server's per-recipient budget caps the repeats).
   *
   * @example
   * await ctx.mail.send({ to: event.user.email, subject: 'Welcome', text: `Hello ${event.user.name ?? ''}!` })
   */
  send(message: FunctionMailMessage): Promise<void>
}

/** `ctx.push`: push notifications through the server's push module (its APNs, FCM and Web Push credentials). */
export interface FunctionPush {
  /**
   * Queues a message (as `POST /api/push/messages` does, with source `function:<name>`) and resolves with its id
   * once it is stored: the deliveries go on after the run (see `GET /api/push/messages/:id`). Rejects with a
   * TypeError on a bad message (nothing is queued), or with an Error when it could not be queued: in a queued
   * trigger, the delivery is then retried, so messages queued before the failure go again (use `collapseKey`, or
   * `ctx.job.id`, to tell). One run sends 100 messages at most.
   *
   * @example
   * await ctx.push.send({
   *   to: { users: [String(event.event.record.to)] },
   *   title: 'New message',
   *   body: String(event.event.record.text).slice(0, 100),
   *   data: { chat: String(event.event.record.chat) },
   * })
   */
  send(message: PushMessageInput): Promise<{ id: string }>
}

/** The second argument of every handler. */
export interface FunctionContext {
  /** A client acting as the caller (an HTTP request's user or key, an event's user, or none), or as an admin when the function is `privileged`. */
  readonly client: BastideClient
  /** This function's secrets (`bastide functions secrets set`); their values are redacted from logs. */
  readonly secrets: Readonly<Record<string, string>>
  readonly log: FunctionLogger
  /** Mail through the server's mailer. */
  readonly mail: FunctionMailer
  /** Push notifications to users' devices, topics or every device. */
  readonly push: FunctionPush
  /** The queued delivery, for queued triggers; null for HTTP and `before-*` auth hooks. */
  readonly job: FunctionJob | null
}

/** The event a trigger delivers. */
export type EventOf<T> = T extends { readonly http: unknown }
  ? HttpFunctionEvent
  : T extends { readonly record: unknown }
    ? RecordFunctionEvent
    : T extends { readonly auth: infer H extends AuthHook }
      ? AuthFunctionEvent<H>
      : T extends { readonly storage: unknown }
        ? StorageFunctionEvent
        : T extends { readonly cron: string }
          ? CronFunctionEvent
          : T extends { readonly sync: 'merge' }
            ? SyncMergeEvent
            : never

/** What a handler returns for an event: a Response for HTTP, a decision for `before-*` hooks, else anything (JSON). */
export type ResultOf<E extends FunctionEvent> = E extends HttpFunctionEvent
  ? Response
  : E extends AuthFunctionEvent<'before-sign-up' | 'before-sign-in'>
    ? AuthHookDecision | undefined
    : E extends SyncMergeEvent
      ? SyncMergeResult
      : unknown

type TriggersOf<On> = On extends readonly (infer T)[] ? T : On
type Awaitable<T> = T | Promise<T>

/** A function module's default export: its manifest (triggers, limits) and its handler. */
export interface FunctionDefinition<
  On extends FunctionTrigger | readonly FunctionTrigger[] = FunctionTrigger | readonly FunctionTrigger[],
> extends Omit<FunctionManifest, 'on'> {
  /** One trigger or several. */
  readonly on: On
  handler(event: EventOf<TriggersOf<On>>, ctx: FunctionContext): Awaitable<ResultOf<EventOf<TriggersOf<On>>>>
}

/**
 * Declares a function: returns its argument, typed. The event's type follows the declared triggers.
 *
 * @example
 * import { defineFunction } from '@bastide/sdk/functions'
 *
 * export default defineFunction({
 *   on: [{ http: true }, { record: { collection: 'posts', actions: ['create'] } }],
 *   async handler(event, ctx) {
 *     if (event.trigger === 'http') return Response.json({ ok: true })
 *     ctx.log.info('new post', event.event.record.id)
 *   },
 * })
 */
export function defineFunction<const On extends FunctionTrigger | readonly FunctionTrigger[]>(
  definition: FunctionDefinition<On>,
): FunctionDefinition<On> {
  return definition
}
