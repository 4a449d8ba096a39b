import type { Logger } from 'pino'
import type { Config } from '../../config/load-config.ts'
import type { Db } from '../../db/create-db.ts'
import { createPostgresRateLimiter } from './postgres-store.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { createRedisRateLimiter } from './redis-store.ts'

export type { RateLimitCount, RateLimiter, RateLimitResult } from './rate-limiter.ts'
export { createPostgresRateLimiter, createRedisRateLimiter }

/** Redis when REDIS_URL is set (counters shared by every node), else PostgreSQL. */
export function createRateLimiter(deps: { config: Config; db: Db; log: Logger }): RateLimiter {
  const { config, log } = deps
  if (!config.redisUrl) return createPostgresRateLimiter(deps.db)
  let lastWarned = 0
  return createRedisRateLimiter({
    url: config.redisUrl,
    prefix: `${config.redisPrefix}rl:`,
    onError: (err) => {
      if (Date.now() - lastWarned < 30_000) return
      lastWarned = Date.now()
      log.warn({ err: err.message }, 'redis (rate limits) unreachable')
    },
  })
}
