import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { compress } from 'hono/compress'
import { etag } from 'hono/etag'
import type { Logger } from 'pino'
import type { Config } from './config/load-config.ts'
import type { ApiKeysService } from './core/auth/api-keys.ts'
import type { Authenticator } from './core/auth/principal.ts'
import { errors } from './errors/index.ts'
import { requestPath } from './http/canonical-path.ts'
import type { AppEnv } from './http/context.ts'
import { limitBody } from './http/middleware/body-limit.ts'
import { corsHeaders } from './http/middleware/cors.ts'
import { errorResponse } from './http/middleware/errors.ts'
import { headResponse } from './http/middleware/head-response.ts'
import { principalMiddleware } from './http/middleware/principal.ts'
import { requestContext } from './http/middleware/request-id.ts'
import { securityHeaders } from './http/middleware/security-headers.ts'
import { sessionBarrier } from './http/middleware/session-barrier.ts'
import { varyAcceptEncoding } from './http/middleware/vary.ts'
import { ASKS_COMPRESSION, nodeRequestHeaders, unlessSentNatively } from './http/native.ts'
import type { StartedModule } from './modules/start-modules.ts'

export interface AppDeps {
  readonly config: Config
  readonly log: Logger
  /** `bst_sk_` API keys, tried first for every credential. */
  readonly keys: ApiKeysService
  /** Turn user sessions, access JWTs and admin sessions into principals (tried after `bst_sk_` keys). */
  readonly authenticators: readonly Authenticator[]
  /** The started modules, in order: their routes are mounted in that order (see modules/index.ts). */
  readonly modules: readonly StartedModule[]
}

/** The whole request path, in order: context, hygiene, identity, every module's routes, one error shape. */
export function createApp(deps: AppDeps) {
  const { config, log, modules } = deps
  const routes = (stage: 'credentials' | 'api') =>
    modules.flatMap((m) => (m.parts.routes ?? []).filter((r) => (r.stage ?? 'api') === stage))
  const streams = modules.flatMap((m) => (m.parts.streamsBody ? [m.parts.streamsBody] : []))
  const ownOptions = modules.flatMap((m) => (m.parts.answersOptions ? [m.parts.answersOptions] : []))
  const observers = modules.flatMap((m) => (m.parts.observe ? [m.parts.observe] : []))

  // Canonical paths (see canonical-path.ts): `//`, trailing slashes and case variants of auth routes
  // reach the same handler, with the same rate-limit counters.
  const app = new Hono<AppEnv>({ getPath: requestPath })
  app.use('*', nodeRequestHeaders)
  // First, so that it wraps up last: HEAD responses keep every header set below (see head-response.ts).
  app.use('*', headResponse)
  app.use('*', requestContext(log, config.trustProxy))
  // Metrics and request logs: right inside the request context, so they see the final status of every
  // request (errors and 404s included) and its request id. Absent when no module observes.
  if (observers.length > 0) app.use('*', observeRequests(observers, log))
  app.use('*', securityHeaders)
  // The origins in force: the settings module's (runtime settings over BASTIDE_CORS_ORIGINS), else the env's.
  const settings = modules.find((m) => m.parts.provides?.settings)?.parts.provides?.settings
  app.use(
    '/api/*',
    corsHeaders({
      origins: settings ? () => settings.current().cors.origins : config.corsOrigins,
      answersOwnOptions: (p) => ownOptions.some((f) => f(p)),
    }),
  )
  // compress() and etag() act on the way out, on c.res: nothing to do for an answer already sent through
  // Node's response (native.ts sends one only when the request asked for neither a conditional answer nor
  // compression).
  // Each only where it can do something: compress() when the request accepts a compression (it never
  // compresses an answer to HEAD), etag() for GET and HEAD (what it acts on).
  const compression = unlessSentNatively(compress({ threshold: 1024 }))
  app.use('*', (c, next) =>
    c.req.method !== 'HEAD' && ASKS_COMPRESSION.test(c.req.header('accept-encoding') ?? '')
      ? compression(c, next)
      : next(),
  )
  app.use('*', varyAcceptEncoding)
  // A function's answer is its own representation, and may be an endless stream the etag would read whole.
  const etags = unlessSentNatively(etag())
  app.use('*', (c, next) =>
    (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'QUERY') &&
    !c.req.path.startsWith('/api/functions/')
      ? etags(c, next)
      : next(),
  )
  app.use(
    '*',
    limitBody({ maxSize: config.bodyLimit, log, streams: (p, type) => streams.some((f) => f(p, type)) }),
  )

  // Writes that may end or change sessions or users hold this node's session cache until their changes are
  // heard (see session-barrier.ts): before every route, sign-in and sign-out included.
  const auth = modules.find((m) => m.parts.provides?.auth)?.parts.provides?.auth
  if (auth) app.use('*', sessionBarrier(auth.sessions))
  // Routes that read their own credentials (sign-in) answer before the principal is resolved.
  for (const r of routes('credentials')) app.route(r.path, r.app)
  app.use(
    '/api/*',
    principalMiddleware((t) => deps.keys.authenticate(t), deps.authenticators),
  )
  for (const r of routes('api')) app.route(r.path, r.app)

  app.notFound((c) => errorResponse(errors.notFound('Route'), c, log))
  app.onError((err, c) => errorResponse(err, c, log))
  return app
}

export type App = ReturnType<typeof createApp>

/** Calls each module's `observe` once a request is answered (see ModuleParts.observe). */
function observeRequests(
  observers: readonly ((c: Context<AppEnv>, ms: number) => void)[],
  log: Logger,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const start = performance.now()
    await next()
    const ms = performance.now() - start
    for (const o of observers) {
      try {
        o(c, ms)
      } catch (err) {
        log.error({ err }, 'request observer failed')
      }
    }
  }
}
