import { BridgeRefusal } from './function-error.ts'

/** The largest answer ctx.client hands a function, bytes: it is read whole into the server's memory. */
export const MAX_CLIENT_RESPONSE_BYTES = 10 * 1024 * 1024

/**
 * Response bytes (fetch and ctx.client answers) being read for sandboxes or waiting to be written to one, across
 * this server process: past the cap a call fails in the function, rather than every invocation holding
 * 32 calls x 10 MiB at once.
 */
export const bridgeBytes = {
  max: 32 * 1024 * 1024,
  used: 0,
  /** Takes `n` bytes, or returns false (taking none) when that would go over. */
  take(n: number): boolean {
    if (this.used + n > this.max) return false
    this.used += n
    return true
  },
  give(n: number): void {
    this.used -= n
  },
}

export const BRIDGE_BYTES_REFUSAL =
  'the server has too many response bytes in flight for functions; retry later'

/**
 * A response's body, read whole but at most `max` bytes (and within `bridgeBytes` while it is read): past either
 * the body is cancelled and a BridgeRefusal thrown (the function sees why), so that no answer is held in full
 * however large it is.
 */
export async function readCapped(res: Response, max: number, what: string): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array()
  const reader = res.body.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (size + value.length > max || !bridgeBytes.take(value.length)) {
        await reader.cancel().catch(() => {})
        throw new BridgeRefusal(
          size + value.length > max
            ? `${what}: the response is over ${max} bytes`
            : `${what}: ${BRIDGE_BYTES_REFUSAL}`,
        )
      }
      size += value.length
      parts.push(value)
    }
    return Buffer.concat(parts)
  } finally {
    // The caller holds them again from here (deno-process.ts), until they are written to the sandbox.
    bridgeBytes.give(size)
  }
}
