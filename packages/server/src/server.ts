import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import pino, { type Logger } from 'pino'
import { createApp } from './app.ts'
import type { Config } from './config/load-config.ts'
import { createAdminAuth, createAdminAuthenticator } from './core/auth/admin-auth.ts'
import { createApiKeysService, KEY_PREFIX } from './core/auth/api-keys.ts'
import type { Authenticator, Principal } from './core/auth/principal.ts'
import { announceSetupToken } from './core/auth/setup-token.ts'
import { type AuthRuntime, startAuth } from './core/auth/start-auth.ts'
import { createCollectionsService } from './core/collections/service.ts'
import { type StorageRuntime, startStorage } from './core/files/start-storage.ts'
import { purgeIdempotencyKeys } from './core/idempotency/run-idempotent.ts'
import { createRateLimiter } from './core/rate-limit/index.ts'
import { createRecordsService } from './core/records/service.ts'
import { createDb, type Database, type DbOptions } from './db/create-db.ts'
import { type EmbeddedPg, startEmbeddedPostgres } from './db/embedded-postgres.ts'
import { migrate } from './db/migrate.ts'
import { createEventBus, type EventBus } from './events/bus.ts'
import { adminConsoleMounts } from './http/routes/admin-users.ts'
import { createChannels } from './realtime/channels.ts'
import { type Realtime, startRealtime } from './realtime/gateway.ts'

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
  readonly log: Logger
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), then closes the database. */
  close(): Promise<void>
}

export interface StartOptions {
  readonly log?: Logger
  readonly onQuery?: DbOptions['onQuery']
  /** Skip listening (tests drive `app.request`). */
  readonly listen?: boolean
}

/** Wires the server: database (embedded unless DATABASE_URL), migrations, services, HTTP. */
export async function startBastide(config: Config, opts: StartOptions = {}): Promise<Bastide> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { service: 'bastide' } })
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
    return await wire(config, opts, log, databaseUrl, embedded)
  } catch (err) {
    // A failed start must not leave an orphaned PostgreSQL behind.
    await embedded?.stop().catch(() => {})
    throw err
  }
}

