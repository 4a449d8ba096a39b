import type { ServerResponse } from 'node:http'
import { Hono, type MiddlewareHandler } from 'hono'
import { secureHeaders } from 'hono/secure-headers'

const secure = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
  },
  crossOriginResourcePolicy: 'cross-origin',
})

/** What `secure` sets, read once from a response it handled. */
const SECURE_HEADERS: readonly [string, string][] = [
  ...(
    await new Hono()
      .use(secure)
      .get('/', (c) => c.body(null, 204))
      .request('/')
  ).headers,
]

/**
 * hono's secure headers (CSP, nosniff, frame options...) on every response. Under @hono/node-server they go
 * straight onto Node's response, where writeHead merges them: a fraction of the cost of setting a dozen
 * headers on the web Headers object after every handler. Elsewhere (app.request in tests, other runtimes)
 * hono's middleware sets the very same list.
 */
export const securityHeaders: MiddlewareHandler = (c, next) => {
  const out = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
  if (!out || typeof out.setHeader !== 'function' || out.headersSent) return viaHono(c, next)
  for (const [name, value] of SECURE_HEADERS) out.setHeader(name, value)
  return next()
}

const viaHono: MiddlewareHandler = async (c, next) => {
  // A route with a policy of its own (the console's, stricter) keeps it, as it does under Node above.
  let own: string | null = null
  await secure(c, async () => {
    await next()
    own = c.res.headers.get('content-security-policy')
  })
  if (own) c.res.headers.set('content-security-policy', own)
}
