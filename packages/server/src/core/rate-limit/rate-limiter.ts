/**
 * Fixed-window counters: the first hit on a key opens a window of `windowSeconds`; every hit in it counts;
 * the first hit after it ends opens a new one at 1. Simple, one round trip, exact across nodes sharing the
 * store. Its known edge: a client can spend a full allowance at the end of one window and another at the
 * start of the next, so up to twice the limit can pass within one window's length — fine for throttling
 * guessing, which is what these limits are for.
 */
export interface RateLimitResult {
  /** Hits in the current window, this one included. */
  readonly count: number
  /** This hit is within the limit. */
  readonly allowed: boolean
  /** Hits left in the current window (0 once the limit is reached). */
  readonly remaining: number
  /** Whole seconds until the window resets (at least 1). */
  readonly retryAfterSeconds: number
}

/** A key's current window, read without counting. */
export interface RateLimitCount {
  /** Hits in the current window (0 when no window is open). */
  readonly count: number
  /** Whole seconds until the window resets (0 when no window is open). */
  readonly resetInSeconds: number
}

export interface RateLimiter {
  /** Counts one hit on `key`. Rejects when the store cannot be reached. */
  hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitResult>
  /** Reads `key`'s window without counting. Rejects when the store cannot be reached. */
  peek(key: string): Promise<RateLimitCount>
  /** Closes `key`'s window, so the next hit starts a new one at 1. */
  reset(key: string): Promise<void>
  /** Drops expired windows, for stores that keep them (PostgreSQL); the server runs it every 10 minutes. */
  purge?(): Promise<void>
  close(): Promise<void>
}

/** A store's raw answer (the count including this hit, milliseconds until reset) as a result. */
export function resultOf(count: number, ttlMs: number, limit: number): RateLimitResult {
  return {
    count,
    allowed: count <= limit,
    remaining: Math.max(0, limit - count),
    retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
  }
}

/** A store's raw reading (count, milliseconds until reset; 0 and anything when no window is open). */
export function countOf(count: number, ttlMs: number): RateLimitCount {
  return count > 0 && ttlMs > 0
    ? { count, resetInSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) }
    : { count: 0, resetInSeconds: 0 }
}
