import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** One POST the receiver got. */
export interface ReceivedPush {
  /** The endpoint's name (the path after /up/). */
  readonly endpoint: string
  /** When it arrived (Date.now()). */
  readonly at: number
  readonly headers: http.IncomingHttpHeaders
  /** The JSON payload (UnifiedPush without keys: in clear). */
  readonly body: any
}

/** An answer the receiver gives: a status, headers (`retry-after`), and a body. */
export interface ScriptedAnswer {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  /** Sent as is (default: none). */
  readonly body?: string
}

export interface UnifiedPushReceiver {
  /** The device token (endpoint URL) for a name. */
  endpoint(name: string): string
  /** Everything received so far, in order (held requests included). */
  readonly received: ReceivedPush[]
  /** What `name` answers to its next requests, in order; then 201 again. */
  script(name: string, answers: readonly ScriptedAnswer[]): void
  /** What `name` answers to every request from now on. */
  always(name: string, answer: ScriptedAnswer): void
  /** From now on (after answering `answering` more), requests are recorded but not answered until `release()`. */
  hold(answering?: number): void
  /** Answers the held requests (201) and stops holding. */
  release(): void
  /** Requests waiting for `release()`. */
  readonly held: number
  close(): Promise<void>
}

/**
 * A UnifiedPush distributor's push endpoint on loopback (a real HTTP peer for the senders): each device's
 * endpoint is `/up/<name>`; it records the JSON it is POSTed and answers 201 (Created, with a Location, as RFC
 * 8030 push services do), or what a test scripted for that endpoint (429 with Retry-After, 500, 404, 410).
 */
export async function startUnifiedPushReceiver(): Promise<UnifiedPushReceiver> {
  const received: ReceivedPush[] = []
  const scripts = new Map<string, ScriptedAnswer[]>()
  const fixed = new Map<string, ScriptedAnswer>()
  let holding = false
  /** Requests still answered at once after hold(). */
  let passes = 0
  const waiting: (() => void)[] = []
  let n = 0
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const m = /^\/up\/([^/?]+)$/.exec(req.url ?? '')
      if (req.method !== 'POST' || !m) {
        res.writeHead(404).end()
        return
      }
      const endpoint = decodeURIComponent(m[1]!)
      let body: unknown = null
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        body = Buffer.concat(chunks).toString('utf8')
      }
      received.push({ endpoint, at: Date.now(), headers: req.headers, body })
      const answer = scripts.get(endpoint)?.shift() ?? fixed.get(endpoint) ?? { status: 201 }
      const reply = () => {
        if (res.destroyed) return
        const headers: Record<string, string> = { ...answer.headers }
        if (answer.status === 201) headers.location = `/messages/${++n}`
        res.writeHead(answer.status, headers).end(answer.body)
      }
      if (holding && passes-- <= 0) waiting.push(reply)
      else reply()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const release = () => {
    holding = false
    for (const r of waiting.splice(0)) r()
  }
  return {
    endpoint: (name) => `http://127.0.0.1:${port}/up/${encodeURIComponent(name)}`,
    received,
    script: (name, answers) => void scripts.set(name, [...answers]),
    always: (name, answer) => void fixed.set(name, answer),
    hold(answering = 0) {
      holding = true
      passes = answering
    },
    release,
    get held() {
      return waiting.length
    },
    async close() {
      release()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
