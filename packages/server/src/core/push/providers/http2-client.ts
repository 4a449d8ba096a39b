import http2, {
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2'
import tls from 'node:tls'

/** The server did not process the request: sending it again cannot duplicate it. */
class UnprocessedError extends Error {}

export interface Http2Response {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface Http2ClientOptions {
  /** Extra trusted CA PEM, added to the system roots (passing `ca` alone would replace them). */
  readonly ca?: string
  /** Per request, headers and body included. */
  readonly timeoutMs: number
  /** Response bodies are cut here (providers answer small JSON). Default 64 KiB. */
  readonly maxResponseBytes?: number
}

/**
 * One HTTP/2 session to one origin, shared by every request (APNs wants long-lived connections and multiplexing
 * rather than a connection per notification). The session is replaced after GOAWAY, an error or a close: requests
 * already sent on it fail (the caller retries them), new ones open a fresh session.
 */
export class Http2Client {
  private session: ClientHttp2Session | undefined
  private readonly ca: string[] | undefined

  constructor(
    readonly origin: string,
    private readonly o: Http2ClientOptions,
  ) {
    this.ca = o.ca ? [...tls.rootCertificates, o.ca] : undefined
  }

  private connect(): ClientHttp2Session {
    const current = this.session
    if (current && !current.closed && !current.destroyed) return current
    const s = http2.connect(this.origin, this.ca ? { ca: this.ca } : {})
    const drop = () => {
      if (this.session === s) this.session = undefined
    }
    // Without an 'error' listener a failed connect would crash the process; the streams get their own errors.
    s.on('error', drop)
    s.on('goaway', drop)
    s.on('close', drop)
    this.session = s
    return s
  }

  /**
   * Sends one request; rejects on network errors and timeouts (never on an HTTP status). A stream the server
   * refused unprocessed (REFUSED_STREAM, or above the last stream id of a GOAWAY: RFC 9113 §8.7) is sent once more
   * on a new session: that is what happens to a request racing a connection's shutdown.
   */
  async request(headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<Http2Response> {
    try {
      return await this.once(headers, body)
    } catch (err) {
      if (!(err instanceof UnprocessedError)) throw err
      return this.once(headers, body)
    }
  }

  private once(headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<Http2Response> {
    const max = this.o.maxResponseBytes ?? 65_536
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session
      try {
        session = this.connect()
      } catch (err) {
        reject(err)
        return
      }
      const req = session.request(headers)
      let responseHeaders: IncomingHttpHeaders = {}
      const chunks: Buffer[] = []
      let size = 0
      const timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL)
        reject(new Error(`${this.origin} did not answer within ${this.o.timeoutMs} ms`))
      }, this.o.timeoutMs)
      req.on('response', (h) => {
        responseHeaders = h
      })
      req.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > max) {
          req.close(http2.constants.NGHTTP2_CANCEL)
          clearTimeout(timer)
          reject(new Error(`${this.origin} answered more than ${max} bytes`))
          return
        }
        chunks.push(chunk)
      })
      req.on('end', () => {
        clearTimeout(timer)
        resolve({
          status: Number(responseHeaders[':status'] ?? 0),
          headers: responseHeaders,
          body: Buffer.concat(chunks).toString('utf8'),
        })
      })
      req.on('error', (err) => {
        clearTimeout(timer)
        const refused =
          req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ||
          (err as { code?: string }).code === 'ERR_HTTP2_GOAWAY_SESSION'
        if (refused && session === this.session) this.session = undefined
        reject(refused ? new UnprocessedError(err.message) : err)
      })
      // A stream reset without an error code ends without 'end' nor 'error' (no-op once settled).
      req.on('close', () => {
        clearTimeout(timer)
        reject(new Error(`${this.origin} closed the stream (code ${req.rstCode})`))
      })
      req.end(body)
    })
  }

  close(): Promise<void> {
    const s = this.session
    this.session = undefined
    if (!s || s.destroyed) return Promise.resolve()
    return new Promise((resolve) => {
      s.close(() => resolve())
      // A peer that never ends its streams must not hold shutdown.
      setTimeout(() => {
        s.destroy()
        resolve()
      }, 2000).unref()
    })
  }
}
