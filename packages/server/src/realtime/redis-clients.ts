import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Server } from 'socket.io'

/** The three connections a realtime node keeps to Redis. */
export interface RealtimeRedis {
  /** Publishes (change feed, adapter) and runs presence commands; fails at once while Redis is away. */
  readonly pub: Redis
  /** Subscribes to the change feed. */
  readonly sub: Redis
  /** Subscribes for the socket.io adapter. */
  readonly adapterSub: Redis
  /** Quits all three (disconnects those that cannot quit). */
  close(): Promise<void>
}

/**
 * Connects to Redis for realtime and waits until every connection is ready.
 *
 * While Redis is away, publishing fails at once instead of queueing in memory (`enableOfflineQueue: false`),
 * and every connection retries with a capped backoff, so cross-node delivery resumes by itself.
 */
export async function connectRealtimeRedis(url: string, log: Logger): Promise<RealtimeRedis> {
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  }
  const pub = new Redis(url, options)
  const sub = new Redis(url, { ...options, enableOfflineQueue: true })
  const adapterSub = new Redis(url, { ...options, enableOfflineQueue: true })
  const all = [pub, sub, adapterSub]
  for (const [name, client] of [
    ['publisher', pub],
    ['subscriber', sub],
    ['adapter', adapterSub],
  ] as const) {
    client.on('error', (err: Error) => log.warn({ err: err.message, client: name }, 'realtime: Redis'))
  }
  try {
    await Promise.all(all.map((c) => waitReady(c)))
  } catch (err) {
    for (const c of all) c.disconnect()
    throw err
  }
  return {
    pub,
    sub,
    adapterSub,
    async close() {
      await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())))
    },
  }
}

/**
 * Installs `@socket.io/redis-adapter` on `io`.
 *
 * The adapter publishes without handling the returned promise: while Redis is away (or when a command is in
 * flight as the connection drops) that rejection would be unhandled, which is fatal to a Node process. The
 * publisher's `publish` therefore swallows (and logs) failed publishes: cross-node emits are lost
 * while Redis is down, local ones still go out.
 */
export function installRedisAdapter(io: Server, redis: RealtimeRedis, key: string, log: Logger): void {
  const publish = redis.pub.publish.bind(redis.pub) as (
    channel: string,
    message: string | Buffer,
  ) => Promise<number>
  // Patched on the instance (not a Proxy): the adapter inspects the client (constructor name, cluster flag).
  ;(redis.pub as unknown as { publish: typeof publish }).publish = (channel, message) =>
    publish(channel, message).catch((err: Error) => {
      log.debug({ err: err.message }, 'realtime: publish to Redis failed')
      return 0
    })
  io.adapter(createAdapter(redis.pub, redis.adapterSub, { key }))
}

function waitReady(c: Redis): Promise<void> {
  if (c.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Redis did not answer within 10 s')), 10_000)
    c.once('ready', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
