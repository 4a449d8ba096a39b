import { AUTH_ERROR_STATUS, type AuthErrorCode } from '@bastide/protocol'
import { type AuthRuntime, startAuth } from '../../core/auth/start-auth.ts'
import { accountPageRoutes } from '../../http/routes/account-page.ts'
import { authRoutes } from '../../http/routes/auth.ts'
import { authOpenApi } from '../../openapi/auth-paths.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'

declare module '../define-module.ts' {
  interface Services {
    /** App users: better-auth, mail and SMS, the user authenticators. */
    auth: AuthRuntime
  }
}

/** App users' sign-in (better-auth at /api/auth, rate limited per address and account) and the hosted account page. */
export const authModule = defineModule({
  id: 'auth',
  migrations,
  errorCodes: Object.keys(AUTH_ERROR_STATUS) as AuthErrorCode[],
  async start({ config, databaseUrl, db, log, baseUrl, bus, rateLimiter, secret, use }) {
    // Runtime settings, when the settings module runs (before this one): SMTP, methods, providers, limits.
    const settings = optional(() => use('settings'))
    const runtime = await startAuth({
      ...(settings ? { settings } : {}),
      config,
      databaseUrl,
      db,
      log,
      baseUrl,
      secret,
      collections: use('collections'),
      bus,
      rateLimiter,
    })
    return {
      provides: { auth: runtime },
      routes: [
        {
          path: '/api/auth',
          stage: 'credentials',
          app: authRoutes({
            auth: runtime.auth,
            trustProxy: config.trustProxy,
            rateLimit: {
              limiter: rateLimiter,
              log,
              perIp: settings ? () => settings.current().rateLimits.authPerMinute : config.auth.rateLimit,
            },
          }),
        },
        // The hosted account page (outside /api: no principal; it calls /api/auth like any client).
        {
          path: '/account',
          app: accountPageRoutes({
            providers: runtime.providers,
          }),
        },
      ],
      openapi: () =>
        authOpenApi(runtime.auth, {
          prefix: '/api/auth',
          tag: 'Auth',
          namePrefix: 'Auth',
          description:
            "App users' sign-in, sessions, tokens, two-factor and passkeys (better-auth). Errors use the same `{code, message, status, details}` shape.",
        }),
      authenticators: runtime.authenticators,
      // better-auth checks its tables in the background (and logs what it finds): let it finish before the
      // server answers, so that a stop right after start (Ctrl-C, a CLI command) does not cut it off.
      ready: async () => {
        await (await runtime.auth.$context).checkSchema?.()
      },
      close: () => runtime.close(),
    }
  },
})

function optional<T>(get: () => T): T | undefined {
  try {
    return get()
  } catch {
    return undefined
  }
}
