import { type AdminAuth, createAdminAuth, createAdminAuthenticator } from '../../core/auth/admin-auth.ts'
import { announceSetupToken } from '../../core/auth/setup-token.ts'
import { adminAdminsRoutes } from '../../http/routes/admin-admins.ts'
import { adminConsoleMounts } from '../../http/routes/admin-users.ts'
import { authRoutes } from '../../http/routes/auth.ts'
import { authOpenApi, type OpenApiPart } from '../../openapi/auth-paths.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { adminsOpenApi } from './openapi.ts'
import { adminUsersOpenApi } from './users-openapi.ts'

declare module '../define-module.ts' {
  interface Services {
    /** Console admins' better-auth: a population apart from app users. */
    adminAuth: AdminAuth
  }
}

/**
 * The console's API: admins' own sign-in (/api/admin/auth: password, TOTP, passkeys), first-admin setup, the
 * admins themselves (/api/admin/admins), app-user management.
 */
export const consoleModule = defineModule({
  id: 'console',
  migrations,
  start({ config, db, log, secret, baseUrl, rateLimiter, httpServer, actions, use }) {
    const auth = use('auth')
    const adminAuth = createAdminAuth({ config, db: auth.authDb, secret, baseUrl, log, actions })
    return {
      provides: { adminAuth },
      routes: [
        {
          path: '/api/admin/auth',
          stage: 'credentials',
          // The same limits as app users' sign-in (rate-limit.ts), counted apart by path.
          app: authRoutes({
            auth: adminAuth,
            trustProxy: config.trustProxy,
            rateLimit: { limiter: rateLimiter, log, perIp: config.auth.rateLimit },
          }),
        },
        ...adminConsoleMounts({
          config,
          db,
          records: use('records'),
          auth: auth.auth,
          adminAuth,
          userEvents: auth.userEvents,
          secret,
          actions,
        }),
        { path: '/api/admin/admins', app: adminAdminsRoutes({ config, db, adminAuth, actions }) },
      ],
      openapi: async () =>
        mergeParts(
          await authOpenApi(adminAuth, {
            prefix: '/api/admin/auth',
            tag: 'Console auth',
            namePrefix: 'Admin',
            description:
              "Console admins' sign-in, sessions, two-factor and passkeys: a population apart from app users.",
          }),
          adminsOpenApi(),
          adminUsersOpenApi(),
        ),
      authenticators: [createAdminAuthenticator({ db, secret })],
      ready: async () => {
        await (await adminAuth.$context).checkSchema?.()
        // A server that takes requests says how to create the first console admin (CLI commands stay quiet).
        if (httpServer)
          await announceSetupToken(db, secret, log, baseUrl).catch((err) =>
            log.warn({ err: (err as Error).message }, 'could not check for a console admin'),
          )
      },
    }
  },
})

/** Two parts of the API document as one (their paths and schema names do not overlap). */
function mergeParts(...parts: OpenApiPart[]): OpenApiPart {
  return {
    paths: Object.assign({}, ...parts.map((p) => p.paths)),
    schemas: Object.assign({}, ...parts.map((p) => p.schemas)),
    tags: parts.flatMap((p) => p.tags),
    adminOnly: parts.flatMap((p) => p.adminOnly ?? []),
  }
}
