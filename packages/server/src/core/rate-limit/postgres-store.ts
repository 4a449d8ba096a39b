import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { countOf, type RateLimiter, resultOf } from './rate-limiter.ts'

/**
 * Counters in the UNLOGGED table bastide.rate_limits (cheap writes, emptied by a crash, which only hands
 * out fresh allowances). One statement per hit: insert, or reset an expired window, or increment; the row
 * lock of ON CONFLICT makes concurrent hits on one key count exactly, on any number of nodes.
 */
export function createPostgresRateLimiter(db: Db): RateLimiter {
  return {
    async hit(key, limit, windowSeconds) {
      const { rows } = await sql<{ count: number; ttl_ms: number }>`
        INSERT INTO bastide.rate_limits AS r (key, count, reset_at)
        VALUES (${key}, 1, now() + make_interval(secs => ${windowSeconds}))
        ON CONFLICT (key) DO UPDATE SET
          count = CASE WHEN r.reset_at <= now() THEN 1 ELSE least(r.count, 2147483646) + 1 END,
          reset_at = CASE WHEN r.reset_at <= now() THEN excluded.reset_at ELSE r.reset_at END
        RETURNING count, (extract(epoch FROM reset_at - now()) * 1000)::float8 AS ttl_ms`.execute(db)
      const row = rows[0]!
      return resultOf(row.count, row.ttl_ms, limit)
    },
    async peek(key) {
      const { rows } = await sql<{ count: number; ttl_ms: number }>`
        SELECT count, (extract(epoch FROM reset_at - now()) * 1000)::float8 AS ttl_ms
        FROM bastide.rate_limits WHERE key = ${key} AND reset_at > now()`.execute(db)
      const row = rows[0]
      return row ? countOf(row.count, row.ttl_ms) : countOf(0, 0)
    },
    async reset(key) {
      await sql`DELETE FROM bastide.rate_limits WHERE key = ${key}`.execute(db)
    },
    // Expired rows are dead weight (one per client, endpoint and window): the server drops them now and then.
    async purge() {
      await sql`DELETE FROM bastide.rate_limits WHERE reset_at < now()`.execute(db)
    },
    async close() {},
  }
}
