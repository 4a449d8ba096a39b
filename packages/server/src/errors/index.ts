export { AppError, ERROR_CODES, type ErrorBody, type ErrorCode, errors } from './app-error.ts'
export { parseInput } from './parse-input.ts'
export { fromPgError, isConnectionError } from './pg-error.ts'
