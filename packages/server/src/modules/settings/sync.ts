import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'

/**
 * Tells the other nodes that the settings changed, through Redis pub/sub (REDIS_URL): each re-reads the
 * table. Publishing fails at once while Redis is away (the periodic refresh catches up), and a subscriber that
 * reconnects re-reads too, since it may have missed messages meanwhile.
 */
export function createSettingsSync(o: {
  readonly url: string
  readonly channel: string
  readonly log: Logger
  readonly onRemoteChange: () => void
}): { announce(): void; close(): Promise<void> } {
  const nodeId = randomUUID()
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  }
  const pub = new Redis(o.url, options)
  // The subscription waits for Redis however long it is away (a node starts even while Redis is down).
  const sub = new Redis(o.url, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null })
  for (const [name, c] of [
    ['publisher', pub],
    ['subscriber', sub],
  ] as const)
    c.on('error', (err: Error) => o.log.warn({ err: err.message, client: name }, 'settings: Redis'))
  let readyBefore = false
  sub.on('ready', () => {
    // After a reconnection: changes may have been announced while this node was not listening.
    if (readyBefore) o.onRemoteChange()
    readyBefore = true
  })
  sub.on('message', (channel: string, message: string) => {
    if (channel === o.channel && message !== nodeId) o.onRemoteChange()
  })
  // Not awaited: while Redis is away the node starts anyway, and ioredis subscribes once it connects.
  sub
    .subscribe(o.channel)
    .catch((err: Error) => o.log.warn({ err: err.message }, 'settings: could not subscribe'))
  return {
    announce() {
      pub
        .publish(o.channel, nodeId)
        .catch((err: Error) =>
          o.log.warn(
            { err: err.message },
            'settings: could not tell the other nodes (they catch up within a minute)',
          ),
        )
    },
    async close() {
      await Promise.all(
        [pub, sub].map((c) =>
          c.status === 'ready'
            ? c.quit().then(
                () => undefined,
                () => c.disconnect(),
              )
            : c.disconnect(),
        ),
      )
    },
  }
}
