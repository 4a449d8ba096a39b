import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

export interface MetricsListener {
  readonly port: number
  close(): Promise<void>
}

/**
 * GET /metrics without credentials on a port of its own (BASTIDE_METRICS_PORT): the usual Prometheus
 * scrape, reachable only where the operator exposes that port (a private network, a pod's port). Nothing
 * else is served there.
 */
export async function listenForScrapes(o: {
  readonly registry: Registry
  readonly port: number
  readonly host: string
}): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found. Scrape /metrics.\n')
      return
    }
    o.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': o.registry.contentType })
        res.end(req.method === 'HEAD' ? undefined : text)
      },
      (err: Error) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`)
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Keep-alive scrapers hold idle sockets open: they must not delay shutdown.
        server.closeIdleConnections()
      }),
  }
}
