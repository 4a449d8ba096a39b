import { Hono } from 'hono'
import type { Logger } from 'pino'
import type { Config } from './config/load-config.ts'
import type { ApiKeysService } from './core/auth/api-keys.ts'
import type { Authenticator } from './core/auth/principal.ts'
import { errors } from './errors/index.ts'
import { requestPath } from './http/canonical-path.ts'
import type { AppEnv } from './http/context.ts'
import { limitBody } from './http/middleware/body-limit.ts'
import { corsPolicy } from './http/middleware/cors.ts'
import { edge } from './http/middleware/edge.ts'
import { errorResponse } from './http/middleware/errors.ts'
import { principalMiddleware } from './http/middleware/principal.ts'
import { sessionBarrier } from './http/middleware/session-barrier.ts'
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
  // The origins in force: the settings module's (runtime settings over BASTIDE_CORS_ORIGINS), else the env's.
  const settings = modules.find((m) => m.parts.provides?.settings)?.parts.provides?.settings
  // Writes that may end or change sessions or users hold this node's session cache until their changes are
  // heard (see session-barrier.ts): before every route, sign-in and sign-out included.
  const auth = modules.find((m) => m.parts.provides?.auth)?.parts.provides?.auth
  // Request context, the headers every answer carries, body limit, session barrier, ETag and compression,
  // metrics and request logs: one middleware around everything (see edge.ts).
  app.use(
    '*',
    edge({
      log,
      trustProxy: config.trustProxy,
      observers,
      cors: corsPolicy({
        origins: settings ? () => settings.current().cors.origins : config.corsOrigins,
        answersOwnOptions: (p) => ownOptions.some((f) => f(p)),
      }),
      limitBody: limitBody({
        maxSize: config.bodyLimit,
        log,
        streams: (p, type) => streams.some((f) => f(p, type)),
      }),
      ...(auth ? { sessionBarrier: sessionBarrier(auth.sessions) } : {}),
    }),
  )
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
