/**
 * One error class, one catalog, one wire shape: `{ code, message, status, details? }`.
 * The cause is kept for logs and never serialized.
 */
export const ERROR_CODES = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  INVALID_FILTER: 400,
  INVALID_CURSOR: 400,
  INVALID_SCHEMA: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  VERSION_MISMATCH: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_IMAGE: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export interface ErrorBody {
  readonly code: ErrorCode
  readonly message: string
  readonly status: number
  readonly details?: Record<string, unknown>
}

export class AppError extends Error {
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.status = options?.status ?? ERROR_CODES[code]
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message, status: this.status }
      : { code: this.code, message: this.message, status: this.status, details: this.details }
  }
}

/** Constructors for the errors the domain throws, so messages stay consistent. */
export const errors = {
  badRequest: (message: string, details?: Record<string, unknown>) =>
    new AppError('BAD_REQUEST', message, details),
  validation: (fields: Record<string, { code: string; message: string }>) =>
    new AppError('VALIDATION_FAILED', 'Some fields are invalid.', { fields }),
  invalidSchema: (message: string, details?: Record<string, unknown>) =>
    new AppError('INVALID_SCHEMA', message, details),
  invalidFilter: (message: string, details?: Record<string, unknown>) =>
    new AppError('INVALID_FILTER', message, details),
  invalidCursor: () => new AppError('INVALID_CURSOR', 'The cursor is malformed or does not match this sort.'),
  unauthorized: (message = 'A valid credential is required.') => new AppError('UNAUTHORIZED', message),
  forbidden: (message = 'You are not allowed to do this.') => new AppError('FORBIDDEN', message),
  notFound: (what: string) => new AppError('NOT_FOUND', `${what} not found.`),
  conflict: (message: string, details?: Record<string, unknown>) =>
    new AppError('CONFLICT', message, details),
  versionMismatch: (current: number) =>
    new AppError('VERSION_MISMATCH', 'The record has changed since you read it.', {
      currentVersion: current,
    }),
  idempotencyReused: () =>
    new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request.'),
  payloadTooLarge: (limit: number) =>
    new AppError('PAYLOAD_TOO_LARGE', `The request body exceeds ${limit} bytes.`, { limit }),
  unavailable: () => new AppError('UNAVAILABLE', 'The database is unreachable; retry shortly.'),
} as const
