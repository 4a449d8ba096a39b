import { Hono } from 'hono'
import { principalId } from '../../core/auth/principal.ts'
import type { SettingsService } from '../../core/settings/settings-service.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { jsonBody } from '../../http/middleware/json-body.ts'

/**
 * The runtime settings, for console admins and BASTIDE_ADMIN_KEY (principal kind `admin`) only: API keys,
 * whatever their scopes, cannot read or change them.
 * - `GET /` every setting, its value in force, its source (`env`, `database`, `default`), `locked` when the
 *   environment sets it; secrets as `{ set }`.
 * - `PATCH /` a partial update (see settingsPatch), in one transaction, audited as `settings.update`.
 * - `POST /smtp/test {to}` a real mail through the SMTP settings in force.
 */
export function settingsRoutes(deps: { readonly settings: SettingsService }) {
  const r = new Hono<AppEnv>()
  r.use('*', async (c, next) => {
    const p = c.var.principal
    if (p.kind === 'anonymous') throw errors.unauthorized()
    if (p.kind !== 'admin') throw errors.forbidden('Only console admins can do this.')
    await next()
  })
  r.get('/', (c) => c.json(deps.settings.view()))
  r.patch('/', async (c) => {
    return c.json(await deps.settings.update(await jsonBody(c), principalId(c.var.principal)))
  })
  r.post('/smtp/test', async (c) => {
    return c.json(await deps.settings.testSmtp(await jsonBody(c), principalId(c.var.principal)))
  })
  return r
}
