import { type Ack, ERROR_STATUS, type WireErrorCode } from '@bastide/protocol'
import type { Socket } from 'socket.io-client'
import { BastideError, ErrorCodes } from '../errors.ts'

/** Waiting for an acknowledgement longer than this means the connection is in trouble. */
export const ACK_TIMEOUT_MS = 10_000

/** The codes realtime acknowledgements carry a status for (the protocol's); any other gets 0. */
const ACK_CODES: ReadonlySet<string> = new Set<WireErrorCode>([
  'BAD_REQUEST',
  'INVALID_FILTER',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'LIMIT',
  'RATE_LIMITED',
  'UNAVAILABLE',
])

/**
 * An emit whose answer is handled as soon as it arrives: a promise would settle a tick later, after events that
 * came in the same batch (polling) and that need the answer (a subscription id). `undefined`: no answer.
 */
export function request(so: Socket, event: string, payload: unknown, cb: (r: Ack | undefined) => void): void {
  so.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err: Error | null, r: Ack) => cb(err ? undefined : r))
}

export function ackError(r: Ack | undefined): BastideError {
  const e = r && !r.ok ? r.error : undefined
  const code = e?.code ?? ErrorCodes.INVALID_RESPONSE
  return new BastideError({
    code,
    status: ACK_CODES.has(code) ? ERROR_STATUS[code as WireErrorCode] : 0,
    message: e?.message ?? 'The realtime server refused the request.',
  })
}

export function asError(cause: unknown, code: string): BastideError {
  if (cause instanceof BastideError) return cause
  return new BastideError({
    code,
    status: 0,
    message: (cause as Error)?.message ?? String(cause),
    cause,
  })
}

/** App callbacks must not break delivery to the others: their errors are rethrown out of band. */
export function safely(fn: () => void): void {
  try {
    fn()
  } catch (err) {
    queueMicrotask(() => {
      throw err
    })
  }
}

/** Timers must not keep a Node script alive (a no-op in browsers). */
export function unref(t: unknown): void {
  ;(t as { unref?: () => void }).unref?.()
}
