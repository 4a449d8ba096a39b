import { type Context, Hono } from 'hono'
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

/** The same list, flat (`name, value, name, value...`), as Node's writeHead takes it. */
export const SECURE_HEADERS_FLAT: readonly string[] = SECURE_HEADERS.flat()

/**
 * hono's secure headers (CSP, nosniff, frame options...) set on `c.res` once the route has answered, for an
 * answer that does not go out through Node's response (app.request() in tests, other runtimes; see edge.ts for
 * the Node path). A route with a policy of its own (the console's, stricter) keeps it.
 */
export async function secureHeadersOn(c: Context, _next?: unknown): Promise<void> {
  const own = c.res.headers.get('content-security-policy')
  await secure(c, done)
  if (own) c.res.headers.set('content-security-policy', own)
}

const done = () => Promise.resolve()
