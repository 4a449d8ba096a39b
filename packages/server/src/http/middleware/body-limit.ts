import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { Logger } from 'pino'
import { errors } from '../../errors/index.ts'
import { errorResponse } from './errors.ts'

/**
 * Refuses request bodies over `maxSize` (413). hono's bodyLimit reads c.req.raw.body, which makes
 * @hono/node-server build a full web Request (URL, Headers, AbortSignal, a stream over the socket) for every
 * request: without a body there is nothing to limit, and a Content-Length (which Node's parser holds the body
 * to) is checked from the header alone. `streams(path, contentType)`: routes that stream the body to storage
 * and apply limits of their own as the bytes arrive (uploads).
 */
export function limitBody(opts: {
  readonly maxSize: number
  readonly log: Logger
  readonly streams: (path: string, contentType: string | undefined) => boolean
}): MiddlewareHandler {
  const { maxSize, log } = opts
  const tooLarge = (c: Parameters<MiddlewareHandler>[0]) =>
    errorResponse(errors.payloadTooLarge(maxSize), c, log)
  const limit = bodyLimit({ maxSize, onError: tooLarge })
  return (c, next) => {
    const m = c.req.method
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next()
    if (opts.streams(c.req.path, c.req.header('content-type'))) return next()
    const length = c.req.header('content-length')
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > maxSize) return Promise.resolve(tooLarge(c))
      return next()
    }
    return limit(c, next)
  }
}
