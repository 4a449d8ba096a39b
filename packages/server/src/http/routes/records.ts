import { Hono } from 'hono'
import { z } from 'zod'
import type { RecordsService } from '../../core/records/service.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'
import { pageWithEtag, recordWithEtag } from '../json-etag.ts'
import { respondIdempotent } from '../middleware/idempotency.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { parseIfMatch } from '../parse-if-match.ts'
import { isMultipart, type RecordFormDeps, writeRecordForm } from './record-files.ts'

const int = (name: string) =>
  z
    .string()
    .regex(/^\d{1,7}$/, `${name} must be a positive integer`)
    .transform(Number)
    .optional()

export const listQuery = z.object({
  filter: z
    .string()
    .max(4096)
    .optional()
    .describe("A filter expression, e.g. `status = 'published' && views > 10`."),
  sort: z
    .string()
    .max(500)
    .optional()
    .describe('Comma-separated fields, `-` for descending, e.g. `-created,title`.'),
  page: int('page'),
  perPage: int('perPage'),
  after: z
    .string()
    .max(4096)
    .optional()
    .describe('The `nextCursor` of the previous page (keyset pagination).'),
  fields: z
    .string()
    .max(2000)
    .optional()
    .describe('Comma-separated fields to return, e.g. `id,title,author.name`.'),
  expand: z
    .string()
    .max(500)
    .optional()
    .describe('Comma-separated relations to embed, e.g. `author,comments_via_post`.'),
  count: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .optional(),
})

export const readQuery = z.object({ fields: listQuery.shape.fields, expand: listQuery.shape.expand })

function query<T extends z.ZodType>(schema: T, q: Record<string, string>): z.infer<T> {
  // Every parameter is optional: no query string, nothing to check (the common GET by id).
  for (const _ in q) return parsed(schema, q)
  return {} as z.infer<T>
}

function parsed<T extends z.ZodType>(schema: T, q: Record<string, string>): z.infer<T> {
  const r = schema.safeParse(q)
  if (!r.success) {
    throw errors.badRequest('The query string is invalid.', {
      issues: r.error.issues.map((i) => ({ param: i.path.join('.'), message: i.message })),
    })
  }
  return r.data
}

/** With `collections` and `storage`, writes also accept multipart/form-data with files (record-files.ts). */
export function recordRoutes(deps: {
  db: Db
  records: RecordsService
  collections?: RecordFormDeps['collections']
  storage?: RecordFormDeps['storage']
}) {
  const { db, records } = deps
  const form = (contentType: string | undefined): RecordFormDeps | undefined =>
    deps.collections && deps.storage && isMultipart(contentType)
      ? { db, records, collections: deps.collections, storage: deps.storage }
      : undefined
  const r = new Hono<AppEnv>()

  r.get('/:collection/records', async (c) => {
    const raw = c.req.query()
    const q = query(listQuery, raw)
    return pageWithEtag(
      c,
      await records.list(c.req.param('collection'), { ...q, requestQuery: raw }, c.get('principal')),
    )
  })

  r.get('/:collection/records/:id', async (c) => {
    const raw = c.req.query()
    const q = query(readQuery, raw)
    const name = c.req.param('collection')
    // Looked up before the read (see recordWithEtag).
    const collection = deps.collections?.find(name)
    const rec = await records.view(name, c.req.param('id'), c.get('principal'), { ...q, query: raw })
    return recordWithEtag(c, rec, collection, raw)
  })

  r.post('/:collection/records', async (c) => {
    const raw = c.req.query()
    const q = query(readQuery, raw)
    const multipart = form(c.req.header('content-type'))
    if (multipart) return writeRecordForm(c, multipart, { read: { ...q, query: raw } })
    const body = await jsonBody(c)
    return respondIdempotent(c, db, body, async (tx) => ({
      status: 201,
      body: await records.create(c.req.param('collection'), body, c.get('principal'), {
        ...q,
        query: raw,
        ...(tx ? { tx } : {}),
      }),
    }))
  })

  r.patch('/:collection/records/:id', async (c) => {
    const raw = c.req.query()
    const q = query(readQuery, raw)
    const ifMatch = parseIfMatch(c.req.header('if-match'))
    const multipart = form(c.req.header('content-type'))
    if (multipart)
      return writeRecordForm(c, multipart, {
        id: c.req.param('id'),
        read: { ...q, query: raw },
        ...(ifMatch !== undefined ? { ifMatch } : {}),
      })
    const body = await jsonBody(c)
    return respondIdempotent(c, db, body, async (tx) => ({
      status: 200,
      body: await records.update(c.req.param('collection'), c.req.param('id'), body, c.get('principal'), {
        ...q,
        query: raw,
        ...(tx ? { tx } : {}),
        ...(ifMatch !== undefined ? { ifMatch } : {}),
      }),
    }))
  })

  r.delete('/:collection/records/:id', async (c) => {
    const ifMatch = parseIfMatch(c.req.header('if-match'))
    return respondIdempotent(c, db, null, async (tx) => {
      await records.remove(c.req.param('collection'), c.req.param('id'), c.get('principal'), {
        query: c.req.query(),
        ...(tx ? { tx } : {}),
        ...(ifMatch !== undefined ? { ifMatch } : {}),
      })
      return { status: 204, body: null }
    })
  })

  return r
}
