import { FUNCTIONS_ERROR_STATUS, type FunctionsErrorCode } from '@bastide/protocol'
import { AppError, type ErrorCode } from '../../../errors/index.ts'

/**
 * An AppError with one of the functions module's codes (declared in the protocol's FUNCTIONS_ERROR_STATUS and
 * listed in the module's errorCodes), which AppError's own catalog does not hold.
 */
export function functionError(
  code: FunctionsErrorCode,
  message: string,
  details?: Record<string, unknown>,
): AppError {
  return new AppError(code as unknown as ErrorCode, message, details, {
    status: FUNCTIONS_ERROR_STATUS[code],
  })
}

/**
 * A host bridge call (ctx.client, fetch) refused for a reason the function's author should read: its message
 * goes into the sandbox, where other host failures only say that the server could not answer.
 */
export class BridgeRefusal extends Error {}

/** A bridge call's argument the host refused (ctx.push.send's message): the sandbox throws it as a TypeError. */
export class InvalidBridgeArgument extends BridgeRefusal {}
