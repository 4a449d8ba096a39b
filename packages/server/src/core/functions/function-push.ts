import { AppError } from '../../errors/index.ts'
import { BridgeRefusal, InvalidBridgeArgument } from './runtime/function-error.ts'

/** `ctx.push.send` calls one invocation may make at most, so that a function cannot be made a notification flood. */
export const MAX_PUSHES_PER_INVOCATION = 100

/** What ctx.push needs of the push module (`use('push')`, core/push/push-messages.ts's PushMessages). */
export interface PushMessagesLike {
  send(input: unknown, o: { source: string }): Promise<{ readonly id: string }>
}

/**
 * `ctx.push.send` for one invocation of function `name`: the message goes to the push module as it is (it
 * validates it, stores it and queues its fan-out), with source `function:<name>`. Rejects with a refusal meant for
 * the function's author: InvalidBridgeArgument for a message the push module refused (400: the sandbox throws a
 * TypeError), BridgeRefusal for another refusal (an unknown topic) or for a failure, whose details stay here
 * (`onError` gets the error, for the server's log).
 */
export function functionPushSender(
  push: PushMessagesLike,
  name: string,
  onError: (err: Error) => void,
): (message: unknown) => Promise<{ id: string }> {
  let sent = 0
  return async (message) => {
    // Counted before the call: calls in flight at once count too.
    if (sent >= MAX_PUSHES_PER_INVOCATION)
      throw new BridgeRefusal(`one run may send ${MAX_PUSHES_PER_INVOCATION} messages at most`)
    sent++
    if (message === null || typeof message !== 'object' || Array.isArray(message))
      throw new InvalidBridgeArgument('expects one object: { to, title?, body?, data?, ... }')
    try {
      const m = await push.send(message, { source: `function:${name}` })
      return { id: m.id }
    } catch (err) {
      if (err instanceof AppError && err.status === 400) throw new InvalidBridgeArgument(reasonOf(err))
      if (err instanceof AppError && err.status > 400 && err.status < 500)
        throw new BridgeRefusal(err.message)
      onError(err as Error)
      throw new BridgeRefusal('the message could not be queued')
    }
  }
}

/** A 400's message, with the fields it names (VALIDATION_FAILED says only "Some fields are invalid."). */
function reasonOf(err: AppError): string {
  const fields = err.details?.fields
  if (fields === null || typeof fields !== 'object') return err.message
  const parts = Object.entries(fields as Record<string, { message?: unknown }>).map(([path, f]) =>
    path === 'body' ? String(f?.message) : `\`${path}\`: ${String(f?.message)}`,
  )
  return parts.length ? parts.join('; ') : err.message
}
