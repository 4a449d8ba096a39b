import { BastideError, ErrorCodes } from '../errors.ts'
import { type AuthMode, aborted, type Http, toError } from '../http.ts'

/** What an upload can send: a Blob or File, bytes, text, or (fetch only) a stream. */
export type UploadData = Blob | ArrayBuffer | ArrayBufferView | string | ReadableStream<Uint8Array>

/** Upload progress: bytes sent so far, of `total` (undefined for a stream of unknown length). */
export interface UploadProgress {
  readonly loaded: number
  readonly total: number | undefined
}

export interface TransferOptions {
  readonly method: string
  /** Absolute URL. */
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: UploadData
  readonly signal?: AbortSignal | undefined
  /** Bytes of this body sent so far. */
  readonly onProgress?: ((loaded: number) => void) | undefined
  /**
   * Without XMLHttpRequest, report progress by streaming the body through a counting stream (Node, workers).
   * Costs `Content-Length` (the server then enforces limits as bytes arrive) and retries, so only for uploads
   * that asked for progress.
   */
  readonly streamProgress?: boolean
  readonly auth?: AuthMode
  readonly retry?: boolean
}

/** Bytes are read and counted this many at a time when a body is streamed for progress. */
const STREAM_CHUNK = 64 * 1024

/**
 * Sends a request with a body and upload progress: through XMLHttpRequest where the platform has it (browsers
 * and React Native report upload progress only there), else through `http.send` (fetch). Either way the
 * answer is a `Response` and every non-2xx a {@link BastideError}.
 */
export async function transfer(http: Http, o: TransferOptions): Promise<Response> {
  const isStream = typeof ReadableStream !== 'undefined' && o.body instanceof ReadableStream
  if (o.onProgress && !isStream && typeof XMLHttpRequest !== 'undefined') return viaXhr(http, o)
  let body = o.body
  if (o.onProgress && o.streamProgress && body !== undefined && typeof ReadableStream !== 'undefined')
    body = countingStream(body, o.onProgress, o.signal)
  const res = await http.send(o.url, {
    method: o.method,
    ...(o.headers ? { headers: o.headers } : {}),
    ...(body !== undefined ? { body } : {}),
    signal: o.signal,
    auth: o.auth ?? 'access',
    retry: o.retry ?? false,
  })
  return res
}

/** The size of a body in bytes, when it can be known without reading it. */
export function sizeOf(body: UploadData): number | undefined {
  if (typeof body === 'string') return utf8Length(body)
  if (typeof Blob !== 'undefined' && body instanceof Blob) return body.size
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength
  return undefined
}

function utf8Length(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/** Bytes of a body for random access (tus chunks) or streaming: Blobs stay Blobs (they may live on disk). */
export function toSliceable(body: Exclude<UploadData, ReadableStream<Uint8Array>>): Blob | Uint8Array {
  if (typeof body === 'string') return new TextEncoder().encode(body)
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  return body
}

/** A stream over `body` that reports how many bytes were pulled from it (i.e. handed to the network). */
function countingStream(
  body: UploadData,
  onProgress: (loaded: number) => void,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  let loaded = 0
  const report = (n: number) => {
    loaded += n
    onProgress(loaded)
  }
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) {
    const reader = body.getReader()
    return new ReadableStream<Uint8Array>(
      {
        async pull(ctl) {
          const { done, value } = await reader.read()
          if (done) return ctl.close()
          report(value.byteLength)
          ctl.enqueue(value)
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    )
  }
  const src = toSliceable(body as Exclude<UploadData, ReadableStream<Uint8Array>>)
  const size = src instanceof Uint8Array ? src.byteLength : src.size
  let at = 0
  // highWaterMark 0: a chunk is read only when the network asks for one, so progress follows the socket.
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        if (signal?.aborted) return ctl.error(aborted(signal.reason))
        if (at >= size) return ctl.close()
        const end = Math.min(size, at + STREAM_CHUNK)
        const chunk =
          src instanceof Uint8Array
            ? src.subarray(at, end)
            : new Uint8Array(await src.slice(at, end).arrayBuffer())
        at = end
        report(chunk.byteLength)
        ctl.enqueue(chunk)
      },
    },
    { highWaterMark: 0 },
  )
}

/** One request through XMLHttpRequest, answered as a `Response`; a 401 with a token refreshes and retries once. */
async function viaXhr(http: Http, o: TransferOptions): Promise<Response> {
  const authMode = o.auth ?? 'access'
  for (let refreshed = false; ; refreshed = true) {
    const token = authMode === 'none' || !http.tokens ? null : await http.tokens.getToken(authMode)
    const res = await xhrOnce(o, {
      accept: 'application/json',
      ...http.defaultHeaders,
      ...o.headers,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    })
    if (res.ok) return res
    if (
      res.status === 401 &&
      token &&
      !refreshed &&
      authMode !== 'none' &&
      http.tokens?.handleUnauthorized &&
      (await http.tokens.handleUnauthorized(authMode, token))
    )
      continue
    throw await toError(res)
  }
}

function xhrOnce(o: TransferOptions, headers: Readonly<Record<string, string>>): Promise<Response> {
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(aborted(o.signal.reason))
    const xhr = new XMLHttpRequest()
    const onAbort = () => xhr.abort()
    const settle = () => o.signal?.removeEventListener('abort', onAbort)
    xhr.open(o.method, o.url, true)
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v)
    if (o.onProgress) {
      const onProgress = o.onProgress
      xhr.upload.onprogress = (e) => onProgress(e.loaded)
    }
    xhr.onload = () => {
      settle()
      const status = xhr.status
      // A Response cannot carry a body with these statuses.
      const noBody = status === 204 || status === 205 || status === 304
      try {
        resolve(
          new Response(noBody ? null : xhr.responseText, {
            status,
            statusText: xhr.statusText,
            headers: parseHeaders(xhr.getAllResponseHeaders()),
          }),
        )
      } catch (cause) {
        // Status 0 or out of range: what XHR reports for a blocked (CORS) or cut-off request.
        reject(networkError(cause))
      }
    }
    xhr.onerror = () => {
      settle()
      reject(networkError(new Error('XMLHttpRequest failed')))
    }
    xhr.ontimeout = xhr.onerror
    xhr.onabort = () => {
      settle()
      reject(aborted(o.signal?.reason))
    }
    o.signal?.addEventListener('abort', onAbort, { once: true })
    xhr.send((o.body ?? null) as XMLHttpRequestBodyInit | null)
  })
}

function networkError(cause: unknown): BastideError {
  return new BastideError({
    code: ErrorCodes.NETWORK_ERROR,
    status: 0,
    message: `Could not reach the server (${(cause as Error)?.message ?? String(cause)}).`,
    cause,
  })
}

function parseHeaders(raw: string): Headers {
  const h = new Headers()
  for (const line of raw.split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0) h.append(line.slice(0, i).trim(), line.slice(i + 1).trim())
  }
  return h
}
