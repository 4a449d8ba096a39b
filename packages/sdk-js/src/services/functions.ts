import { BastideError, ErrorCodes } from '../errors.ts'
import type { Http, QueryValue } from '../http.ts'

/** A call to an HTTP function: `/api/functions/<name>/<path>`. */
export interface FunctionCall {
  /** Default `POST` when there is a body, else `GET`. */
  readonly method?: string
  /** Below the function's URL: `'users/42'` → `/api/functions/<name>/users/42`. */
  readonly path?: string
  readonly query?: Readonly<Record<string, QueryValue>>
  /** A plain value is sent as JSON; Blob, FormData, ArrayBuffer, typed arrays, streams and strings as they are. */
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
  /** `Idempotency-Key` for a write (a string, or `true` for a fresh one); a keyed write may be retried. */
  readonly idempotencyKey?: string | boolean
  /**
   * Retries (on network failures, 408/429/502/503/504): off by default, since a function may have side effects
   * whatever its method; `true` for the client's policy.
   */
  readonly retry?: boolean
}

/**
 * Functions with an HTTP trigger, called with the client's credentials (the signed-in user's session, or the API
 * key), which the function sees as its caller (`ctx.client` acts as them).
 */
export class FunctionsService {
  constructor(private readonly http: Http) {}

  /**
   * Calls a function and resolves with its answer: parsed JSON (for a JSON content type), text otherwise,
   * `undefined` when empty. A non-2xx answer rejects with a BastideError (the function's own `{code, message}`
   * when it answered with one; `FUNCTION_FAILED` when it threw, `FUNCTION_TIMEOUT`, `FUNCTION_NOT_FOUND`).
   *
   * @example
   * const { total } = await client.functions.invoke<{ total: number }>('checkout', { body: { cart: cartId } })
   * const report = await client.functions.invoke('reports', { path: 'daily', query: { day: '2026-12-01' } })
   */
  async invoke<T = unknown>(name: string, call: FunctionCall = {}): Promise<T> {
    const res = await this.fetch(name, call)
    if (res.status === 204 || res.status === 205) return undefined as T
    const text = await res.text()
    if (text === '') return undefined as T
    if (!/[/+]json\b/i.test(res.headers.get('content-type') ?? '')) return text as T
    try {
      return JSON.parse(text) as T
    } catch (cause) {
      throw new BastideError({
        code: ErrorCodes.INVALID_RESPONSE,
        status: res.status,
        message: 'The function answered with a JSON content type, but its body is not JSON.',
        requestId: res.headers.get('x-request-id') ?? undefined,
        cause,
      })
    }
  }

  /**
   * Calls a function and resolves with its `Response` as it came (streamed body, headers, status), for answers
   * that are not JSON: files, server-sent events, streams. A non-2xx answer rejects as in `invoke`.
   *
   * @example
   * const res = await client.functions.fetch('export', { path: 'posts.csv' })
   * for await (const chunk of res.body!) process(chunk)
   */
  fetch(name: string, call: FunctionCall = {}): Promise<Response> {
    const sub = call.path?.replace(/^\/+/, '')
    return this.http.send(`/api/functions/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`, {
      method: call.method ?? (call.body === undefined ? 'GET' : 'POST'),
      query: call.query,
      body: call.body,
      headers: call.headers,
      signal: call.signal,
      idempotencyKey: call.idempotencyKey,
      retry: call.retry === true,
    })
  }
}
