import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { type Context, Hono } from 'hono'
import { z } from 'zod'
import { type Principal, principalId } from '../../core/auth/principal.ts'
import { parseMultipartUpload } from '../../core/files/multipart-upload.ts'
import type { FoundObject } from '../../core/files/objects.ts'
import { MAX_SIGNED_URL_SECONDS, SIGNED_URL_OPERATIONS } from '../../core/files/signed-url.ts'
import type { StorageRuntime } from '../../core/files/start-storage.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { assertScope } from '../middleware/require-scope.ts'
import { serveObject } from '../serve-object.ts'
import { isResumableUpload } from './storage-uploads.ts'

const OBJECTS_PATH = /^\/api\/storage\/buckets\/([^/]+)\/objects\/(.+)$/

/** Paths whose bodies storage streams and limits itself (the app-wide JSON body limit does not apply). */
export function isStorageUpload(path: string): boolean {
  return (
    (path.startsWith('/api/storage/buckets/') &&
      /^\/api\/storage\/buckets\/[^/]+\/objects(\/|$)/.test(path)) ||
    isResumableUpload(path)
  )
}

/** POST /buckets/:bucket/signed-urls; also the request body of `createSignedUrl` in /api/openapi.json. */
export const signedUrlInput = z.strictObject({
  key: z.string().min(1),
  operation: z.enum(SIGNED_URL_OPERATIONS).default('read'),
  expiresIn: z.number().int().min(1).max(MAX_SIGNED_URL_SECONDS).default(3600),
})

/** POST /buckets/:bucket/copy and /move; also their request body in /api/openapi.json. */
export const copyObjectInput = z.strictObject({
  from: z.string().min(1),
  to: z.string().min(1),
  toBucket: z.string().min(1).optional().describe('Another bucket; default: the same one.'),
})

/**
 * Storage over HTTP: buckets (schema-like: console admins and keys with the `schema` scope), objects
 * (rules of their bucket), signed URLs, copy and move. Object keys come from the raw request path, not
 * the routed one, so that what a client sent is what gets validated (`a//b` is refused, not collapsed).
 */
