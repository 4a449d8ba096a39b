import type { ServerResponse } from 'node:http'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { compress } from 'hono/compress'
import { cors } from 'hono/cors'
import { etag } from 'hono/etag'
import { secureHeaders } from 'hono/secure-headers'
import type { Logger } from 'pino'
import type { Config } from './config/load-config.ts'
import type { AdminAuth } from './core/auth/admin-auth.ts'
import type { ApiKeysService } from './core/auth/api-keys.ts'
import type { Auth } from './core/auth/create-auth.ts'
import type { Authenticator } from './core/auth/principal.ts'
import type { CollectionsService } from './core/collections/service.ts'
import type { StorageRuntime } from './core/files/start-storage.ts'
import type { RateLimiter } from './core/rate-limit/index.ts'
import type { RecordsService } from './core/records/service.ts'
import type { Db } from './db/create-db.ts'
import { errors } from './errors/index.ts'
import { requestPath } from './http/canonical-path.ts'
import { clientIp } from './http/client-ip.ts'
import type { AppEnv } from './http/context.ts'
import { errorResponse } from './http/middleware/errors.ts'
import { headResponse } from './http/middleware/head-response.ts'
import { principalMiddleware } from './http/middleware/principal.ts'
import { authRateLimit } from './http/middleware/rate-limit.ts'
import { requestContext } from './http/middleware/request-id.ts'
import { publicBaseUrl } from './http/public-base-url.ts'
import { accountPageRoutes } from './http/routes/account-page.ts'
import { adminKeyRoutes } from './http/routes/admin-keys.ts'
import { authRoutes } from './http/routes/auth.ts'
import { batchRoutes } from './http/routes/batch.ts'
import { collectionRoutes } from './http/routes/collections.ts'
import { homeRoutes } from './http/routes/home.ts'
import { metaRoutes } from './http/routes/meta.ts'
import { realtimeChannelRoutes } from './http/routes/realtime-channels.ts'
import { isRecordUpload, recordFileRoutes } from './http/routes/record-files.ts'
import { recordRoutes } from './http/routes/records.ts'
import { isStorageUpload, storageRoutes } from './http/routes/storage.ts'
import { isResumableUpload, storageUploadRoutes } from './http/routes/storage-uploads.ts'
import { authOpenApi } from './openapi/auth-paths.ts'
import { realtimeOpenApi } from './openapi/realtime-paths.ts'
import { storageOpenApi } from './openapi/storage-paths.ts'

export interface AppDeps {
  readonly config: Config
  readonly db: Db
  readonly log: Logger
  readonly collections: CollectionsService
  readonly records: RecordsService
  readonly keys: ApiKeysService
  /** App users' better-auth instance, served at /api/auth. */
  readonly auth?: Auth
  /** Console admins' better-auth instance, served at /api/admin/auth. */
  readonly adminAuth?: AdminAuth
  /** Turn user sessions, access JWTs and admin sessions into principals (tried after `bst_sk_` keys). */
  readonly authenticators?: readonly Authenticator[]
  /** Routes mounted after identity is known (admin console API...), each under its own prefix. */
  readonly mounts?: readonly { readonly path: string; readonly app: Hono<AppEnv> }[]
  /** Counters for the auth endpoints' rate limits (PostgreSQL or Redis). */
  readonly rateLimiter: RateLimiter
  /** Buckets and objects, served at /api/storage. */
  readonly storage?: StorageRuntime
  /**
   * The server's externally visible base URL as resolved at start: BASTIDE_PUBLIC_URL, or
   * `http://localhost:` and the port it listens on. Default: from the configuration alone.
   */
  readonly baseUrl?: string
}

const secure = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
  },
  crossOriginResourcePolicy: 'cross-origin',
})

/** What `secure` sets, read once from a response it handled. */
const SECURE_HEADERS: readonly [string, string][] = [
  ...(
    await new Hono()
      .use(secure)
      .get('/', (c) => c.body(null, 204))
      .request('/')
  ).headers,
]

