import type { Server } from 'node:http'
import type { WireErrorCode } from '@bastide/protocol'
import type { Context, Hono } from 'hono'
import type { Logger } from 'pino'
import type { z } from 'zod'
import type { Config } from '../config/load-config.ts'
import type { Authenticator, Principal } from '../core/auth/principal.ts'
import type { RateLimiter } from '../core/rate-limit/index.ts'
import type { Database, Db } from '../db/create-db.ts'
import type { Migration } from '../db/define-migration.ts'
import type { AdminActions } from '../events/admin-actions.ts'
import type { EventBus } from '../events/bus.ts'
import type { EventMap, EventName } from '../events/catalog.ts'
import type { AppEnv } from '../http/context.ts'
import type { OpenApiPart } from '../openapi/auth-paths.ts'
import type { Job } from './scheduler.ts'

/**
 * What modules hand to the modules after them (`ctx.use('records')`). A module that provides a service adds
 * it here from its own folder, by declaration merging:
 * ```ts
 * declare module '../define-module.ts' { interface Services { audit: AuditLog } }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging, one entry per providing module
export interface Services {}

/** Environment variables a module reads: a zod object keyed by variable name (empty strings count as unset). */
export type SettingsSchema = z.ZodObject<Record<string, z.ZodType>>

/** What a module's `start` receives: the shared parts, its own settings, and earlier modules' services. */
export interface ModuleContext<S> {
  readonly config: Config
  /** This module's settings, parsed from the environment by its `config` schema. */
  readonly settings: S
  readonly database: Database
  readonly db: Db
  readonly databaseUrl: string
  /** The server's own logger, with `module` set to this module's id. */
  readonly log: Logger
  readonly bus: EventBus
  /**
   * Admin actions (schema, keys, buckets, channels, users): record each inside the transaction that performs
   * it (`actions.record(trx, …)`); the audit module subscribes.
   */
  readonly actions: AdminActions
  /** BASTIDE_SECRET, or the one generated once under the data directory. */
  readonly secret: string
  /** The externally visible base URL (BASTIDE_PUBLIC_URL, or http://localhost:<port>). */
  readonly baseUrl: string
  /** Counters shared by every node (Redis when REDIS_URL is set, else PostgreSQL). */
  readonly rateLimiter: RateLimiter
  /** The listening HTTP server; undefined when the app is only driven in-process (`listen: false`). */
  readonly httpServer: Server | undefined
  /** false when started with `jobs: false` (a one-off CLI process): no workers, no periodic work of its own. */
  readonly runsJobs: boolean
  /** Resolves a credential as HTTP does, with every module's authenticators; call it after start. */
  authenticate(token: string): Promise<Principal | undefined>
  /**
   * Answers `request` with the server's own app, in-process (no socket, every middleware on the way: a
   * function's `ctx.client`); call it after start.
   */
  fetch(request: Request): Promise<Response>
  /** The OpenAPI parts of every module, for the API document; call it after start. */
  openApiParts(): Promise<readonly OpenApiPart[]>
  /** A service provided by a module earlier in the list; throws when none did (a module-order mistake). */
  use<K extends keyof Services>(name: K): Services[K]
}

/** Routes, mounted in module order. */
export interface RouteMount {
  readonly path: string
  readonly app: Hono<AppEnv>
  /**
   * `credentials`: mounted before the principal is resolved (sign-in routes that read their own credentials,
   * so a stale token never stands between a user and signing in again). Default `api`: after it.
   */
  readonly stage?: 'credentials' | 'api'
}

export type EventHandlers = { readonly [E in EventName]?: (payload: EventMap[E]) => void }

/** What a started module contributes. Every part is optional. */
export interface ModuleParts {
  /** Services for later modules (see Services). */
  readonly provides?: Partial<Services>
  readonly routes?: readonly RouteMount[]
  /** Its part of the OpenAPI document (records and collections are built from the live schema instead). */
  readonly openapi?: () => OpenApiPart | Promise<OpenApiPart>
  /** Event subscriptions, after commit (events/bus.ts). */
  readonly on?: EventHandlers
  /** Periodic work, run by the scheduler and stopped before the module closes. */
  readonly jobs?: readonly Job[]
  /** Turn credentials into principals (tried in module order after `bst_sk_` API keys). */
  readonly authenticators?: readonly Authenticator[]
  /** Request bodies the module's routes stream and limit themselves (uploads): exempt from BASTIDE_BODY_LIMIT. */
  readonly streamsBody?: (path: string, contentType: string | undefined) => boolean
  /**
   * Sees every HTTP request once it is answered (errors included), with how long it took in milliseconds:
   * `c.req.method`, `routePath(c)` from 'hono/route' (the matched pattern, never the raw path),
   * `c.res.status`, `c.var.principal` (unset before the principal is resolved). Runs on the hot path,
   * synchronously, after the response is final: keep it to counters and a push into a buffer; never await,
   * never throw (a failure is logged and the response goes out unchanged).
   */
  readonly observe?: (c: Context<AppEnv>, ms: number) => void
  /** Paths where a plain OPTIONS (not a CORS preflight) is the route's own (tus discovery). */
  readonly answersOptions?: (path: string) => boolean
  /** The last start-up work, once every module has started and before the server answers its first request. */
  readonly ready?: () => Promise<void>
  /**
   * Ends long-lived client connections (realtime sockets) when the server stops: before the HTTP server
   * drains, which would otherwise wait for them until the shutdown timeout.
   */
  readonly disconnect?: () => Promise<void>
  /** Stops the module; modules close in reverse order, after every job has stopped and HTTP has drained. */
  readonly close?: () => Promise<void>
}

export interface ModuleDefinition<S = Record<string, never>> {
  /** Unique, kebab-case: log field, migration namespace, job names. */
  readonly id: string
  readonly config?: SettingsSchema
  /** This module's schema changes, in order; append-only (see db/migrate.ts). */
  readonly migrations?: readonly Migration[]
  /**
   * The error codes of its own, beyond the server's catalog (errors/): declared in packages/protocol, so the
   * SDK knows every one; a code not in the protocol does not compile here.
   */
  readonly errorCodes?: readonly WireErrorCode[]
  start(ctx: ModuleContext<S>): ModuleParts | Promise<ModuleParts>
}

/** A capability of the server, as one typed object (see modules/index.ts for the list). */
export function defineModule<Schema extends SettingsSchema | undefined = undefined>(
  m: Omit<
    ModuleDefinition<Schema extends SettingsSchema ? z.infer<Schema> : Record<string, never>>,
    'config'
  > & {
    readonly config?: Schema
  },
): ModuleDefinition<Schema extends SettingsSchema ? z.infer<Schema> : Record<string, never>> {
  return m as ModuleDefinition<Schema extends SettingsSchema ? z.infer<Schema> : Record<string, never>>
}
