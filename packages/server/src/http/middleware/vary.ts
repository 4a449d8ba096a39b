import type { MiddlewareHandler } from 'hono'

/**
 * `Vary: Accept-Encoding` on every response, set in place. compress() adds it with c.header(), which rebuilds
 * a finished response (see cors.ts); it leaves the header alone when it is already there. Register it after
 * compress() so that it runs first on the way out.
 */
export const varyAcceptEncoding: MiddlewareHandler = async (c, next) => {
  await next()
  const vary = c.res.headers.get('Vary')
  if (!vary) c.res.headers.set('Vary', 'Accept-Encoding')
  else if (!/accept-encoding/i.test(vary)) c.res.headers.set('Vary', `${vary}, Accept-Encoding`)
}