export function storageRoutes(deps: {
  storage: StorageRuntime
  /** The base of signed URLs, from configuration (see publicBaseUrl), never from a client's Host header. */
  baseUrl: (req: Request) => string
}) {
  const { storage } = deps
  const { buckets, objects, signer } = storage
  const r = new Hono<AppEnv>()

  const schemaActor = (c: Context<AppEnv>) => assertScope(c.var.principal, 'schema', 'Managing buckets')

  r.get('/buckets', async (c) => {
    schemaActor(c)
    return c.json({ items: await buckets.list() })
  })
  r.post('/buckets', async (c) => {
    schemaActor(c)
    return c.json(await buckets.create(await jsonBody(c), principalId(c.var.principal)), 201)
  })
  r.get('/buckets/:bucket', async (c) => {
    schemaActor(c)
    return c.json(await buckets.get(c.req.param('bucket')))
  })
  r.patch('/buckets/:bucket', async (c) => {
    schemaActor(c)
    return c.json(
      await buckets.update(c.req.param('bucket'), await jsonBody(c), principalId(c.var.principal)),
    )
  })
  r.delete('/buckets/:bucket', async (c) => {
    schemaActor(c)
    await buckets.remove(c.req.param('bucket'), principalId(c.var.principal))
    return c.body(null, 204)
  })

  r.get('/buckets/:bucket/objects', async (c) => {
    const perPage = c.req.query('perPage')
    const res = await objects.list(
      c.req.param('bucket'),
      {
        prefix: c.req.query('prefix'),
        after: c.req.query('after'),
        perPage: perPage === undefined ? undefined : Number(perPage),
      },
      c.var.principal,
    )
    return c.json(res)
  })

  // Multipart upload: fields first (`key`, optional `metadata` JSON), then the file part.
  r.post('/buckets/:bucket/objects', async (c) => {
    const upload = await parseMultipartUpload(
      { headers: headersOf(c), body: requestBody(c) },
      { maxFileSize: Number.MAX_SAFE_INTEGER, maxFields: 10 },
    )
    const key = upload.fields.key ?? upload.file.filename
    if (!key)
      throw errors.validation({ key: { code: 'required', message: 'Send a key field (or a file name).' } })
    const info = await objects.upload(
      c.req.param('bucket'),
      key,
      {
        body: upload.file.stream,
        declaredType: upload.file.declaredType,
        metadata: parseJsonField(upload.fields.metadata, 'metadata'),
      },
      c.var.principal,
    )
    return c.json(info, info.version === 1 ? 201 : 200)
  })

  r.put('/buckets/:bucket/objects/:key{.+}', async (c) => {
    const { bucket, key } = objectAddress(c)
    const token = c.req.query('token')
    let who: Principal | { kind: 'signed'; owner: string | null } = c.var.principal
    if (token !== undefined) {
      const grant = signer.verify(token, { operation: 'write', bucket, key })
      if (!grant)
        throw errors.forbidden('The signed URL is invalid, expired, or for another object or operation.')
      who = { kind: 'signed', owner: grant.owner }
    }
    const length = c.req.header('content-length')
    const info = await objects.upload(
      bucket,
      key,
      {
        body: requestBody(c),
        declaredType: c.req.header('content-type'),
        contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
        metadata: parseJsonField(c.req.header('x-bastide-metadata'), 'metadata'),
      },
      who,
    )
    return c.json(info, info.version === 1 ? 201 : 200)
  })

  const download = async (c: Context<AppEnv>) => {
    const { bucket, key } = objectAddress(c)
    const token = c.req.query('token')
    let found: FoundObject
    if (token !== undefined) {
      if (!signer.verify(token, { operation: 'read', bucket, key }))
        throw errors.forbidden('The signed URL is invalid, expired, or for another object or operation.')
      found = await objects.find(bucket, key, { kind: 'signed' })
    } else found = await objects.find(bucket, key, c.var.principal)
    return serveObject(c, objects, found)
  }
  r.get('/buckets/:bucket/objects/:key{.+}', download)
  r.on('HEAD', '/buckets/:bucket/objects/:key{.+}', download)

  r.delete('/buckets/:bucket/objects/:key{.+}', async (c) => {
    const { bucket, key } = objectAddress(c)
    await objects.remove(bucket, key, c.var.principal)
    return c.body(null, 204)
  })

  r.post('/buckets/:bucket/signed-urls', async (c) => {
    const bucket = c.req.param('bucket')
    const parsed = signedUrlInput.safeParse(await jsonBody(c))
    if (!parsed.success) throw zodError(parsed.error)
    const { key, operation, expiresIn } = parsed.data
    const p = c.var.principal
    // Only what the signer may do itself can be handed on.
    await objects.authorize(bucket, key, operation, p)
    const expires = Math.floor(Date.now() / 1000) + expiresIn
    const token = signer.sign({ operation, bucket, key, expires, owner: p.kind === 'user' ? p.id : null })
    const path = `/api/storage/buckets/${bucket}/objects/${key.split('/').map(encodeURIComponent).join('/')}`
    return c.json(
      {
        url: `${deps.baseUrl(c.req.raw)}${path}?token=${token}`,
        method: operation === 'read' ? 'GET' : 'PUT',
        expiresAt: new Date(expires * 1000).toISOString(),
      },
      201,
    )
  })

  for (const [path, move] of [
    ['/buckets/:bucket/copy', false],
    ['/buckets/:bucket/move', true],
  ] as const) {
    r.post(path, async (c) => {
      const parsed = copyObjectInput.safeParse(await jsonBody(c))
      if (!parsed.success) throw zodError(parsed.error)
      const info = await objects.copy(c.req.param('bucket'), parsed.data, c.var.principal, move)
      return c.json(info, 201)
    })
  }
  return r
}

/**
 * Bucket and key from the path as the client sent it, percent-decoded once. Under Node that is the raw
 * request target: a URL parser would already have resolved `..` and `%2e%2e` segments, silently storing
 * `a/%2e%2e/b` as `b`; here it is refused like any other malformed key.
 */
function objectAddress(c: Context): { bucket: string; key: string } {
  const raw = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.url
  const path = raw?.startsWith('/') ? raw.split('?')[0]! : new URL(c.req.url).pathname
  const m = OBJECTS_PATH.exec(path)
  if (!m) throw errors.notFound('Object')
  try {
    return { bucket: decodeURIComponent(m[1]!), key: decodeURIComponent(m[2]!) }
  } catch {
    throw errors.validation({
      key: { code: 'invalid', message: 'The key is not valid percent-encoded UTF-8.' },
    })
  }
}

/** The request body as a Node stream: Node's own request under @hono/node-server, else the web body. */
export function requestBody(c: Context): Readable {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (incoming && !incoming.readableDidRead) return incoming
  const body = c.req.raw.body
  return body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : Readable.from([])
}

export function headersOf(c: Context): Record<string, string> {
  const out: Record<string, string> = {}
  c.req.raw.headers.forEach((v, k) => {
    out[k] = v
  })
  return out
}

function parseJsonField(raw: string | undefined, name: string): Record<string, unknown> | undefined {
  if (raw === undefined || raw === '') return undefined
  try {
    return JSON.parse(raw)
  } catch {
    throw errors.validation({ [name]: { code: 'invalid', message: `${name} must be JSON.` } })
  }
}

function zodError(e: z.ZodError) {
  const fields: Record<string, { code: string; message: string }> = {}
  for (const i of e.issues) fields[i.path.join('.') || 'body'] ??= { code: i.code, message: i.message }
  return errors.validation(fields)
}
