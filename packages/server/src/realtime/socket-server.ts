import type { Server as HttpServer } from 'node:http'
import type { Logger } from 'pino'
import { Server } from 'socket.io'
import type { Config } from '../config/load-config.ts'
import { connectRealtimeRedis, installRedisAdapter, type RealtimeRedis } from './redis-clients.ts'

/**
 * The socket.io server at `path` on the HTTP server; with REDIS_URL, its Redis clients and the adapter that
 * fans broadcasts out to every node.
 */
export async function createSocketServer(o: {
  readonly httpServer: HttpServer
  readonly path: string
  readonly config: Config
  readonly maxMessageBytes: number
  readonly log: Logger
}): Promise<{ io: Server; redis: RealtimeRedis | undefined }> {
  const { config } = o
  const cors = config.corsOrigins.includes('*') ? { origin: '*' } : { origin: [...config.corsOrigins] }
  const io = new Server(o.httpServer, {
    path: o.path,
    cors,
    maxHttpBufferSize: o.maxMessageBytes,
    serveClient: false,
    // Mobile networks: notice a dead peer within about a minute.
    pingInterval: 25_000,
    pingTimeout: 20_000,
  })
  let redis: RealtimeRedis | undefined
  if (config.redisUrl) {
    redis = await connectRealtimeRedis(config.redisUrl, o.log)
    installRedisAdapter(io, redis, `${config.redisPrefix}rt:io`, o.log)
  }
  return { io, redis }
}
