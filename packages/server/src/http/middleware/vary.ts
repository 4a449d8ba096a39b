import type { MiddlewareHandler } from 'hono'
import { outgoingOf, sentNatively } from '../native.ts'

/**
 * `Vary: Accept-Encoding` on every response, set in place. compress() adds it with c.header(), which rebuilds
 * a finished response (see cors.ts); it leaves the header alone when it is already there. Register it after
 * compress() so that it runs first on the way out.
 */
export const varyAcceptEncoding: MiddlewareHandler = async (c, next) => {
  // Under Node, on the response itself too, for answers sent through it (see native.ts): after CORS's
  // `Origin`, before it in the list, as on the way out below.
  const out = outgoingOf(c)
  if (out) {
    const set = out.getHeader('vary')
    out.setHeader('Vary', set ? `Accept-Encoding, ${String(set)}` : 'Accept-Encoding')
  }
  await next()
  if (sentNatively(c)) return
  const vary = c.res.headers.get('Vary')
  if (!vary) c.res.headers.set('Vary', 'Accept-Encoding')
  else if (!/accept-encoding/i.test(vary)) c.res.headers.set('Vary', `${vary}, Accept-Encoding`)
}
