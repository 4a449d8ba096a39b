import { REALTIME_ERROR_STATUS, type RealtimeErrorCode } from '@bastide/protocol'
import { realtimeChannelRoutes } from '../../http/routes/realtime-channels.ts'
import { realtimeOpenApi } from '../../openapi/realtime-paths.ts'
import { createChannels } from '../../realtime/channels.ts'
import { type Realtime, startRealtime } from '../../realtime/gateway.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'

declare module '../define-module.ts' {
  interface Services {
    /** socket.io at /realtime; undefined when the app is driven in-process (no port to share). */
    realtime: Realtime | undefined
  }
}

/** Record changes live (permission-aware), channels with broadcast and presence, over socket.io at /realtime. */
export const realtimeModule = defineModule({
  id: 'realtime',
  migrations,
  errorCodes: Object.keys(REALTIME_ERROR_STATUS) as RealtimeErrorCode[],
  async start({ config, db, bus, log, httpServer, authenticate, actions, use }) {
    const collections = use('collections')
    const lookup = (n: string) => collections.find(n)
    // Shares the HTTP port; tests that drive app.request have no socket to share.
    const realtime = httpServer
      ? await startRealtime({
          httpServer,
          config,
          authenticate,
          collections,
          db,
          bus,
          log,
          // Runtime settings (the console's CORS origins) apply to new connections as they do to HTTP.
          corsOrigins: () => use('settings').current().cors.origins,
          channels: (ctx) => createChannels({ ...ctx, db, lookup, log }),
        })
      : undefined
    return {
      provides: { realtime },
      routes: [{ path: '/api/realtime/channels', app: realtimeChannelRoutes({ db, lookup, actions }) }],
      openapi: realtimeOpenApi,
      jobs: realtime?.jobs ?? [],
      ...(realtime ? { disconnect: () => realtime.close() } : {}),
    }
  },
})
