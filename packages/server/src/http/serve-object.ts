import type { ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context } from 'hono'
import { contentDisposition } from '../core/files/content-disposition.ts'
import type { FoundObject, ObjectsService } from '../core/files/objects.ts'
import { isActiveContent } from '../core/files/sniff-content-type.ts'
import { parseTransformParams } from '../core/files/transform-image.ts'
import type { AppEnv } from './context.ts'
import { outgoingOf, writeNativeHead } from './native.ts'

/**
 * Answers GET or HEAD with an object the caller was allowed to read (by its bucket's rules, a signed URL,
 * or the record it is attached to): validators, one byte range, image transforms from the query
 * (`?width=&height=&fit=&format=&quality=`), `?download` for an attachment, active content never inline.
 */
export async function serveObject(
  c: Context<AppEnv>,
  objects: ObjectsService,
  found: FoundObject,
): Promise<Response> {
  const { info } = found
  const transform = parseTransformParams(c.req.query())
  let size = info.size
  let mimeType = info.mimeType
  let etag = `"${info.sha256}"`
  let open = (range?: { start: number; end: number }) => objects.read(found, range)
  if (transform) {
    const v = await objects.variant(found, transform)
    size = v.size
    mimeType = v.mimeType
    etag = `"${info.sha256}-${Buffer.from(v.blob).toString('base64url').slice(-12)}"`
    open = (range) => objects.read({ ...found, blob: v.blob }, range)
  }
  const headers: Record<string, string> = {
    'Content-Type': mimeType,
    ETag: etag,
    'Last-Modified': new Date(info.updated).toUTCString(),
    // no-transform: neither proxies nor our own compression may change the bytes (ranges, hashes).
    'Cache-Control': found.bucket.public
      ? 'public, max-age=86400, stale-while-revalidate=604800, no-transform'
      : 'private, no-cache, no-transform',
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
  }
  // Active content (HTML, SVG, scripts, PDF...) never renders in the API's origin: it is downloaded, and
  // sandboxed should a browser render it anyway.
  const active = isActiveContent(mimeType)
  const attachment = active || c.req.query('download') !== undefined
  headers['Content-Disposition'] = contentDisposition(attachment ? 'attachment' : 'inline', info.key)
  if (active) headers['Content-Security-Policy'] = "default-src 'none'; sandbox"

  if (etagMatches(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers)
  const range = rangeOf(c.req.header('range'), c.req.header('if-range'), etag, size)
  if (range === 'unsatisfiable') {
    return c.body(null, 416, { ...headers, 'Content-Range': `bytes */${size}` })
  }
  const status = range ? 206 : 200
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`
  headers['Content-Length'] = String(range ? range.end - range.start + 1 : size)
  if (c.req.method === 'HEAD') return c.body(null, status, headers)
  // Opened before anything is sent: a blob that went missing is still a JSON 404.
  const stream = size === 0 ? Readable.from([]) : await open(range)
  const out = nativeResponse(c)
  if (out) return streamNatively(c, out, status, headers, stream)
  return c.body(Readable.toWeb(stream) as ReadableStream, status, headers)
}

/**
 * Node's response, when the bytes may go straight into it (see streamNatively): under @hono/node-server, and
 * for a request without If-None-Match, whose answer hono's etag() may still turn into a 304 on the way out
 * (a match of ours was answered above). compress() has nothing to do here either way: Cache-Control says
 * no-transform. HEAD, 304 and 416 answers have no body and go through hono as before.
 */
function nativeResponse(c: Context<AppEnv>): ServerResponse | undefined {
  const out = outgoingOf(c)
  return out && !out.headersSent && c.req.header('if-none-match') === undefined ? out : undefined
}

/**
 * Writes the status and headers, then pipes the bytes into Node's response. Through hono they went through a
 * web stream (Readable.toWeb) that @hono/node-server pumps chunk by chunk: about a quarter of the server's
 * CPU per GB on 1 MB downloads in bench/storage.ts. The headers every answer carries (security, request id, CORS,
 * Vary) go with them (writeNativeHead). With the headers out, an error can only cut the
 * connection, as before (and is logged); a client that goes away destroys `body`, which closes the file.
 */
function streamNatively(
  c: Context<AppEnv>,
  out: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: Readable,
): Response {
  try {
    writeNativeHead(c, out, status, headers, Number(headers['Content-Length']))
  } catch (err) {
    body.destroy()
    throw err
  }
  pipeline(body, out).catch((err: NodeJS.ErrnoException) => {
    if (CLIENT_GONE.has(err.code ?? '')) return
    c.get('log').error({ err, requestId: c.get('requestId') }, 'object download cut short')
  })
  return RESPONSE_ALREADY_SENT
}

/** How a download ends when the client goes away mid-way: nothing wrong on our side, nothing to log. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE'])

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false
  if (header.trim() === '*') return true
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)
}

/**
 * One byte range (RFC 9110): `bytes=a-b`, `bytes=a-`, `bytes=-n`. Several ranges, another unit or a
 * malformed header are ignored (the whole object is served); a range past the end is unsatisfiable.
 * `If-Range` with another validator also means the whole object.
 */
function rangeOf(
  header: string | undefined,
  ifRange: string | undefined,
  etag: string,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined
  if (ifRange !== undefined && ifRange.trim() !== etag) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) return 'unsatisfiable'
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable'
  return { start, end }
}
