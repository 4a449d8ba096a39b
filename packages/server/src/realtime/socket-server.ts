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
  /** The origins in force, read per request (runtime settings); default: BASTIDE_CORS_ORIGINS. */
  readonly corsOrigins?: () => readonly string[]
}): Promise<{ io: Server; redis: RealtimeRedis | undefined }> {
  const { config } = o
  const origins = o.corsOrigins ?? (() => config.corsOrigins)
  // Read on every handshake request (long-polling), so a change of the settings applies without a restart.
  const cors = {
    origin: (origin: string | undefined, done: (err: Error | null, allow?: boolean | string) => void) => {
      const list = origins()
      done(null, list.includes('*') ? '*' : origin !== undefined && list.includes(origin) ? origin : false)
    },
  }
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