/** The whole request path, in order: context, hygiene, identity, routes, one error shape. */
export function createApp(deps: AppDeps) {
  const { config, log } = deps
  // Canonical paths (see canonical-path.ts): `//`, trailing slashes and case variants of auth routes
  // reach the same handler, with the same rate-limit counters.
  const app = new Hono<AppEnv>({ getPath: requestPath })

  // First, so that it wraps up last: HEAD responses keep every header set below (see head-response.ts).
  app.use('*', headResponse)
  app.use('*', requestContext(log))
  // Under @hono/node-server the security headers go straight onto Node's response, where writeHead merges
  // them: a fraction of the cost of setting a dozen headers on the web Headers object after every handler.
  // Elsewhere (app.request in tests, other runtimes) hono's middleware sets the very same list.
  app.use('*', async (c, next) => {
    const out = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
    if (!out || typeof out.setHeader !== 'function' || out.headersSent) return secure(c, next)
    for (const [name, value] of SECURE_HEADERS) out.setHeader(name, value)
    await next()
  })
  const corsOptions = {
    origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins],
    allowHeaders: [
      'Authorization',
      'Content-Type',
      'Idempotency-Key',
      'If-Match',
      'If-None-Match',
      'If-Range',
      'Range',
      'X-Bastide-Metadata',
      'X-Request-Id',
      'Tus-Resumable',
      'Upload-Length',
      'Upload-Offset',
      'Upload-Metadata',
      'Upload-Defer-Length',
      'Upload-Concat',
      'X-HTTP-Method-Override',
    ],
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    exposeHeaders: [
      'ETag',
      'X-Request-Id',
      'Retry-After',
      'Idempotency-Replayed',
      'Set-Auth-Token',
      'Set-Auth-Jwt',
      'Accept-Ranges',
      'Content-Disposition',
      'Content-Length',
      'Content-Range',
      'Last-Modified',
      'Tus-Resumable',
      'Tus-Version',
      'Tus-Extension',
      'Tus-Max-Size',
      'Upload-Offset',
      'Upload-Length',
      'Upload-Expires',
      'Location',
      'Bastide-Object',
    ],
    maxAge: 600,
  }
  const preflight = cors(corsOptions)
  const anyOrigin = corsOptions.origin === '*'
  const exposed = corsOptions.exposeHeaders.join(',')
  // hono's cors() writes its headers through c.res before the handler runs; the handler's response then
  // replaces that placeholder, and hono rebuilds it (its body becomes a stream) to carry the headers over,
  // which takes @hono/node-server off its fast path on every request. Set the same headers afterwards.
  app.use('/api/*', async (c, next) => {
    // A plain OPTIONS (not a preflight) on resumable uploads is tus's discovery request: tus answers it.
    const discovery = !c.req.header('access-control-request-method') && isResumableUpload(c.req.path)
    if (c.req.method === 'OPTIONS' && !discovery) return preflight(c, next)
    await next()
    const h = c.res.headers
    const origin = c.req.header('origin') ?? ''
    const allow = anyOrigin ? '*' : corsOptions.origin.includes(origin) ? origin : null
    if (allow) h.set('Access-Control-Allow-Origin', allow)
    h.set('Access-Control-Expose-Headers', exposed)
    if (!anyOrigin) h.append('Vary', 'Origin')
  })
  app.use('*', compress({ threshold: 1024 }))
  // compress() adds `Vary: Accept-Encoding` with c.header(), which rebuilds a finished response (see cors
  // above); it leaves the header alone when it is already there, so put it there in place first.
  app.use('*', async (c, next) => {
    await next()
    const vary = c.res.headers.get('Vary')
    if (!vary) c.res.headers.set('Vary', 'Accept-Encoding')
    else if (!/accept-encoding/i.test(vary)) c.res.headers.set('Vary', `${vary}, Accept-Encoding`)
  })
  app.use('*', etag())
  const limitBody = bodyLimit({
    maxSize: config.bodyLimit,
    onError: (c) => errorResponse(errors.payloadTooLarge(config.bodyLimit), c, log),
  })
  // hono's bodyLimit reads c.req.raw.body, which makes @hono/node-server build a full web Request (URL,
  // Headers, AbortSignal, a stream over the socket) for every request. Without a body there is nothing to
  // limit, and a Content-Length (which Node's parser holds the body to) is checked from the header alone.
  app.use('*', (c, next) => {
    const m = c.req.method
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next()
    // Uploads stream to storage, which applies each bucket's own limit as the bytes arrive.
    if (deps.storage && isStorageUpload(c.req.path)) return next()
    // So do record writes with files (multipart only: a JSON body keeps the limit; the @json part has its own).
    if (deps.storage && isRecordUpload(c.req.path, c.req.header('content-type'))) return next()
    const length = c.req.header('content-length')
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > config.bodyLimit)
        return Promise.resolve(errorResponse(errors.payloadTooLarge(config.bodyLimit), c, log))
      return next()
    }
    return limitBody(c, next)
  })
  // Before better-auth (whose own limiter is off): per address and per account, on both auth mounts.
  const limitAuth = authRateLimit({
    limiter: deps.rateLimiter,
    log,
    perIp: config.auth.rateLimit,
    clientIp: (req, env) => clientIp(req, env, config.trustProxy),
  })
  app.use('/api/auth/*', limitAuth)
  app.use('/api/admin/auth/*', limitAuth)
  // better-auth reads its own credentials (cookies, bearer session tokens): it answers before the principal
  // middleware, so a stale token never stands between a user and signing in again.
  if (deps.auth) {
    app.route(
      '/api/auth',
      authRoutes({ auth: deps.auth, clientIp: (req, env) => clientIp(req, env, config.trustProxy) }),
    )
  }
  if (deps.adminAuth) {
    app.route(
      '/api/admin/auth',
      authRoutes({ auth: deps.adminAuth, clientIp: (req, env) => clientIp(req, env, config.trustProxy) }),
    )
  }
  app.use(
    '/api/*',
    principalMiddleware((t) => deps.keys.authenticate(t), deps.authenticators),
  )
  app.use('/api/*', (c, next) => {
    c.set('clientIp', clientIp(c.req.raw, c.env, config.trustProxy))
    return next()
  })

  app.route(
    '/api',
    metaRoutes({
      db: deps.db,
      collections: deps.collections,
      publicUrl: config.publicUrl,
      openApiParts: () =>
        Promise.all([
          ...(deps.storage ? [storageOpenApi()] : []),
          realtimeOpenApi(),
          ...(deps.auth
            ? [
                authOpenApi(deps.auth, {
                  prefix: '/api/auth',
                  tag: 'Auth',
                  namePrefix: 'Auth',
                  description:
                    "App users' sign-in, sessions, tokens, two-factor and passkeys (better-auth). Errors use the same `{code, message, status, details}` shape.",
                }),
              ]
            : []),
          ...(deps.adminAuth
            ? [
                authOpenApi(deps.adminAuth, {
                  prefix: '/api/admin/auth',
                  tag: 'Console auth',
                  namePrefix: 'Admin',
                  description:
                    "Console admins' sign-in, sessions and two-factor: a population apart from app users.",
                }),
              ]
            : []),
        ]),
    }),
  )
  app.route('/api/collections', collectionRoutes({ collections: deps.collections }))
  app.route(
    '/api/collections',
    recordRoutes({
      db: deps.db,
      records: deps.records,
      collections: deps.collections,
      ...(deps.storage ? { storage: deps.storage } : {}),
    }),
  )
  if (deps.storage) {
    app.route(
      '/api/collections',
      recordFileRoutes({ records: deps.records, collections: deps.collections, storage: deps.storage }),
    )
  }
  app.route('/api/batch', batchRoutes({ db: deps.db, records: deps.records }))
  app.route('/api/admin/keys', adminKeyRoutes({ keys: deps.keys }))
  app.route(
    '/api/realtime/channels',
    realtimeChannelRoutes({ db: deps.db, lookup: (n) => deps.collections.find(n) }),
  )
  if (deps.storage) {
    // Absolute URLs handed out (signed URLs, tus Location) never follow a client's Host header.
    const baseUrl = publicBaseUrl({
      publicUrl: config.publicUrl,
      fallback: deps.baseUrl ?? `http://localhost:${config.port || 8787}`,
      trustProxy: config.trustProxy,
    })
    app.route('/api/storage', storageRoutes({ storage: deps.storage, baseUrl }))
    app.route(
      '/api/storage/uploads',
      storageUploadRoutes({
        storage: deps.storage,
        baseUrl,
        maxFileSize: config.storage.maxFileSize,
        log,
      }),
    )
  }
  for (const m of deps.mounts ?? []) app.route(m.path, m.app)
  // The hosted account page for app users (outside /api: no principal, it calls /api/auth like any client).
  app.route(
    '/account',
    accountPageRoutes({
      providers: [
        ...Object.keys(config.auth.social).map((id) => ({ id, kind: 'social' as const })),
        ...config.auth.oidc.map((p) => ({ id: p.id, kind: 'oidc' as const })),
      ],
    }),
  )

  app.route('/', homeRoutes({ config }))
  app.notFound((c) => errorResponse(errors.notFound('Route'), c, log))
  app.onError((err, c) => errorResponse(err, c, log))
  return app
}

export type App = ReturnType<typeof createApp>
