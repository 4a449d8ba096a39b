import type { IncomingMessage } from 'node:http'
import { type Context, Hono } from 'hono'
import type { CollectionsService } from '../../core/collections/service.ts'
import { type RecordUpload, readRecordForm, uploadsByField } from '../../core/files/record-uploads.ts'
import type { StorageRuntime } from '../../core/files/start-storage.ts'
import { keysOf } from '../../core/records/file-fields.ts'
import type { ReadOptions, RecordsService } from '../../core/records/service.ts'
import { uuidv7 } from '../../core/records/uuidv7.ts'
import { gate } from '../../core/rules/authorize.ts'
import { isUuid } from '../../core/rules/values.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'
import { respondIdempotent } from '../middleware/idempotency.ts'
import { serveObject } from '../serve-object.ts'
import { headersOf, requestBody } from './storage.ts'

const RECORD_WRITE_PATH = /^\/api\/collections\/[^/]+\/records(\/[^/]+)?\/?$/
const FILE_PATH = /^\/api\/collections\/[^/]+\/records\/[^/]+\/files\/[^/]+\/(.+)$/

export const isMultipart = (contentType: string | undefined) =>
  /^multipart\/form-data\s*;/i.test(contentType ?? '')

/** Record writes sent as multipart stream their files to storage, which limits them per bucket. */
export function isRecordUpload(path: string, contentType: string | undefined): boolean {
  return isMultipart(contentType) && RECORD_WRITE_PATH.test(path)
}

export interface RecordFormDeps {
  readonly db: Db
  readonly records: RecordsService
  readonly collections: CollectionsService
  readonly storage: StorageRuntime
}

/**
 * A record create (no `id`) or update sent as multipart/form-data: the `@json` part is the body, the files
 * are stored first (see readRecordForm) and handed to the write as `uploads`. If the write fails, or a retry
 * with the same Idempotency-Key replays a stored answer, the files stored for this request are deleted.
 */
export async function writeRecordForm(
  c: Context<AppEnv>,
  deps: RecordFormDeps,
  o: { id?: string; read: ReadOptions; ifMatch?: number },
): Promise<Response> {
  const name = c.req.param('collection')!
  const collection = deps.collections.get(name)
  const p = c.var.principal
  // Before any byte is stored: a write the collection locks for this caller ends here, not after its files
  // were uploaded and thrown away. (Rules with an expression are decided on the record, as for JSON.)
  const rule = o.id === undefined ? collection.rules.create : collection.rules.update
  if (gate(p, rule, 'records:write') === 'locked') {
    if (o.id === undefined) throw errors.forbidden(`Only admins can create ${collection.name} records.`)
    throw errors.notFound('Record')
  }
  const { objects, attachments } = deps.storage
  const discard = async (uploads: readonly RecordUpload[]) => {
    const byBucket = new Map<string, string[]>()
    for (const u of uploads) byBucket.set(u.bucket, [...(byBucket.get(u.bucket) ?? []), u.key])
    for (const [bucket, keys] of byBucket) await attachments.discard(bucket, keys)
  }
  const newId = uuidv7()
  const form = await readRecordForm(
    { objects, discard },
    { headers: headersOf(c), body: requestBody(c) },
    {
      collection,
      recordId: (data) =>
        o.id ?? (typeof data?.id === 'string' && isUuid(data.id) ? data.id.toLowerCase() : newId),
      owner: p.kind === 'user' ? p.id : null,
      writeHidden: p.kind === 'admin' || p.kind === 'key',
    },
  )
  const data = form.data ?? {}
  // The keys name the record: a create with files but without an id gets the id they were stored under.
  const body = !o.id && form.uploads.length > 0 && !('id' in data) ? { ...data, id: newId } : data
  // What a retry must repeat to be the same request: the JSON and the files' contents.
  const fingerprint = {
    data,
    files: form.uploads.map((u) => ({ field: u.field, name: u.filename, sha256: u.info.sha256 })),
  }
  let ran = false
  try {
    const res = await respondIdempotent(c, deps.db, fingerprint, async (tx) => {
      ran = true
      const opts = {
        ...o.read,
        uploads: uploadsByField(form.uploads),
        ...(tx ? { tx } : {}),
        ...(o.ifMatch !== undefined ? { ifMatch: o.ifMatch } : {}),
      }
      return o.id
        ? { status: 200, body: await deps.records.update(name, o.id, body, p, opts) }
        : { status: 201, body: await deps.records.create(name, body, p, opts) }
    })
    if (!ran) await discard(form.uploads)
    return res
  } catch (err) {
    await discard(form.uploads).catch(() => {})
    throw err
  }
}

/**
 * `GET|HEAD /api/collections/{name}/records/{id}/files/{field}/{key...}`: a file attached to a record,
 * readable by whoever may view the record (its view rule; the bucket's read rule is not consulted), served
 * like a storage download (ranges, validators, image transforms, `?download`).
 */
export function recordFileRoutes(deps: {
  records: RecordsService
  collections: CollectionsService
  storage: StorageRuntime
}) {
  const { records, collections, storage } = deps
  const r = new Hono<AppEnv>()
  const serve = async (c: Context<AppEnv>) => {
    const name = c.req.param('collection')!
    const field = c.req.param('field')!
    const key = keyFromPath(c)
    const f = collections.get(name).fields.find((x) => x.name === field && x.type === 'file')
    if (!f?.options.bucket) throw errors.notFound('File')
    // 404 from the view rule, as for the record itself; a hidden field is absent for non-admins.
    const record = await records.view(name, c.req.param('id')!, c.var.principal, { query: c.req.query() })
    if (!(field in record) || !keysOf(record[field]).includes(key)) throw errors.notFound('File')
    const found = await storage.objects.find(f.options.bucket, key, { kind: 'signed' }).catch(() => {
      throw errors.notFound('File')
    })
    return serveObject(c, storage.objects, found)
  }
  r.get('/:collection/records/:id/files/:field/:key{.+}', serve)
  r.on('HEAD', '/:collection/records/:id/files/:field/:key{.+}', serve)
  return r
}

/** The key as the client sent it (the raw request target, percent-decoded once), as storage reads it. */
function keyFromPath(c: Context): string {
  const raw = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.url
  const path = raw?.startsWith('/') ? raw.split('?')[0]! : new URL(c.req.url).pathname
  const m = FILE_PATH.exec(path)
  if (!m) throw errors.notFound('File')
  try {
    return decodeURIComponent(m[1]!)
  } catch {
    throw errors.notFound('File')
  }
}
