import { ERROR_STATUS, type WireErrorCode } from '@bastide/protocol'

/** The SDK's own codes: failures that never got a Bastide answer. */
const SDK_CODES = {
  /** SDK: the request never got an answer (offline, DNS, connection reset, timeout). */
  NETWORK_ERROR: 'NETWORK_ERROR',
  /** SDK: the caller aborted the request (AbortSignal, upload cancel). */
  ABORTED: 'ABORTED',
  /** SDK: the server answered something that is not Bastide's JSON. */
  INVALID_RESPONSE: 'INVALID_RESPONSE',
} as const

/**
 * The error codes the Bastide server answers with (`{code, message, status, details}`: the server's catalog,
 * its auth codes and the realtime ones such as `TOKEN_EXPIRED`, `SESSION_ENDED` and `LIMIT`, all from
 * `@bastide/protocol`), plus the SDK's own `NETWORK_ERROR` (no answer from the server), `ABORTED` (cancelled
 * by the caller) and `INVALID_RESPONSE`. better-auth's own codes (`INVALID_EMAIL_OR_PASSWORD`, …) pass through
 * unchanged.
 *
 * @example
 * try { await posts.update(id, { title }, { version: 3 }) }
 * catch (e) { if (isBastideError(e, ErrorCodes.VERSION_MISMATCH)) reload() }
 */
export const ErrorCodes: { readonly [C in WireErrorCode]: C } & typeof SDK_CODES = {
  ...(Object.fromEntries(Object.keys(ERROR_STATUS).map((c) => [c, c])) as { [C in WireErrorCode]: C }),
  ...SDK_CODES,
}

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/**
 * The one error the SDK throws: the server's `code`, `status`, `message` and `details`, or a network failure
 * (`status: 0`, `isNetworkError`).
 *
 * @example
 * try { await client.collection('posts').create({ title: '' }) }
 * catch (e) {
 *   if (e instanceof BastideError && e.code === 'VALIDATION_FAILED') console.log(e.details?.fields)
 * }
 */
export class BastideError extends Error {
  override readonly name = 'BastideError'
  /** A stable SCREAMING_SNAKE code: one of {@link ErrorCodes} or a better-auth code. */
  readonly code: ErrorCode | (string & {})
  /** The HTTP status; 0 when no answer came back. */
  readonly status: number
  readonly details: Record<string, unknown> | undefined
  /** The server's `X-Request-Id`, to quote when reporting a bug. */
  readonly requestId: string | undefined
  /** Seconds to wait before retrying (from `Retry-After`), when the server said so. */
  readonly retryAfter: number | undefined

  constructor(init: {
    code: string
    status: number
    message: string
    details?: Record<string, unknown> | undefined
    requestId?: string | undefined
    retryAfter?: number | undefined
    cause?: unknown
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = init.code
    this.status = init.status
    this.details = init.details
    this.requestId = init.requestId
    this.retryAfter = init.retryAfter
  }

  /** True when the request never got an answer (offline, connection reset): the write may or may not have happened. */
  get isNetworkError(): boolean {
    return this.code === ErrorCodes.NETWORK_ERROR
  }

  /** True when the caller cancelled the request. */
  get isAborted(): boolean {
    return this.code === ErrorCodes.ABORTED
  }

  toJSON(): { code: string; status: number; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, status: this.status, message: this.message }
      : { code: this.code, status: this.status, message: this.message, details: this.details }
  }
}

/**
 * Narrows `e` to a {@link BastideError}, optionally with a given code.
 *
 * @example
 * if (isBastideError(err, ErrorCodes.NOT_FOUND)) return null
 */
export function isBastideError(e: unknown, code?: string): e is BastideError {
  return e instanceof BastideError && (code === undefined || e.code === code)
}
