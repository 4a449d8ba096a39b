import { createSettingsService, type SettingsService } from '../../core/settings/settings-service.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { settingsOpenApi } from './openapi.ts'
import { settingsRoutes } from './routes.ts'
import { createSettingsSync } from './sync.ts'

declare module '../define-module.ts' {
  interface Services {
    /** Runtime settings (SMTP, CORS, auth rate limit, sign-in methods, providers): env over database over defaults. */
    settings: SettingsService
  }
}

/** How often each node re-reads the settings anyway, in case it missed a change (Redis away). */
const REFRESH_MS = 60_000

/**
 * Runtime settings stored in bastide.settings and edited at /api/admin/settings (the console's Settings page):
 * SMTP, CORS origins, the auth rate limit, sign-in methods, OAuth/OIDC providers. The environment keeps
 * bootstrapping and wins wherever it sets a value. Each node caches them; a change is applied on the node
 * that made it after commit and announced to the others through Redis (REDIS_URL), which re-read the table.
 */
export const settingsModule = defineModule({
  id: 'settings',
  migrations,
  async start({ db, config, secret, actions, log }) {
    const settings = await createSettingsService({ db, config, secret, actions, log })
    const sync = config.redisUrl
      ? createSettingsSync({
          url: config.redisUrl,
          channel: `${config.redisPrefix}settings:changed`,
          log,
          onRemoteChange: () =>
            void settings
              .refresh()
              .catch((err) => log.warn({ err: (err as Error).message }, 'settings: could not re-read')),
        })
      : undefined
    const stop = settings.onChange((_s, local) => {
      if (local) sync?.announce()
    })
    return {
      provides: { settings },
      routes: [{ path: '/api/admin/settings', app: settingsRoutes({ settings }) }],
      openapi: settingsOpenApi,
      jobs: [
        { name: 'refresh', everyMs: REFRESH_MS, firstAfterMs: REFRESH_MS, run: () => settings.refresh() },
      ],
      close: async () => {
        stop()
        await sync?.close()
      },
    }
  },
})
