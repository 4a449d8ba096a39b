/**
 * The longest wait a provider's Retry-After may impose: a longer (or absurd) value is cut to this. A device's
 * endpoint (Web Push, UnifiedPush) is chosen by whoever registered it, so its answer must not hold a message
 * for days, nor make a date out of range (which would fail the whole batch's results with it).
 */
export const MAX_RETRY_AFTER_MS = 3_600_000

/**
 * A Retry-After header as milliseconds from `now`: delay-seconds or an HTTP date (RFC 9110 §10.2.3), at most
 * MAX_RETRY_AFTER_MS. Undefined when absent or unreadable (not a finite, non-negative value); never negative.
 */
export function parseRetryAfter(
  value: string | string[] | null | undefined,
  now: number,
): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim()
  if (!v) return undefined
  let ms: number
  // Delay-seconds of any length is readable: past the cap it is the cap (Number() of 400 digits is Infinity).
  if (/^\d+$/.test(v)) ms = Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS)
  else {
    // An HTTP date starts with its day name (IMF-fixdate, RFC 850, asctime); anything else Date.parse might
    // read ('-5' is a year) is not one.
    if (!/^[A-Za-z]{3,9},? /.test(v)) return undefined
    const at = Date.parse(v)
    if (Number.isNaN(at)) return undefined
    ms = Math.max(0, at - now)
  }
  return clampRetryAfter(ms)
}

/** A wait asked for by a provider, within [0, MAX_RETRY_AFTER_MS]; undefined for a non-finite or negative one. */
export function clampRetryAfter(ms: number | undefined): number | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined
  return Math.min(ms, MAX_RETRY_AFTER_MS)
}
