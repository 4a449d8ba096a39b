import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { compress } from 'hono/compress'
import { cors } from 'hono/cors'
import { etag } from 'hono/etag'
import { secureHeaders } from 'hono/secure-headers'
import type { Logger } from 'pino'
import type { Config } from './config/load-config.ts'
import type { ApiKeysService } from './core/auth/api-keys.ts'
import type { CollectionsService } from './core/collections/service.ts'
import type { RecordsService } from './core/records/service.ts'
import type { Db } from './db/create-db.ts'
import { errors } from './errors/index.ts'
import type { AppEnv } from './http/context.ts'
import { errorResponse } from './http/middleware/errors.ts'
import { type Authenticator, principalMiddleware } from './http/middleware/principal.ts'
import { requestContext } from './http/middleware/request-id.ts'
import { adminKeyRoutes } from './http/routes/admin-keys.ts'
import { batchRoutes } from './http/routes/batch.ts'
import { collectionRoutes } from './http/routes/collections.ts'
import { metaRoutes } from './http/routes/meta.ts'
import { recordRoutes } from './http/routes/records.ts'

export interface AppDeps {
  readonly config: Config
  readonly db: Db
  readonly log: Logger
  readonly collections: CollectionsService
  readonly records: RecordsService
  readonly keys: ApiKeysService
  /** User sessions and JWTs (the auth issue plugs in here). */
  readonly authenticators?: readonly Authenticator[]
}

/** The whole request path, in order: context, hygiene, identity, routes, one error shape. */
export function createApp(deps: AppDeps) {
  const { config, log } = deps
  const app = new Hono<AppEnv>()

  app.use('*', requestContext(log))
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
      },
      crossOriginResourcePolicy: 'cross-origin',
    }),
  )
  app.use(
    '/api/*',
    cors({
      origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins],
      allowHeaders: [
        'Authorization',
        'Content-Type',
        'Idempotency-Key',
        'If-Match',
        'If-None-Match',
        'X-Request-Id',
      ],
      allowMethods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
      exposeHeaders: ['ETag', 'X-Request-Id', 'Retry-After', 'Idempotency-Replayed'],
      maxAge: 600,
    }),
  )
  app.use('*', compress({ threshold: 1024 }))
  app.use('*', etag())
  app.use(
    '*',
    bodyLimit({
      maxSize: config.bodyLimit,
      onError: (c) => errorResponse(errors.payloadTooLarge(config.bodyLimit), c, log),
    }),
  )
  app.use(
    '/api/*',
    principalMiddleware((t) => deps.keys.authenticate(t), deps.authenticators),
  )

  app.route('/api', metaRoutes({ db: deps.db, collections: deps.collections, publicUrl: config.publicUrl }))
  app.route('/api/collections', collectionRoutes({ collections: deps.collections }))
  app.route('/api/collections', recordRoutes({ db: deps.db, records: deps.records }))
  app.route('/api/batch', batchRoutes({ db: deps.db, records: deps.records }))
  app.route('/api/admin/keys', adminKeyRoutes({ keys: deps.keys }))

  app.notFound((c) => errorResponse(errors.notFound('Route'), c, log))
  app.onError((err, c) => errorResponse(err, c, log))
  return app
}

export type App = ReturnType<typeof createApp>
