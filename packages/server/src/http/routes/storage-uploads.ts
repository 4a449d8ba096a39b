import { ERRORS, Server } from '@tus/server'
import { type Context, Hono } from 'hono'
import type { Logger } from 'pino'
import type { Principal } from '../../core/auth/principal.ts'
import type { StorageRuntime } from '../../core/files/start-storage.ts'
import { AppError, type ErrorCode, errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'
import { errorResponse } from '../middleware/errors.ts'

export const UPLOADS_PATH = '/api/storage/uploads'

/** Paths of resumable uploads (tus): their bodies stream to the datastore, limited by the declared length. */
export function isResumableUpload(path: string): boolean {
  return path === UPLOADS_PATH || path.startsWith(`${UPLOADS_PATH}/`)
}

/** Bastide's codes for the statuses tus answers with. */
const TUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  403: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  410: 'NOT_FOUND',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
}

/**
 * Resumable uploads, tus 1.0 (core protocol, creation, creation-with-upload, termination, expiration) at
 * /api/storage/uploads, by @tus/server over web Requests: request bodies stream into the datastore.
 *
 * - `POST` with `Upload-Length` and `Upload-Metadata` (`bucket`, `key`, optional `contentType`, `metadata`
 *   JSON) creates an upload, after the bucket's write rule and size limit (201, `Location`).
 * - `HEAD` tells its offset, `PATCH` (`application/offset+octet-stream`, `Upload-Offset`) appends bytes,
 *   `DELETE` drops it: only for the principal who created it (anyone else: 404).
 * - The `PATCH` that completes it commits the object (rules, limit and type checked again against the
 *   bytes) and answers 204 with `Bastide-Object`: the object as JSON, percent-encoded. Errors take the
 *   usual `{code, message, status}` shape.
 */
export function storageUploadRoutes(deps: {
  storage: StorageRuntime
  /** The base of `Location`, from configuration (see publicBaseUrl), never from a client's Host header. */
  baseUrl: (req: Request) => string
  maxFileSize: number
  log: Logger
}) {
  const { uploads } = deps.storage
  const { log } = deps
  /** The principal of each request tus is handling (tus hands its hooks the same Request object). */
  const principals = new WeakMap<Request, Principal>()
  /** What went wrong in a request, to answer it in Bastide's error shape rather than tus's plain text. */
  const failures = new WeakMap<Request, unknown>()
  /** Uploads that became objects in a request, deleted once tus is done with it. */
  const finished = new WeakMap<Request, string>()
  const principalOf = (req: Request): Principal => {
    const p = principals.get(req)
    if (!p) throw new Error('resumable upload: request without a principal')
    return p
  }

  const tus = new Server({
    path: UPLOADS_PATH,
    datastore: uploads.datastore,
    // Shared by every node: a client may resume through another node than the one it started on.
    locker: uploads.locker,
    maxSize: deps.maxFileSize,
    namingFunction: () => uploads.newId(),
    getFileIdFromRequest: (_req, last) => (last === undefined ? undefined : uploads.idFromUrl(last)),
    generateUrl: (req, { path, id }) => `${deps.baseUrl(req)}${path}/${uploads.urlId(id)}`,
    // Creation is checked in onUploadCreate (with the metadata); everything else needs the uploader.
    onIncomingRequest: async (req, id) => {
      if (req.method !== 'POST') await uploads.checkUploader(id, principalOf(req))
    },
    onUploadCreate: async (req, upload) => ({ metadata: await uploads.begin(upload, principalOf(req)) }),
    onUploadFinish: async (req, upload) => {
      const info = await uploads.finish(upload, principalOf(req))
      finished.set(req, upload.id)
      return { headers: { 'Bastide-Object': encodeURIComponent(JSON.stringify(info)) } }
    },
    onResponseError: (req, err) => {
      failures.set(req, err)
      return undefined
    },
  })

  const handle = async (c: Context<AppEnv>) => {
    const method = c.req.method
    // tus's GET would serve an upload's bytes: objects are read through /api/storage/buckets only.
    if (method === 'GET') throw errors.notFound('Route')
    const p = c.var.principal
    // Uploads belong to whoever created them: an anonymous caller could not be told apart from another.
    if (p.kind === 'anonymous' && method !== 'OPTIONS') throw errors.unauthorized()
    const req = c.req.raw
    principals.set(req, p)
    const res = await tus.handleWeb(req)
    const done = finished.get(req)
    if (done !== undefined) await uploads.discard(done)
    const failure = failures.get(req)
    const out = failure === undefined ? res : errorResponse(toAppError(failure), c, log)
    if (out !== res) {
      for (const name of ['Tus-Resumable', 'Connection']) {
        const v = res.headers.get(name)
        if (v) out.headers.set(name, v)
      }
      await res.body?.cancel()
    }
    // CORS is the app's (its allowed origins, its header lists), not tus's defaults.
    for (const name of [...out.headers.keys()])
      if (name.startsWith('access-control-')) out.headers.delete(name)
    return out
  }

  const r = new Hono<AppEnv>()
  r.all('/', handle)
  r.all('/:id', handle)
  return r
}

/** An error thrown in a tus hook, or one of tus's own `{status_code, body}`, as an AppError. */
function toAppError(err: unknown): unknown {
  if (err instanceof AppError) return err
  // Another request (on any node) kept the upload past the lock timeout: busy, not broken. 409 makes tus
  // clients ask for the offset again and go on.
  if (err === ERRORS.ERR_LOCK_TIMEOUT)
    return new AppError('CONFLICT', 'Another request is using this upload; retry shortly.')
  const e = err as { status_code?: unknown; body?: unknown }
  if (typeof e?.status_code !== 'number' || e.status_code >= 500) return err
  const message = typeof e.body === 'string' && e.body.trim() ? e.body.trim() : 'Bad request.'
  return new AppError(TUS_CODES[e.status_code] ?? 'BAD_REQUEST', message, undefined, {
    status: e.status_code,
  })
}
