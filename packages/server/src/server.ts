import type { Logger } from 'pino'
import { createApp } from './app.ts'
import { createLogger } from './config/create-logger.ts'
import type { Config } from './config/load-config.ts'
import { resolveSecret } from './core/auth/secret.ts'
import type { AuthRuntime } from './core/auth/start-auth.ts'
import type { StorageRuntime } from './core/files/start-storage.ts'
import { createRateLimiter } from './core/rate-limit/index.ts'
import { createDb, type Database, type DbOptions } from './db/create-db.ts'
import { type EmbeddedPg, startEmbeddedPostgres } from './db/embedded-postgres.ts'
import { migrate } from './db/migrate.ts'
import { type AdminActions, createAdminActions } from './events/admin-actions.ts'
import { createEventBus, type EventBus } from './events/bus.ts'
import { type Listener, listen } from './http/listen.ts'
import type { ModuleDefinition } from './modules/define-module.ts'
import { MODULES } from './modules/index.ts'
import { createScheduler, type Scheduler } from './modules/scheduler.ts'
import { readSettings } from './modules/settings.ts'
import { startModules } from './modules/start-modules.ts'
import type { Realtime } from './realtime/gateway.ts'

export interface Bastide {
  readonly url: string
  readonly port: number
  readonly app: ReturnType<typeof createApp>
  readonly database: Database
  readonly bus: EventBus
  readonly auth: AuthRuntime
  readonly storage: StorageRuntime
  /** socket.io at /realtime, when listening. */
  readonly realtime: Realtime | undefined
  /** Every module's periodic jobs (`runNow` runs one at once). */
  readonly scheduler: Scheduler
  /** Admin actions, recorded in the caller's transaction (the audit module writes them to the audit log). */
  readonly actions: AdminActions
  readonly log: Logger
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), then closes the database. */
  close(): Promise<void>
}

export interface StartOptions {
  readonly log?: Logger
  readonly onQuery?: DbOptions['onQuery']
  /** Skip listening (tests drive `app.request`). */
  readonly listen?: boolean
  /**
   * false: modules' periodic jobs never run on their own (`scheduler.runNow` still runs them). For one-off
   * CLI processes (`bastide admin create`, storage reconcile) that start the server's code beside a running
   * server. Default true.
   */
  readonly jobs?: boolean
  /** The modules to run, in order. Default: all of them (modules/index.ts). */
  readonly modules?: readonly ModuleDefinition<any>[]
}

/**
 * Starts the server, in order: every module's settings (a bad variable fails here), the database (embedded
 * unless DATABASE_URL) and every module's migrations, the port, the modules (modules/index.ts), then the app.
 */
export async function startBastide(config: Config, opts: StartOptions = {}): Promise<Bastide> {
  const log = opts.log ?? createLogger({ level: config.logLevel, format: config.env.BASTIDE_LOG_FORMAT })
  const modules = opts.modules ?? MODULES
  const settings = readSettings(modules, config.env)
  let embedded: EmbeddedPg | undefined
  let databaseUrl = config.databaseUrl
  if (!databaseUrl) {
    log.info({ dataDir: config.dataDir }, 'starting embedded PostgreSQL')
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.embeddedPgPort,
      log: (m) => log.debug({ pg: m }, 'postgres'),
    })
    databaseUrl = embedded.url
    log.info({ port: embedded.port }, 'embedded PostgreSQL ready')
  }
  try {
    return await wire({ config, opts, log, databaseUrl, embedded, modules, settings })
  } catch (err) {
    // A failed start must not leave an orphaned PostgreSQL behind.
    await embedded?.stop().catch(() => {})
    throw err
  }
}

async function wire(k: {
  config: Config
  opts: StartOptions
  log: Logger
  databaseUrl: string
  embedded: EmbeddedPg | undefined
  modules: readonly ModuleDefinition<any>[]
  settings: ReadonlyMap<string, unknown>
}): Promise<Bastide> {
  const { config, log, databaseUrl } = k
  const database = createDb({
    connectionString: databaseUrl,
    max: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    onError: (err) => log.warn({ err: err.message }, 'database connection lost'),
    ...(k.opts.onQuery ? { onQuery: k.opts.onQuery } : {}),
  })
  const { db } = database
  let listener: Listener | undefined
  let rateLimiter: ReturnType<typeof createRateLimiter> | undefined
  const scheduler = createScheduler(log, { timers: k.opts.jobs !== false })
  try {
    const unknown = await migrate(
      db,
      k.modules.map((m) => ({ module: m.id, migrations: m.migrations ?? [] })),
    )
    for (const m of unknown)
      log.warn(m, 'the database holds a migration this version does not know (a newer Bastide ran)')
    listener = k.opts.listen === false ? undefined : await listen({ port: config.port, host: config.host })
    const port = listener?.port ?? config.port
    const bus = createEventBus((err, event) => log.error({ err, event }, 'event handler failed'))
    const actions = createAdminActions()
    // Before the modules: mail and SMS draw on per-recipient budgets kept in the rate-limit store.
    rateLimiter = createRateLimiter({ config, db, log })
    if (rateLimiter.purge)
      scheduler.add('kernel', { name: 'purge-rate-limits', everyMs: 600_000, run: rateLimiter.purge })
    const modules = await startModules(
      k.modules,
      {
        config,
        database,
        db,
        databaseUrl,
        bus,
        actions,
        secret: await resolveSecret(config.secret, config.dataDir),
        baseUrl: config.publicUrl ?? `http://localhost:${port || 8787}`,
        rateLimiter,
        httpServer: listener?.server,
        runsJobs: k.opts.jobs !== false,
      },
      { log, settings: k.settings, scheduler },
    )
    const { services } = modules
    const app = createApp({
      config,
      log,
      keys: services.keys!,
      authenticators: modules.authenticators,
      modules: modules.started,
    })
    modules.bindFetch(async (request) => app.fetch(request))
    // better-auth checks its tables in the background: the server counts as up (and answers) once every
    // module's last start-up work is done, so a stop right after start does not cut it off into errors.
    await modules.ready()
    listener?.serve(app.fetch)
    if (listener) log.info({ port }, `Bastide listening on http://localhost:${port}`)

    let closing: Promise<void> | undefined
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      app,
      database,
      bus,
      auth: services.auth as AuthRuntime,
      storage: services.storage as StorageRuntime,
      realtime: services.realtime,
      scheduler,
      actions,
      log,
      close() {
        // In order: no new periodic work; long-lived connections end; HTTP drains; modules close, last first.
        closing ??= (async () => {
          await scheduler.close()
          await modules.disconnect()
          await listener?.drain(config.shutdownTimeoutMs)
          await modules.close()
          await rateLimiter?.close()
          await database.close()
          await k.embedded?.stop()
        })()
        return closing
      },
    }
  } catch (err) {
    // startModules closed the modules it had started.
    await scheduler.close()
    listener?.server.close()
    await rateLimiter?.close()
    await database.close()
    throw err
  }
}
