import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'
import { AppError, errors } from '../../errors/index.ts'

/** Reads a JSON body: 415 for another content type, 400 for malformed JSON, {} for an empty body. */
export async function jsonBody(c: Context): Promise<unknown> {
  const text = await bodyText(c)
  if (text.trim() === '') return {}
  const type = c.req.header('content-type') ?? ''
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send JSON with Content-Type: application/json.')
  }
  try {
    return JSON.parse(text)
  } catch {
    throw errors.badRequest('The body is not valid JSON.')
  }
}

/**
 * Under @hono/node-server, reads the Node request itself while nothing else has: c.req.text() would first
 * build a web Request (URL, Headers, AbortSignal, a ReadableStream over the socket) to read a small body.
 * The size was checked by the body limit from Content-Length (a chunked body was read by it, and then
 * comes from c.req).
 */
function bodyText(c: Context): Promise<string> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (
    !incoming ||
    incoming.readableDidRead ||
    incoming.readableEnded ||
    incoming.headers['content-length'] === undefined
  )
    return c.req.text()
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    incoming.on('data', (b: Buffer) => chunks.push(b))
    incoming.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    incoming.once('error', reject)
  })
}
