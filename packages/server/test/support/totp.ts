import type * as OTPAuth from 'otpauth'

const PERIOD_MS = 30_000

/** The TOTP time step at `ms` (30-second steps, as the server counts them). */
export function stepAt(ms = Date.now()): number {
  return Math.floor(ms / PERIOD_MS)
}

/** The code of one time step. */
export function codeAt(totp: OTPAuth.TOTP, step: number): string {
  return totp.generate({ timestamp: step * PERIOD_MS })
}

/**
 * Codes of one TOTP secret, each for a later time step than the one before: the server takes each code once
 * and refuses a step it has already seen (RFC 6238 §5.2). It accepts the current step and the next one, so
 * two codes come at once; a third waits (polling the clock, at most one step) until the next step begins.
 */
export function freshCodes(totp: OTPAuth.TOTP): () => Promise<string> {
  let last = Number.NEGATIVE_INFINITY
  return async () => {
    const step = Math.max(stepAt(), last + 1)
    const deadline = Date.now() + PERIOD_MS + 1_000
    while (step > stepAt() + 1) {
      if (Date.now() > deadline) throw new Error('the clock did not reach the next TOTP step')
      await new Promise((r) => setTimeout(r, 200))
    }
    last = step
    return codeAt(totp, step)
  }
}

/** A six-digit code that none of the time steps around now (±2, more than the server accepts) produce. */
export function wrongCode(totp: OTPAuth.TOTP): string {
  const step = stepAt()
  const valid = new Set([-2, -1, 0, 1, 2].map((i) => codeAt(totp, step + i)))
  let n = Number(codeAt(totp, step))
  let code: string
  do {
    n = (n + 1) % 1_000_000
    code = String(n).padStart(6, '0')
  } while (valid.has(code))
  return code
}
