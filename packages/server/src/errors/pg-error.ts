import { AppError, errors } from './app-error.ts'

/** The fields of a node-postgres DatabaseError that we rely on. */
interface PgErrorLike {
  code?: string
  constraint?: string
  column?: string
  table?: string
  detail?: string
  message?: string
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
])

export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false
  const e = err as PgErrorLike & { errors?: unknown[] }
  if (e.code && CONNECTION_CODES.has(e.code)) return true
  if (Array.isArray(e.errors) && e.errors.some(isConnectionError)) return true
  const m = e.message ?? ''
  return (
    m.includes('Connection terminated') ||
    m.includes('connection timeout') ||
    m.includes('Client has encountered a connection error') ||
    m.includes('timeout exceeded when trying to connect')
  )
}

/**
 * Maps PostgreSQL errors into the wire shape. Constraint names never leak table internals beyond the
 * field they guard: our DDL names constraints `<table>_<field>_<kind>`, and the field name is public.
 */
export function fromPgError(err: unknown): AppError | undefined {
  if (!err || typeof err !== 'object') return undefined
  if (isConnectionError(err)) return errors.unavailable()
  const e = err as PgErrorLike
  switch (e.code) {
    case '23505':
      return errors.conflict('A record with the same unique value already exists.')
    case '23503':
      return new AppError(
        'CONFLICT',
        'The operation would break a relation (missing or still-referenced record).',
      )
    case '23502':
      return errors.validation({
        [e.column ?? 'unknown']: { code: 'required', message: 'This field is required.' },
      })
    case '23514':
      return errors.badRequest('A value violates a field constraint.')
    case '22021': // NUL or an invalid byte sequence in a value
    case '22P05':
    case '22P02':
    case '22007':
    case '22008':
    case '22003':
    case '22023':
    case '2201B':
      return errors.badRequest('A value has the wrong format.')
    case '40001':
    case '40P01':
      return errors.conflict('The operation conflicted with a concurrent change; retry it.')
    case '0A000':
      // A prepared plan that outlived a schema change made on another node a moment ago: retry.
      return /cached plan must not change result type/.test(e.message ?? '')
        ? new AppError('UNAVAILABLE', 'The schema just changed; retry shortly.')
        : undefined
    case '55P03':
    case '57014':
      return new AppError('UNAVAILABLE', 'The database is busy; retry shortly.')
    default:
      return undefined
  }
}
