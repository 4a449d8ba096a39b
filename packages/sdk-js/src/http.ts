import { BastideError, ErrorCodes } from './errors.ts'
import { uuid } from './ids.ts'

/** The `fetch` the SDK calls: the platform's by default, or yours (instrumentation, tests, custom agents). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** Which credential a request carries. */
export type AuthMode = 'access' | 'session' | 'none'

/** Where the HTTP layer gets its bearer token; the auth service implements it. */
export interface TokenSource {
  /** `access`: an access JWT (refreshed ahead of expiry), `session`: the session token (for `/api/auth`). */
  getToken(kind: Exclude<AuthMode, 'none'>): Promise<string | null>
  /** After a 401 on a request that carried a token: refresh if possible and say whether to retry once. */
  handleUnauthorized?(kind: Exclude<AuthMode, 'none'>, token: string): Promise<boolean>
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 3). 1 turns retries off. */
  readonly attempts: number
  /** Delay before the first retry in ms, doubled each time, with jitter (default 300). */
  readonly baseDelayMs: number
  /** Longest wait between attempts in ms, `Retry-After` included (default 10 000). */
  readonly maxDelayMs: number
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 3, baseDelayMs: 300, maxDelayMs: 10_000 }

export type QueryValue = string | number | boolean | null | undefined | readonly string[]

export interface RequestOptions {
  readonly method?: string
  readonly query?: Readonly<Record<string, QueryValue>>
  /** A plain value is sent as JSON; Blob, FormData, ArrayBuffer, typed arrays, streams and strings as they are. */
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal | undefined
  /**
   * `Idempotency-Key` for a write: a string to use, `true` for a fresh one. A write with a key is retried on
   * network failures and 5xx like a read (the server replays the stored answer instead of writing twice).
   */
  readonly idempotencyKey?: string | boolean | undefined
  /** Which credential to send (default `access`, i.e. the access JWT when signed in, else none). */
  readonly auth?: AuthMode
  /** Retry policy for this request; `false` turns retries off. */
  readonly retry?: boolean | Partial<RetryOptions>
}

const RETRY_STATUSES = new Set([408, 429, 502, 503, 504])
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT'])

/** The SDK's HTTP layer: base URL, credentials, JSON, errors, retries with backoff. */
export class Http {
  readonly baseUrl: string
  readonly #fetch: FetchLike
  readonly #retry: RetryOptions
  readonly #headers: Readonly<Record<string, string>>
  tokens: TokenSource | undefined

