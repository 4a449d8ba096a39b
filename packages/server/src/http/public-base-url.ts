/** A host as a proxy forwards it: a DNS name or an IPv4 address, or a bracketed IPv6 one, and a port. */
const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i

/**
 * The base of the absolute URLs the server hands out (signed URLs, tus `Location`), without a trailing
 * slash: `publicUrl` (BASTIDE_PUBLIC_URL) when it is set. Otherwise `fallback` (`http://localhost:$PORT`),
 * unless the server sits behind a trusted proxy (BASTIDE_TRUST_PROXY), whose `X-Forwarded-Host` (or `Host`)
 * and `X-Forwarded-Proto` then name it. Without a trusted proxy the request's `Host` is never used: any
 * client can send `Host: evil.example`, and a signed URL pointing there would hand its token to that host.
 */
export function publicBaseUrl(opts: {
  readonly publicUrl: string | undefined
  readonly fallback: string
  readonly trustProxy: boolean
}): (req: Request) => string {
  const fixed = (opts.publicUrl ?? opts.fallback).replace(/\/+$/, '')
  if (opts.publicUrl !== undefined || !opts.trustProxy) return () => fixed
  return (req) => {
    const host = first(req.headers.get('x-forwarded-host')) ?? first(req.headers.get('host'))
    if (!host || !HOST.test(host)) return fixed
    const proto = first(req.headers.get('x-forwarded-proto'))?.toLowerCase()
    return `${proto === 'https' ? 'https' : 'http'}://${host.toLowerCase()}`
  }
}

/** The first entry of a comma-separated header (proxies append theirs), trimmed. */
function first(value: string | null): string | undefined {
  const v = value?.split(',')[0]?.trim()
  return v ? v : undefined
}
