import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { type Context, Hono } from 'hono'
import { sql } from 'kysely'
import { hasScope } from '../../core/auth/principal.ts'
import type { CollectionsService } from '../../core/collections/service.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { buildOpenApi } from '../../openapi/build-openapi.ts'
import { docsHtml, docsInitJs, swaggerAssetPath, swaggerAssetType } from '../../openapi/docs-page.ts'
import type { OpenApiAudience } from '../../openapi/public-view.ts'
import type { AppEnv } from '../context.ts'

export const VERSION = '0.1.0'

/** What readiness depends on beyond the database, given by the meta module. */
export interface Readiness {
  /** True from the moment the server begins to stop: the node asks its load balancer to drain it. */
  stopping(): boolean
  /** Migrations recorded when this node started: fewer now means the database was swapped or emptied. */
  readonly migrations: number
  /** Pings Redis (REDIS_URL); absent when the node runs without it. Rejects when Redis does not answer. */
  readonly pingRedis?: () => Promise<void>
}

type Check = 'ok' | 'off' | 'failed'

/** Health, the OpenAPI document generated from the live collections, and its interactive reference. */
export function metaRoutes(deps: {
  db: Db
  collections: CollectionsService
  publicUrl: string | undefined
  /** Parts generated once, on first use (the auth endpoints: fixed for the life of the process). */
  openApiParts?: () => Promise<readonly OpenApiPart[]>
  readiness?: Readiness
}) {
  const r = new Hono<AppEnv>()
  // One document per audience, not per caller: what it shows depends on the rules, never on who asks.
  const cached = new Map<OpenApiAudience, { key: readonly unknown[]; doc: Record<string, unknown> }>()
  let parts: Promise<readonly OpenApiPart[]> | undefined

  r.get('/health', async (c) => {
    try {
      await sql`SELECT 1`.execute(deps.db)
    } catch {
      throw errors.unavailable()
    }
    return c.json({ status: 'ok', version: VERSION })
  })

  // Liveness: the process answers. No dependency is consulted, so an outage of PostgreSQL or Redis never gets
  // every node restarted at once; readiness takes the node out of rotation instead.
  r.get('/health/live', (c) => {
    c.header('Cache-Control', 'no-store')
    return c.json({ status: 'ok', version: VERSION })
  })

  r.get('/health/ready', async (c) => {
    c.header('Cache-Control', 'no-store')
    const ready = deps.readiness
    if (ready?.stopping()) return unavailable(c, 'Shutting down.', { stopping: true })
    const checks: Record<string, Check> = { database: 'ok', migrations: 'ok', redis: 'off' }
    const [migrations, redis] = await Promise.allSettled([
      // Bounded by the pool's statement timeout and connection guard: a hung PostgreSQL answers within seconds.
      sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.migrations`.execute(deps.db),
      ready?.pingRedis?.(),
    ])
    if (migrations.status === 'rejected') {
      checks.database = 'failed'
      checks.migrations = 'failed'
    } else if ((migrations.value.rows[0]?.n ?? 0) < (ready?.migrations ?? 0)) checks.migrations = 'failed'
    if (ready?.pingRedis) checks.redis = redis.status === 'fulfilled' ? 'ok' : 'failed'
    const failed = Object.keys(checks).filter((k) => checks[k] === 'failed')
    if (failed.length > 0) return unavailable(c, `Not ready: ${failed.join(', ')}.`, { checks })
    return c.json({ status: 'ready', version: VERSION, checks })
  })

  r.get('/openapi.json', async (c) => {
    parts ??= deps.openApiParts?.() ?? Promise.resolve([])
    const extra = await parts.catch((err) => {
      parts = undefined
      throw err
    })
    const list = deps.collections.list()
    // Those who may manage the schema see all of it; everyone else sees what their rules let them call.
    const audience: OpenApiAudience = hasScope(c.var.principal, 'schema') ? 'full' : 'public'
    let entry = cached.get(audience)
    // Rebuilt only when the catalog changed (a schema change replaces the collection objects).
    if (!entry || entry.key.length !== list.length || entry.key.some((x, i) => x !== list[i])) {
      entry = {
        key: list,
        doc: buildOpenApi({
          collections: list,
          version: VERSION,
          parts: extra,
          audience,
          ...(deps.publicUrl ? { serverUrl: deps.publicUrl } : {}),
        }),
      }
      cached.set(audience, entry)
    }
    // The answer depends on the credential: no cache may hand one caller's document to another.
    c.header('Vary', 'Authorization')
    c.header('Cache-Control', 'private, no-cache')
    return c.json(entry.doc)
  })

  r.get('/docs', (c) => c.html(docsHtml('/api/openapi.json', '/api/docs/assets')))
  r.get('/docs/assets/:file', (c) => {
    const file = c.req.param('file')
    if (file === 'init.js')
      // Revalidated each time (the ETag middleware answers 304): a new server must not meet an old script.
      return c.body(docsInitJs(), 200, {
        'Content-Type': 'text/javascript; charset=utf-8',
        'Cache-Control': 'no-cache',
      })
    const path = swaggerAssetPath(file)
    if (!path) throw errors.notFound('Asset')
    const stream = Readable.toWeb(createReadStream(path)) as ReadableStream
    return c.body(stream, 200, {
      'Content-Type': swaggerAssetType(file) ?? 'application/octet-stream',
      'Cache-Control': 'public, max-age=86400',
    })
  })
  return r
}

/** 503 in the error shape, answered here: a draining node or a missing dependency is not an error to log. */
function unavailable(c: Context<AppEnv>, message: string, details: Record<string, unknown>) {
  return c.json({ code: 'UNAVAILABLE', message, status: 503, details }, 503, { 'Retry-After': '2' })
}