async function wire(
  config: Config,
  opts: StartOptions,
  log: Logger,
  databaseUrl: string,
  embedded: EmbeddedPg | undefined,
): Promise<Bastide> {
  const database = createDb({
    connectionString: databaseUrl,
    max: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    onError: (err) => log.warn({ err: err.message }, 'database connection lost'),
    ...(opts.onQuery ? { onQuery: opts.onQuery } : {}),
  })
  const { db } = database
  await migrate(db)
  const bus = createEventBus((err, event) => log.error({ err, event }, 'event handler failed'))
  const collections = await createCollectionsService({
    db,
    bus,
    onSchemaChange: () => database.schemaChanged(),
  })
  const stopListening = await collections.listen(database.pool, (err) =>
    log.warn({ err: (err as Error).message }, 'schema listener'),
  )
  const keys = createApiKeysService({ db, adminKey: config.adminKey })

  // Listen first when the port is picked at start (PORT=0): auth links and OAuth callbacks need the address.
  // Until the app exists (a few milliseconds), requests get a 503 like any other start-up moment.
  let handler: (req: Request, env: unknown) => Response | Promise<Response> = () =>
    Response.json(
      { code: 'UNAVAILABLE', message: 'Starting.', status: 503 },
      { status: 503, headers: { 'Retry-After': '1' } },
    )
  let server: ReturnType<typeof serve> | undefined
  let port = config.port
  if (opts.listen !== false) {
    server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve(
        { fetch: (req, env) => handler(req, env), port: config.port, hostname: config.host },
        () => resolve(s),
      )
      s.once('error', reject)
    })
    port = (server.address() as AddressInfo).port
  }
  const baseUrl = config.publicUrl ?? `http://localhost:${port || 8787}`
  // Before auth: mail and SMS draw on per-recipient budgets kept in the rate-limit store.
  const rateLimiter = createRateLimiter({ config, db, log })
  const authRuntime = await startAuth({
    config,
    databaseUrl,
    db,
    log,
    baseUrl,
    collections,
    bus,
    rateLimiter,
  })
  const adminAuth = createAdminAuth({
    config,
    db: authRuntime.authDb,
    secret: authRuntime.secret,
    baseUrl,
    log,
  })
  const storage = await startStorage({
    config,
    db,
    log,
    secret: authRuntime.secret,
    lookup: (n) => collections.find(n),
  })
  const records = createRecordsService({ db, collections, bus, files: storage.attachments })
  const authenticators = [
    ...authRuntime.authenticators,
    createAdminAuthenticator({ db, secret: authRuntime.secret }),
  ]
  const app = createApp({
    config,
    baseUrl,
    db,
    log,
    rateLimiter,
    storage,
    collections,
    records,
    keys,
    auth: authRuntime.auth,
    adminAuth,
    authenticators,
    mounts: adminConsoleMounts({
      config,
      db,
      records,
      auth: authRuntime.auth,
      adminAuth,
      userEvents: authRuntime.userEvents,
      secret: authRuntime.secret,
    }),
  })
  // better-auth checks its tables in the background (and logs what it finds): let it finish before the server
  // counts as up, so that a stop right after start (Ctrl-C, a CLI command) does not cut it off into an error.
  await Promise.allSettled([authRuntime.auth, adminAuth].map(async (a) => (await a.$context).checkSchema?.()))
  handler = app.fetch
  // Realtime shares the port (socket.io at /realtime); tests that drive app.request have no socket to share.
  const realtime = server
    ? await startRealtime({
        httpServer: server as Server,
        config,
        authenticate: authenticateToken(keys, authenticators),
        collections,
        db,
        bus,
        log,
        channels: (ctx) => createChannels({ ...ctx, db, lookup: (n) => collections.find(n), log }),
      })
    : undefined
  if (server) log.info({ port }, `Bastide listening on http://localhost:${port}`)
  // A server that takes requests says how to create the first console admin (CLI commands stay quiet).
  if (server)
    await announceSetupToken(db, authRuntime.secret, log, baseUrl).catch((err) =>
      log.warn({ err: (err as Error).message }, 'could not check for a console admin'),
    )

  const purge = setInterval(() => void purgeIdempotencyKeys(db).catch(() => {}), 3_600_000)
  purge.unref()

  // Responses still in the making when close() starts say `Connection: close`, so their keep-alive sockets
  // neither hold the shutdown open (Node keeps an idle one for keepAliveTimeout) nor take new requests.
  const unanswered = new Set<ServerResponse>()
  let draining = false
  ;(server as Server | undefined)?.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close')
    unanswered.add(res)
    res.once('close', () => unanswered.delete(res))
  })

  let closing: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    app,
    database,
    bus,
    auth: authRuntime,
    storage,
    realtime,
    log,
    close() {
      closing ??= (async () => {
        clearInterval(purge)
        await realtime?.close()
        if (server) {
          const s = server
          draining = true
          for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close')
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              ;(s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
              resolve()
            }, config.shutdownTimeoutMs)
            s.close(() => {
              clearTimeout(timer)
              resolve()
            })
            ;(s as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.()
          })
        }
        await stopListening()
        await authRuntime.close()
        await rateLimiter.close()
        await storage.close()
        await database.close()
        await embedded?.stop()
      })()
      return closing
    },
  }
}

/** One token, as HTTP resolves it: a `bst_sk_` key, else each authenticator in turn; undefined if none. */
function authenticateToken(
  keys: { authenticate(token: string): Promise<Principal> },
  authenticators: readonly Authenticator[],
): (token: string) => Promise<Principal | undefined> {
  return async (token) => {
    if (token.startsWith(KEY_PREFIX)) return keys.authenticate(token).catch(() => undefined)
    for (const a of authenticators) {
      const p = await a(token)
      if (p) return p
    }
    return undefined
  }
}
