import { Redis } from 'ioredis'
import { countOf, type RateLimiter, resultOf } from './rate-limiter.ts'

// INCR, then start the window on the first hit (or repair a key that lost its expiry): atomic, as scripts
// run alone. Returns the count including this hit and the milliseconds left in the window.
const HIT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`

// The count and the milliseconds left, in one round trip; a key without an expiry is a window that never
// got one (see HIT): it reads as closed.
const PEEK = `
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), redis.call('PTTL', KEYS[1])}
`

type WithHit = Redis & {
  bastideRateHit(key: string, windowMs: number): Promise<[number, number]>
  bastideRatePeek(key: string): Promise<[number, number]>
}

/**
 * Counters in Redis, for several nodes behind one load balancer. Every key starts with `prefix`, so one
 * Redis can serve other applications (and tests can clean up after themselves) without collisions.
 */
export function createRedisRateLimiter(opts: {
  url: string
  prefix: string
  /** Told when the connection fails (throttled by ioredis' reconnect backoff). */
  onError?: (err: Error) => void
}): RateLimiter {
  const redis = new Redis(opts.url, {
    // A hit must never wait on a reconnect: without a connection, commands fail at once, and a slow
    // server times out, so the middleware can decide (it lets the request through) within half a second.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 2_000,
    keyPrefix: opts.prefix,
  }) as WithHit
  redis.defineCommand('bastideRateHit', { numberOfKeys: 1, lua: HIT })
  redis.defineCommand('bastideRatePeek', { numberOfKeys: 1, lua: PEEK })
  redis.on('error', (err: Error) => opts.onError?.(err))
  return {
    async hit(key, limit, windowSeconds) {
      const [count, ttl] = await redis.bastideRateHit(key, windowSeconds * 1000)
      return resultOf(Number(count), Number(ttl), limit)
    },
    async peek(key) {
      const [count, ttl] = await redis.bastideRatePeek(key)
      return countOf(Number(count), Number(ttl))
    },
    async reset(key) {
      await redis.del(key)
    },
    async close() {
      try {
        await redis.quit()
      } catch {
        redis.disconnect()
      }
    },
  }
}
