import type { Context } from 'hono'
import { AppError, errors } from '../../errors/index.ts'

/** Reads a JSON body: 415 for another content type, 400 for malformed JSON, {} for an empty body. */
export async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text()
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
