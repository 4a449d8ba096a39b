import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { Hono } from 'hono'
import { sql } from 'kysely'
import type { CollectionsService } from '../../core/collections/service.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { OpenApiPart } from '../../openapi/auth-paths.ts'
import { buildOpenApi } from '../../openapi/build-openapi.ts'
import { docsHtml, docsInitJs, swaggerAssetPath, swaggerAssetType } from '../../openapi/docs-page.ts'
import type { AppEnv } from '../context.ts'

export const VERSION = '0.1.0'

/** Health, the OpenAPI document generated from the live collections, and its interactive reference. */
export function metaRoutes(deps: {
  db: Db
  collections: CollectionsService
  publicUrl: string | undefined
  /** Parts generated once, on first use (the auth endpoints: fixed for the life of the process). */
  openApiParts?: () => Promise<readonly OpenApiPart[]>
}) {
  const r = new Hono<AppEnv>()
  let cached: { key: readonly unknown[]; doc: Record<string, unknown> } | undefined
  let parts: Promise<readonly OpenApiPart[]> | undefined

  r.get('/health', async (c) => {
    try {
      await sql`SELECT 1`.execute(deps.db)
    } catch {
      throw errors.unavailable()
    }
    return c.json({ status: 'ok', version: VERSION })
  })

  r.get('/openapi.json', async (c) => {
    parts ??= deps.openApiParts?.() ?? Promise.resolve([])
    const extra = await parts.catch((err) => {
      parts = undefined
      throw err
    })
    const list = deps.collections.list()
    // Rebuilt only when the catalog changed (a schema change replaces the collection objects).
    if (!cached || cached.key.length !== list.length || cached.key.some((x, i) => x !== list[i])) {
      cached = {
        key: list,
        doc: buildOpenApi({
          collections: list,
          version: VERSION,
          parts: extra,
          ...(deps.publicUrl ? { serverUrl: deps.publicUrl } : {}),
        }),
      }
    }
    return c.json(cached.doc)
  })

  r.get('/docs', (c) => c.html(docsHtml('/api/openapi.json', '/api/docs/assets')))
  r.get('/docs/assets/:file', (c) => {
    const file = c.req.param('file')
    if (file === 'init.js')
      return c.body(docsInitJs('/api/openapi.json'), 200, {
        'Content-Type': 'text/javascript; charset=utf-8',
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
