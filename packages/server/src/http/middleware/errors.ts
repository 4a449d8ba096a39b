import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { Logger } from 'pino'
import { ZodError } from 'zod'
import { AppError, fromPgError } from '../../errors/index.ts'

/** The one place an error becomes a response: the error shape, a request id, never a stack trace. */
export function errorResponse(err: unknown, c: Context, log: Logger): Response {
  const requestId = c.get('requestId') as string | undefined
  let e: AppError | undefined
  if (err instanceof AppError) e = err
  else if (err instanceof ZodError) {
    e = new AppError('BAD_REQUEST', 'The request is invalid.', {
      issues: err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    })
  } else if (err instanceof HTTPException) {
    e = new AppError(
      err.status >= 500 ? 'INTERNAL' : 'BAD_REQUEST',
      err.message || 'Bad request.',
      undefined,
      { status: err.status },
    )
  } else if (err instanceof SyntaxError && /JSON/i.test(err.message)) {
    e = new AppError('BAD_REQUEST', 'The body is not valid JSON.')
  } else e = fromPgError(err)

  if (!e || e.status >= 500) {
    if (e?.code === 'UNAVAILABLE') {
      log.warn({ requestId, err: describe(err) }, 'database unavailable')
      return c.json(e.toBody(), 503, { 'Retry-After': '2' })
    }
    log.error({ requestId, err }, 'unhandled error')
    return c.json({ code: 'INTERNAL', message: 'Internal error.', status: 500, details: { requestId } }, 500)
  }
  if (e.code === 'RATE_LIMITED') c.header('Retry-After', String(e.details?.retryAfter ?? 1))
  return c.json(e.toBody(), e.status as 400)
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
