import { Hono } from 'hono'
import type { Auth } from '../../core/auth/create-auth.ts'
import type { ErrorCode } from '../../errors/index.ts'
import { ERROR_CODES } from '../../errors/index.ts'
import { canonicalPath } from '../canonical-path.ts'
import { clientIp } from '../client-ip.ts'
import type { AppEnv } from '../context.ts'
import { type AuthRateLimitOptions, authRateLimit } from '../middleware/rate-limit.ts'

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  422: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
}

/**
 * better-auth's handler at /api/auth, behind Bastide's rate limits (better-auth's own limiter is off: see
 * rate-limit.ts). Requests reach it with their canonical path; its errors leave in Bastide's error shape
 * (`code`, `message`, `status`, `details`), keeping better-auth's own codes (INVALID_EMAIL_OR_PASSWORD,
 * USER_ALREADY_EXISTS...) so clients can branch on them.
 */
export function authRoutes(deps: {
  /** Any better-auth instance: the app users' at /api/auth, the console admins' at /api/admin/auth. */
  auth: Pick<Auth, 'handler'> & { readonly options: { readonly baseURL?: unknown } }
  /** Client addresses from X-Forwarded-For (config.trustProxy). */
  trustProxy: boolean
  rateLimit: Omit<AuthRateLimitOptions, 'clientIp'>
}) {
  const ipOf = (req: Request, env: unknown) => clientIp(req, env, deps.trustProxy)
  const publicOrigin = originOf(
    typeof deps.auth.options.baseURL === 'string' ? deps.auth.options.baseURL : null,
  )
  const app = new Hono<AppEnv>()
  // Per address and per account, before better-auth does anything.
  app.use('*', authRateLimit({ ...deps.rateLimit, clientIp: ipOf }))
  app.all('/*', async (c) => {
    let req = c.req.raw
    const url = new URL(req.url)
    const path = canonicalPath(url.pathname)
    const ip = ipOf(req, c.env)
    const notBrowser = isNonBrowserFetch(req.headers)
    if (path !== url.pathname || ip !== undefined || notBrowser) {
      url.pathname = path
      const headers = new Headers(req.headers)
      // better-auth reads the client address from this header (config.trustProxy picks X-Forwarded-For).
      if (ip !== undefined) headers.set('x-bastide-client-ip', ip)
      else headers.delete('x-bastide-client-ip')
      if (notBrowser) headers.delete('sec-fetch-mode')
      const body = req.method === 'GET' || req.method === 'HEAD' ? null : await req.arrayBuffer()
      req = new Request(url, {
        method: req.method,
        headers,
        // An empty POST (sign-out, anonymous sign-in) stays bodiless: better-call checks the type of any body.
        body: body && body.byteLength > 0 ? body : null,
        redirect: 'manual',
      })
    }
    const res = await deps.auth.handler(req)
    if (res.status < 400 || !res.headers.get('content-type')?.includes('application/json')) return res
    return normalizeError(res, (body) =>
      body.code === 'INVALID_ORIGIN' ? untrustedOrigin(req.headers, publicOrigin) : undefined,
    )
  })
  return app
}

/**
 * better-auth says only "Invalid origin". The usual cause is a page opened at another address than the
 * server's public URL (http://127.0.0.1:8787 or a LAN address while it is http://localhost:8787): say which
 * address to open and which variables to set. The public URL is public; the origin is the caller's own.
 */
function untrustedOrigin(
  headers: Headers,
  publicOrigin: string | undefined,
): { message: string; details: Record<string, unknown> } | undefined {
  const from = originOf(headers.get('origin')) ?? originOf(headers.get('referer'))
  if (!from || !publicOrigin) return undefined
  return {
    message:
      `This page was opened at ${from}, but the server's public URL (BASTIDE_PUBLIC_URL) is ${publicOrigin}: ` +
      `open ${publicOrigin} instead, or set BASTIDE_PUBLIC_URL to the address you use, or add ${from} to ` +
      'BASTIDE_TRUSTED_ORIGINS.',
    details: { origin: from, publicUrl: publicOrigin },
  }
}

function originOf(url: string | null): string | undefined {
  if (!url || url === 'null') return undefined
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

/**
 * Node's fetch (undici) sends `Sec-Fetch-Mode: cors` and no other fetch metadata; better-auth reads any fetch
 * metadata as a browser and then demands a trusted `Origin` on sign-in, which a server-side or CLI client
 * (the SDK in Node) has no reason to send. Browsers that send `Sec-Fetch-Mode` always send `Sec-Fetch-Site`
 * too, and cookie requests keep their origin check: dropping the lone header weakens no browser's CSRF check.
 */
function isNonBrowserFetch(h: Headers): boolean {
  return h.has('sec-fetch-mode') && !h.has('sec-fetch-site') && !h.has('cookie')
}

/**
 * `explain` may give a better message (and details) for one of better-auth's codes; the code stays, so
 * clients branching on it are unaffected.
 */
async function normalizeError(
  res: Response,
  explain: (
    body: Record<string, unknown>,
  ) => { message: string; details: Record<string, unknown> } | undefined,
): Promise<Response> {
  const text = await res.text()
  let body: Record<string, unknown> = {}
  try {
    const parsed = JSON.parse(text)
    if (parsed && typeof parsed === 'object') body = parsed
  } catch {}
  const status = res.status
  if (status >= 500) {
    // Whatever better-auth said about its failure stays in the log, as for any 500.
    return Response.json({ code: 'INTERNAL', message: 'Internal error.', status }, { status })
  }
  const code =
    typeof body.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(body.code)
      ? body.code
      : (STATUS_CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST'))
  const out: Record<string, unknown> = {
    code,
    message: typeof body.message === 'string' && body.message ? body.message : defaultMessage(code),
    status,
  }
  const { code: _c, message: _m, status: _s, ...rest } = body
  if (Object.keys(rest).length) out.details = rest
  const better = explain(body)
  if (better) {
    out.message = better.message
    out.details = { ...rest, ...better.details }
  }
  const headers = new Headers(res.headers)
  headers.delete('content-length')
  return new Response(JSON.stringify(out), { status, headers })
}

function defaultMessage(code: string): string {
  return code in ERROR_CODES ? code.toLowerCase().replace(/_/g, ' ') : 'The request failed.'
}
