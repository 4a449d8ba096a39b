import { connect, createServer, type Socket } from 'node:net'

/** A request line the proxy saw going to the server. */
export interface SeenRequest {
  readonly method: string
  /** The path, without the query string. */
  readonly path: string
}

export interface HeldResponse {
  /** Resolves once the server started answering the held request: the server has done its work. */
  readonly answered: Promise<void>
}

export interface CutProxy {
  /** The proxy's base URL: what a client uses instead of the server's. */
  readonly url: string
  readonly cutOff: boolean
  /** Every request line seen on the way to the server, in order (realtime's polling and upgrade included). */
  readonly requests: readonly SeenRequest[]
  /** How many requests with that method and path went through. */
  count(method: string, path: string): number
  /**
   * The network goes down: every open connection is destroyed at once (both ends, nothing more is delivered),
   * and new ones are reset as they arrive (`refuse`, the default: a request fails at once, as with no route) or
   * accepted and left waiting until `restore` (`hold`: a request hangs, as on a dead link).
   */
  cut(o?: { newConnections?: 'refuse' | 'hold' }): void
  /** The network comes back: held connections go through, new ones are forwarded again. */
  restore(): void
  /**
   * The server's answer to the next request matching `method` and `path` never reaches the client (it is read
   * from the server and dropped; the client waits until a `cut()` ends the connection). `answered` resolves once
   * it began to arrive: the request was handled, its answer lost in flight.
   */
  holdResponse(method: string, path: string): HeldResponse
  close(): Promise<void>
}

interface Conn {
  readonly client: Socket
  readonly upstream: Socket
  /** The start of a request line split over two chunks. */
  tail: string
  /** Set while the server's answer to a held request is being kept from the client. */
  holding: { resolve(): void } | null
}

// A request line: how the proxy tells which request a connection is carrying (HTTP/1.1, no pipelining by fetch).
const REQUEST_LINE = /(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\/[^\s?]*)\S* HTTP\/1\.[01]\r\n/g

/**
 * A loopback TCP proxy in front of `target` (host:port) that can cut the network and restore it, for tests of
 * what the SDK does offline. Deterministic: nothing here waits on a timer, every state change takes effect in the
 * call that makes it.
 */
export async function startCutProxy(target: string): Promise<CutProxy> {
  const t = new URL(target)
  const conns = new Set<Conn>()
  const waiting = new Set<Socket>()
  const requests: SeenRequest[] = []
  const holds: { method: string; path: string; resolve(): void }[] = []
  let cutOff = false
  let newConnections: 'refuse' | 'hold' = 'refuse'

  const quiet = () => {}

  function forward(client: Socket) {
    const upstream = connect(Number(t.port), t.hostname)
    const c: Conn = { client, upstream, tail: '', holding: null }
    conns.add(c)
    client.on('error', quiet)
    upstream.on('error', quiet)
    client.on('data', (chunk: Buffer) => {
      sniff(c, chunk)
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (c.holding) {
        c.holding.resolve()
        return
      }
      client.write(chunk)
    })
    // One side closing closes the other, except for a held answer: the client keeps waiting for it until a cut.
    client.on('close', () => {
      conns.delete(c)
      upstream.destroy()
    })
    upstream.on('close', () => {
      if (!c.holding) client.destroy()
    })
    upstream.on('end', () => {
      if (!c.holding) client.end()
    })
    client.on('end', () => upstream.end())
    client.resume()
  }

  function sniff(c: Conn, chunk: Buffer) {
    const text = c.tail + chunk.toString('latin1')
    for (const m of text.matchAll(REQUEST_LINE)) {
      const seen = { method: m[1]!, path: m[2]! }
      requests.push(seen)
      const i = holds.findIndex((h) => h.method === seen.method && h.path === seen.path)
      if (i >= 0) c.holding = holds.splice(i, 1)[0]!
    }
    // A complete request line ends with \r\n: only a partial one can be left after the last newline.
    c.tail = text.slice(text.lastIndexOf('\n') + 1).slice(-4096)
  }

  const server = createServer({ pauseOnConnect: true }, (client) => {
    if (!cutOff) return forward(client)
    if (newConnections === 'hold') {
      client.on('error', quiet)
      client.on('close', () => waiting.delete(client))
      waiting.add(client)
      return
    }
    client.resetAndDestroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port

  return {
    url: `http://127.0.0.1:${port}`,
    get cutOff() {
      return cutOff
    },
    requests,
    count: (method, path) => requests.filter((r) => r.method === method && r.path === path).length,
    cut(o = {}) {
      cutOff = true
      newConnections = o.newConnections ?? 'refuse'
      for (const c of [...conns]) {
        conns.delete(c)
        c.client.resetAndDestroy()
        c.upstream.destroy()
      }
    },
    restore() {
      cutOff = false
      for (const client of [...waiting]) {
        waiting.delete(client)
        forward(client)
      }
    },
    holdResponse(method, path) {
      let resolve!: () => void
      const answered = new Promise<void>((r) => {
        resolve = r
      })
      holds.push({ method, path, resolve })
      return { answered }
    },
    async close() {
      for (const c of conns) {
        c.client.destroy()
        c.upstream.destroy()
      }
      for (const client of waiting) client.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
