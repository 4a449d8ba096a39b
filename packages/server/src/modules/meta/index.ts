import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { metaRoutes } from '../../http/routes/meta.ts'
import { defineModule } from '../define-module.ts'
import { healthOpenApi } from './openapi.ts'

/** Longest a readiness probe waits for Redis's PONG. */
const REDIS_PING_TIMEOUT_MS = 1000

/** Health (liveness, readiness), and the API reference: the OpenAPI document (live collections plus every module's part) and its page. */
export const metaModule = defineModule({
  id: 'meta',
  async start({ db, config, log, openApiParts, use }) {
    // Migrations ran before any module started: what is recorded now is what this node relies on.
    const recorded = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.migrations`.execute(db)
    let stopping = false
    // Its own connection: a probe must see Redis as a new request would, not through realtime's subscribers.
    const redis = config.redisUrl
      ? new Redis(config.redisUrl, {
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          retryStrategy: (times: number) => Math.min(200 * times, 2000),
        })
      : undefined
    redis?.on('error', (err: Error) => log.debug({ err: err.message }, 'health: Redis'))
    redis?.connect().catch(() => {})
    const pingRedis = redis
      ? async () => {
          let timer: NodeJS.Timeout | undefined
          try {
            await Promise.race([
              redis.ping(),
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error('Redis did not answer')), REDIS_PING_TIMEOUT_MS)
              }),
            ])
          } finally {
            clearTimeout(timer)
          }
        }
      : undefined
    return {
      routes: [
        {
          path: '/api',
          app: metaRoutes({
            db,
            collections: use('collections'),
            publicUrl: config.publicUrl,
            openApiParts,
            readiness: {
              stopping: () => stopping,
              migrations: recorded.rows[0]?.n ?? 0,
              ...(pingRedis ? { pingRedis } : {}),
            },
          }),
        },
      ],
      openapi: healthOpenApi,
      // The first step of a shutdown, before HTTP drains: readiness turns 503 so load balancers stop sending.
      disconnect: async () => {
        stopping = true
      },
      close: async () => {
        await redis?.quit().catch(() => redis.disconnect())
      },
    }
  },
})
