import { BastideError, ErrorCodes } from '../errors.ts'
import { aborted, type Http, sleep } from '../http.ts'
import { transfer } from './upload-transport.ts'

const TUS_VERSION = '1.0.0'
/** 8 MiB: the part size the server keeps on S3, so an interrupted chunk costs at most one part. */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
/** Waits before each retry of a failed chunk; the count is reset whenever bytes get through. */
export const DEFAULT_RETRY_DELAYS: readonly number[] = [0, 1000, 3000, 5000]

export interface TusOptions {
  /** Absolute URL of the tus endpoint (creation). */
  readonly endpoint: string
  /** `Upload-Metadata` entries (sent base64-encoded, as tus wants). */
  readonly metadata: Readonly<Record<string, string>>
  /** Bytes per PATCH (default 8 MiB). */
  readonly chunkSize?: number | undefined
  /** An upload URL from an earlier attempt: its offset is asked for (HEAD) and the upload continues there. */
  readonly url?: string | undefined
  readonly signal?: AbortSignal | undefined
  /** Bytes stored by the server so far (after each chunk; during a chunk too where XHR reports it). */
  readonly onProgress?: ((loaded: number, total: number) => void) | undefined
  /** Called once the upload URL is known (created or resumed), to persist it for a later resume. */
  readonly onUrl?: ((url: string) => void | Promise<void>) | undefined
  readonly retryDelays?: readonly number[] | undefined
}

export interface TusResult {
  readonly url: string
  /** The final response's `Bastide-Object` header, parsed (absent if the server sent none). */
  readonly object: unknown
}

/**
 * A minimal tus 1.0 client (core + creation + termination) over the SDK's HTTP layer: creates an upload
 * (or resumes one from its URL with HEAD), then sends chunks with PATCH and `Upload-Offset`, resynchronising
 * with HEAD and retrying after network failures, 409 (offset mismatch), 423, 429 and 5xx.
 */
export class TusUpload {
  readonly #http: Http
  readonly #data: Blob | Uint8Array
  readonly #opts: TusOptions
  #url: string | undefined

  constructor(http: Http, data: Blob | Uint8Array, opts: TusOptions) {
    this.#http = http
    this.#data = data
    this.#opts = opts
    this.#url = opts.url
  }

  /** The upload URL, once created (or the one given to resume). */
  get url(): string | undefined {
    return this.#url
  }

  get size(): number {
    return this.#data instanceof Uint8Array ? this.#data.byteLength : this.#data.size
  }