  constructor(opts: {
    url: string
    fetch?: FetchLike | undefined
    retry?: Partial<RetryOptions> | undefined
    headers?: Readonly<Record<string, string>> | undefined
  }) {
    let u: URL
    try {
      u = new URL(opts.url)
    } catch {
      throw new TypeError(
        `createClient: "${opts.url}" is not an absolute URL (e.g. https://api.example.com).`,
      )
    }
    this.baseUrl = u.toString().replace(/\/+$/, '')
    const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch
    if (!f) throw new TypeError('createClient: no fetch on this platform; pass `fetch` in the options.')
    // Unbound, window.fetch throws "Illegal invocation" in browsers.
    this.#fetch = opts.fetch ?? ((input, init) => f.call(globalThis, input, init))
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry }
    this.#headers = opts.headers ?? {}
  }

  /** Headers added to every request (the client's `headers` option), for transports that bypass `send` (XHR). */
  get defaultHeaders(): Readonly<Record<string, string>> {
    return this.#headers
  }

  /** The absolute URL of an API path, with a query string. */
  url(path: string, query?: Readonly<Record<string, QueryValue>>): string {
    let out = `${this.baseUrl}${path.startsWith('/') ? path : `/${path}`}`
    if (query) {
      const qs = new URLSearchParams()
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue
        qs.set(k, Array.isArray(v) ? v.join(',') : String(v))
      }
      const s = qs.toString()
      if (s) out += `${out.includes('?') ? '&' : '?'}${s}`
    }
    return out
  }

  /**
   * Sends a request and returns its parsed JSON (`undefined` for 204), throwing {@link BastideError} for any
   * non-2xx answer and for network failures.
   */
  async request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(path, opts)
    if (res.status === 204 || res.status === 205) return undefined as T
    const text = await res.text()
    if (text === '') return undefined as T
    try {
      return JSON.parse(text) as T
    } catch (cause) {
      throw new BastideError({
        code: ErrorCodes.INVALID_RESPONSE,
        status: res.status,
        message: 'The server answered with something that is not JSON.',
        requestId: res.headers.get('x-request-id') ?? undefined,
        cause,
      })
    }
  }

  /** Sends a request and returns the successful `Response` itself (downloads, headers); errors as in `request`. */
  async send(path: string, opts: RequestOptions = {}): Promise<Response> {
    const method = (opts.method ?? 'GET').toUpperCase()
    const url = /^https?:\/\//.test(path) ? path : this.url(path, opts.query)
    const headers: Record<string, string> = { accept: 'application/json', ...this.#headers, ...opts.headers }
    let body: BodyInit | undefined
    if (opts.body !== undefined) {
      if (isRawBody(opts.body)) body = opts.body as BodyInit
      else {
        body = JSON.stringify(opts.body)
        headers['content-type'] ??= 'application/json'
      }
    }
    const key =
      opts.idempotencyKey === true
        ? uuid()
        : typeof opts.idempotencyKey === 'string'
          ? opts.idempotencyKey
          : undefined
    if (key !== undefined) headers['idempotency-key'] = key
    const retry: RetryOptions =
      opts.retry === false
        ? { ...this.#retry, attempts: 1 }
        : { ...this.#retry, ...(typeof opts.retry === 'object' ? opts.retry : {}) }
    // Streams cannot be sent twice.
    const replayable = !(typeof ReadableStream !== 'undefined' && body instanceof ReadableStream)
    const canRetry = replayable && (IDEMPOTENT_METHODS.has(method) || key !== undefined)
    const authMode = opts.auth ?? 'access'
    let refreshed = false

    for (let attempt = 1; ; attempt++) {
      const token = authMode === 'none' || !this.tokens ? null : await this.tokens.getToken(authMode)
      const h = token ? { ...headers, authorization: `Bearer ${token}` } : headers
      let res: Response
      try {
        res = await this.#fetch(url, {
          method,
          headers: h,
          ...(body !== undefined ? { body } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(replayable ? {} : { duplex: 'half' }),
        } as RequestInit)
      } catch (cause) {
        if (isAbort(cause, opts.signal)) throw aborted(cause)
        if (canRetry && attempt < retry.attempts) {
          await sleep(backoff(retry, attempt), opts.signal)
          continue
        }
        throw new BastideError({
          code: ErrorCodes.NETWORK_ERROR,
          status: 0,
          message: `Could not reach the server (${(cause as Error)?.message ?? String(cause)}).`,
          cause,
        })
      }
      if (res.ok || res.status === 304) return res
      const error = await toError(res)
      if (
        res.status === 401 &&
        token &&
        !refreshed &&
        this.tokens?.handleUnauthorized &&
        authMode !== 'none'
      ) {
        // Never fall back to anonymous: either a fresh token works, or the 401 stands.
        refreshed = true
        if (await this.tokens.handleUnauthorized(authMode, token)) {
          attempt--
          continue
        }
      }
      if (canRetry && RETRY_STATUSES.has(res.status) && attempt < retry.attempts) {
        const wait = error.retryAfter !== undefined ? error.retryAfter * 1000 : backoff(retry, attempt)
        if (wait <= retry.maxDelayMs) {
          await sleep(wait, opts.signal)
          continue
        }
      }
      throw error
    }
  }
}

/** Reads a non-2xx answer into a BastideError (the server's shape, or a generic one from the status). */
export async function toError(res: Response): Promise<BastideError> {
  const requestId = res.headers.get('x-request-id') ?? undefined
  const ra = res.headers.get('retry-after')
  const retryAfter = ra === null ? undefined : parseRetryAfter(ra)
  let body: Record<string, unknown> | undefined
  try {
    const text = await res.text()
    const parsed = text ? JSON.parse(text) : undefined
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>
  } catch {}
  const code = typeof body?.code === 'string' && body.code ? body.code : statusCode(res.status)
  const message =
    typeof body?.message === 'string' && body.message
      ? body.message
      : `HTTP ${res.status} ${res.statusText}`.trim()
  const details =
    body?.details && typeof body.details === 'object' ? (body.details as Record<string, unknown>) : undefined
  return new BastideError({ code, status: res.status, message, details, requestId, retryAfter })
}

function statusCode(status: number): string {
  const byStatus: Record<number, string> = {
    400: ErrorCodes.BAD_REQUEST,
    401: ErrorCodes.UNAUTHORIZED,
    403: ErrorCodes.FORBIDDEN,
    404: ErrorCodes.NOT_FOUND,
    409: ErrorCodes.CONFLICT,
    412: ErrorCodes.PRECONDITION_FAILED,
    413: ErrorCodes.PAYLOAD_TOO_LARGE,
    415: ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCodes.RATE_LIMITED,
    503: ErrorCodes.UNAVAILABLE,
  }
  return byStatus[status] ?? (status >= 500 ? ErrorCodes.INTERNAL : ErrorCodes.BAD_REQUEST)
}

function parseRetryAfter(v: string): number | undefined {
  if (/^\d+$/.test(v.trim())) return Number(v.trim())
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

function backoff(r: RetryOptions, attempt: number): number {
  const base = Math.min(r.maxDelayMs, r.baseDelayMs * 2 ** (attempt - 1))
  // Full jitter on the upper half, so that many clients coming back at once spread out.
  return base / 2 + Math.random() * (base / 2)
}

function isRawBody(b: unknown): boolean {
  return (
    typeof b === 'string' ||
    (typeof Blob !== 'undefined' && b instanceof Blob) ||
    (typeof FormData !== 'undefined' && b instanceof FormData) ||
    (typeof URLSearchParams !== 'undefined' && b instanceof URLSearchParams) ||
    (typeof ReadableStream !== 'undefined' && b instanceof ReadableStream) ||
    b instanceof ArrayBuffer ||
    ArrayBuffer.isView(b)
  )
}

function isAbort(e: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (e as { name?: string })?.name === 'AbortError'
}

export function aborted(cause?: unknown): BastideError {
  return new BastideError({ code: ErrorCodes.ABORTED, status: 0, message: 'The request was aborted.', cause })
}

/** Waits `ms`, rejecting with ABORTED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal.reason))
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(aborted(signal?.reason))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
