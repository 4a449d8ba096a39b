import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'

/**
 * The caller's address: the socket's, or with `trustProxy` the left-most X-Forwarded-For entry (set by
 * the operator's reverse proxy). Undefined when the app is called in-process.
 */
export function clientIp(req: Request, env: unknown, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const first = req.headers.get('x-forwarded-for')?.split(',')[0]?.trim()
    if (first && isIP(first)) return first
  }
  const incoming = (env as { incoming?: IncomingMessage } | undefined)?.incoming
  const addr = incoming?.socket?.remoteAddress
  if (!addr) return undefined
  // IPv4 clients of a dual-stack socket arrive as ::ffff:a.b.c.d.
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr
}
