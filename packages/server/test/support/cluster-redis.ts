import { Redis } from 'ioredis'

/** The Redis tests share: REDIS_URL, or the usual local one. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Whether Redis answers at `url`: undefined when it does, otherwise why not. */
export async function probeRedis(url = REDIS_URL): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, retryStrategy: () => null })
  let cause: Error | undefined
  r.on('error', (err: Error) => {
    cause ??= err
  })
  try {
    await r.connect()
    await r.ping()
    return undefined
  } catch (err) {
    return (cause ?? (err as Error)).message || String(err)
  } finally {
    r.disconnect()
  }
}
