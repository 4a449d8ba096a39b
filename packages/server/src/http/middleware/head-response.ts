import type { MiddlewareHandler } from 'hono'
import { sentNatively } from '../native.ts'

/**
 * hono answers HEAD by running the GET route, then copying its status and headers into a bodiless response
 * (`new Response(null, res)`). Under @hono/node-server that copy takes the headers the response was created
 * with, not those middleware set on it afterwards (X-Request-Id, CORS, Vary): a HEAD answered with an error
 * (404, 401...) left without them, and a browser could not read it cross-origin. Registered first, so it
 * runs last, this hands hono a response whose own headers already hold everything.
 */
export const headResponse: MiddlewareHandler = async (c, next) => {
  await next()
  if (c.req.method === 'HEAD' && !sentNatively(c))
    c.res = new Response(null, { status: c.res.status, headers: c.res.headers })
}
