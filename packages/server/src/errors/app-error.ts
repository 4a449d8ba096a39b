import { SERVER_ERROR_STATUS, type ServerErrorCode, type ErrorBody as WireErrorBody } from '@bastide/protocol'

/**
 * One error class, one catalog, one wire shape: `{ code, message, status, details? }`.
 * The cause is kept for logs and never serialized. The codes and their default statuses are the protocol's,
 * which the SDK shares.
 */
export const ERROR_CODES = SERVER_ERROR_STATUS

export type ErrorCode = ServerErrorCode

export type ErrorBody = WireErrorBody<ErrorCode>

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
  invalidCursor: (message = 'The cursor is malformed or does not match this sort.') =>
    new AppError('INVALID_CURSOR', message),
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
