import { FilterError } from '@bastide/protocol'
import { errors } from '../../errors/index.ts'

/** The language (shared with clients through the protocol) throws FilterError; the server answers AppError 400. */
export function asAppError(e: unknown): unknown {
  if (!(e instanceof FilterError)) return e
  const details: Record<string, unknown> = { position: e.position }
  if (e.near !== undefined) details.near = e.near
  return errors.invalidFilter(e.message, details)
}
