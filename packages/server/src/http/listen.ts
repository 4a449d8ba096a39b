import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'

type Handler = (req: Request, env: unknown) => Response | Promise<Response>

export interface Listener {
  readonly server: Server
  /** The port it listens on (the one picked, with PORT=0). */
  readonly port: number
  /** Starts answering with `handler` (until then: 503 `UNAVAILABLE`, `Retry-After: 1`). */
  serve(handler: Handler): void
  /**
   * Stops accepting connections and waits for in-flight responses, at most `timeoutMs`, then cuts the rest.
   * Responses still in the making say `Connection: close`, so their keep-alive sockets neither hold the
   * shutdown open (Node keeps an idle one for keepAliveTimeout) nor take new requests.
   */
  drain(timeoutMs: number): Promise<void>
}

const starting: Handler = () =>
  Response.json(
    { code: 'UNAVAILABLE', message: 'Starting.', status: 503 },
    { status: 503, headers: { 'Retry-After': '1' } },
  )

/**
 * Listens before the app exists: with PORT=0 the port is only known once bound, and auth links, OAuth
 * callbacks and signed URLs need it. Requests in the few milliseconds until `serve()` get a 503, like any
 * other start-up moment.
 */
export async function listen(opts: { readonly port: number; readonly host: string }): Promise<Listener> {
  let handler = starting
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: (req, env) => handler(req, env), port: opts.port, hostname: opts.host }, () =>
      resolve(s as Server),
    )
    s.once('error', reject)
  })
  const unanswered = new Set<ServerResponse>()
  let draining = false
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close')
    unanswered.add(res)
    res.once('close', () => unanswered.delete(res))
  })
  return {
    server,
    port: (server.address() as AddressInfo).port,
    serve(h) {
      handler = h
    },
    async drain(timeoutMs) {
      draining = true
      for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections()
          resolve()
        }, timeoutMs)
        server.close(() => {
          clearTimeout(timer)
          resolve()
        })
        server.closeIdleConnections()
      })
    },
  }
}
