/**
 * One spelling per route: `//` collapsed and no trailing slash. Routing, rate limits and better-auth all
 * see this form, so `/api/auth//sign-in/email/` is the same endpoint, with the same counters, as
 * `/api/auth/sign-in/email` rather than a way around them. Case is kept (tokens travel in some auth paths);
 * rate limits key on the lower-cased form, and a case variant that routing does not know is a 404.
 */
export function canonicalPath(path: string): string {
  let p = path.replace(/\/{2,}/g, '/')
  if (p.length > 1 && p.endsWith('/')) p = p.replace(/\/+$/, '') || '/'
  return p
}

/** For hono's `getPath`: the canonical path of a request (query excluded). */
export function requestPath(req: Request): string {
  const url = req.url
  const start = url.indexOf('/', url.indexOf('://') + 3)
  if (start < 0) return '/'
  const q = url.indexOf('?', start)
  const raw = q < 0 ? url.slice(start) : url.slice(start, q)
  // Fast path: most paths are already canonical.
  if (!raw.includes('//') && (raw.length === 1 || !raw.endsWith('/'))) return raw
  return canonicalPath(raw)
}