  /** Runs the upload to its end; rejects with ABORTED when the signal fires (the upload stays resumable). */
  async start(): Promise<TusResult> {
    const { signal } = this.#opts
    const size = this.size
    const chunkSize = Math.max(1, Math.floor(this.#opts.chunkSize ?? DEFAULT_CHUNK_SIZE))
    const delays = this.#opts.retryDelays ?? DEFAULT_RETRY_DELAYS
    let offset: number | undefined
    if (this.#url !== undefined) offset = await this.#resumeOffset(this.#url)
    if (offset === undefined) {
      const created = await this.#create(size)
      if (created.object !== undefined) {
        this.#opts.onProgress?.(size, size)
        return created
      }
      offset = 0
    } else await this.#opts.onUrl?.(this.#url!)
    const url = this.#url!
    this.#opts.onProgress?.(offset, size)

    let failures = 0
    for (;;) {
      if (signal?.aborted) throw aborted(signal.reason)
      const end = Math.min(size, offset + chunkSize)
      const start = offset
      let res: Response
      try {
        res = await transfer(this.#http, {
          method: 'PATCH',
          url,
          headers: {
            'tus-resumable': TUS_VERSION,
            'upload-offset': String(start),
            'content-type': 'application/offset+octet-stream',
          },
          body:
            this.#data instanceof Uint8Array ? this.#data.subarray(start, end) : this.#data.slice(start, end),
          signal,
          onProgress: this.#opts.onProgress
            ? (n) => this.#opts.onProgress?.(Math.min(end, start + n), size)
            : undefined,
        })
      } catch (e) {
        if (!(e instanceof BastideError) || !retryable(e) || failures >= delays.length) throw e
        await sleep(delays[failures++] ?? 0, signal)
        let at: number | undefined
        try {
          at = await this.#resumeOffset(url)
        } catch (e2) {
          // Still unreachable: try the PATCH again; a wrong offset comes back as a 409 and resyncs then.
          if (e2 instanceof BastideError && retryable(e2) && failures < delays.length) continue
          throw e2
        }
        if (at === undefined) throw e
        if (at > offset) failures = 0
        offset = at
        this.#opts.onProgress?.(offset, size)
        continue
      }
      const object = objectHeader(res)
      const next = Number(res.headers.get('upload-offset'))
      await res.body?.cancel()
      if (object !== undefined) {
        this.#opts.onProgress?.(size, size)
        return { url, object }
      }
      if (!Number.isSafeInteger(next) || next <= start) {
        throw new BastideError({
          code: ErrorCodes.INVALID_RESPONSE,
          status: res.status,
          message: 'The upload server answered a PATCH without moving Upload-Offset.',
        })
      }
      offset = next
      failures = 0
      this.#opts.onProgress?.(offset, size)
      if (offset >= size) {
        // All bytes stored but no object came back (the final answer was lost before a retry): the server
        // finishes an upload in the PATCH that completes it, so the caller looks the object up instead.
        return { url, object: undefined }
      }
    }
  }

  /** Deletes the upload on the server (tus termination); a missing one is not an error. */
  async terminate(): Promise<void> {
    if (this.#url === undefined) return
    try {
      await this.#http.send(this.#url, { method: 'DELETE', headers: { 'tus-resumable': TUS_VERSION } })
    } catch (e) {
      if (!(e instanceof BastideError && e.code === ErrorCodes.NOT_FOUND)) throw e
    }
  }

  async #create(size: number): Promise<TusResult> {
    const res = await this.#http.send(this.#opts.endpoint, {
      method: 'POST',
      headers: {
        'tus-resumable': TUS_VERSION,
        'upload-length': String(size),
        'upload-metadata': Object.entries(this.#opts.metadata)
          .map(([k, v]) => `${k} ${base64(new TextEncoder().encode(v))}`)
          .join(','),
      },
      signal: this.#opts.signal,
      retry: false,
    })
    const location = res.headers.get('location')
    const object = objectHeader(res)
    await res.body?.cancel()
    if (!location) {
      throw new BastideError({
        code: ErrorCodes.INVALID_RESPONSE,
        status: res.status,
        message: 'The upload server created an upload without a Location.',
      })
    }
    this.#url = resolveUrl(location, this.#opts.endpoint)
    await this.#opts.onUrl?.(this.#url)
    return { url: this.#url, object }
  }

  /** The stored offset of an upload, or undefined when it is gone (expired, finished, someone else's). */
  async #resumeOffset(url: string): Promise<number | undefined> {
    let res: Response
    try {
      res = await this.#http.send(url, {
        method: 'HEAD',
        headers: { 'tus-resumable': TUS_VERSION },
        signal: this.#opts.signal,
      })
    } catch (e) {
      if (e instanceof BastideError && (e.status === 404 || e.status === 410)) {
        this.#url = undefined
        return undefined
      }
      throw e
    }
    const offset = Number(res.headers.get('upload-offset'))
    const length = res.headers.get('upload-length')
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new BastideError({
        code: ErrorCodes.INVALID_RESPONSE,
        status: res.status,
        message: 'The upload server answered HEAD without a valid Upload-Offset.',
      })
    }
    if (length !== null && Number(length) !== this.size) {
      throw new BastideError({
        code: ErrorCodes.CONFLICT,
        status: 409,
        message: `This upload URL is for ${length} bytes, not ${this.size}: not the same file.`,
      })
    }
    return offset
  }
}

function retryable(e: BastideError): boolean {
  if (e.code === ErrorCodes.ABORTED) return false
  if (e.status === 0) return true
  return e.status === 409 || e.status === 423 || e.status === 429 || e.status >= 500
}

function objectHeader(res: Response): unknown {
  const h = res.headers.get('bastide-object')
  if (!h) return undefined
  try {
    return JSON.parse(decodeURIComponent(h))
  } catch (cause) {
    throw new BastideError({
      code: ErrorCodes.INVALID_RESPONSE,
      status: res.status,
      message: 'The Bastide-Object header is not percent-encoded JSON.',
      cause,
    })
  }
}

/** `Location` may be relative; React Native's URL cannot always resolve, so only the common cases by hand. */
function resolveUrl(location: string, base: string): string {
  if (/^https?:\/\//i.test(location)) return location
  const origin = /^(https?:\/\/[^/]+)/i.exec(base)?.[1] ?? ''
  if (location.startsWith('/')) return origin + location
  return `${base.replace(/\/+$/, '')}/${location}`
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** Base64 without `btoa` (absent on older React Native engines). */
export function base64(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!
    const b = bytes[i + 1]
    const c = bytes[i + 2]
    out += B64[a >> 2]
    out += B64[((a & 3) << 4) | ((b ?? 0) >> 4)]
    out += b === undefined ? '=' : B64[((b & 15) << 2) | ((c ?? 0) >> 6)]
    out += c === undefined ? '=' : B64[c & 63]
  }
  return out
}
