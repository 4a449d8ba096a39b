import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { consoleAppRoutes, loadConsoleAssets } from '../../http/routes/console-app.ts'
import { defineModule } from '../define-module.ts'

declare module '../define-module.ts' {
  interface Services {
    /** Whether the built console is served at /_/ (the home page then sends browsers there). */
    consoleApp: { readonly mounted: boolean }
  }
}

/** packages/admin-ui/dist, seen from src/modules/console-app/ and from dist/modules/console-app/ alike. */
const BUILT = fileURLToPath(new URL('../../../../admin-ui/dist/', import.meta.url))

/** The admin console (packages/admin-ui, a React app) at /_/, from its build. */
export const consoleAppModule = defineModule({
  id: 'console-app',
  config: z.object({
    /** Where the built console is (Vite's dist/); `off` serves none. */
    BASTIDE_CONSOLE_DIR: z.string().min(1).default(BUILT),
  }),
  start({ settings, log }) {
    const dir = settings.BASTIDE_CONSOLE_DIR
    const assets = dir === 'off' ? undefined : loadConsoleAssets(dir)
    if (!assets && dir !== 'off')
      log.warn(
        { dir },
        'the console is not built: run `pnpm --filter @bastide/admin-ui build` (or `pnpm start`)',
      )
    return {
      provides: { consoleApp: { mounted: assets !== undefined } },
      routes: assets ? [{ path: '/_', app: consoleAppRoutes(assets) }] : [],
    }
  },
})
