import type { BetterAuthPlugin } from 'better-auth'
import { createAuthMiddleware } from 'better-auth/api'

/**
 * A password sign-in on an account with 2FA answers `twoFactorRedirect` and no session: the two-factor
 * plugin deletes the session the password step created. The bearer plugin's after-hook runs before that
 * and has already copied the doomed session's token into `set-auth-token`; a client would keep it as if
 * signed in. Listed after the two-factor plugin, this drops the header from such answers.
 */
export function twoFactorPending(): BetterAuthPlugin {
  return {
    id: 'bastide-two-factor-pending',
    hooks: {
      after: [
        {
          matcher: (ctx) => ctx.path?.startsWith('/sign-in/') ?? false,
          handler: createAuthMiddleware(async (ctx) => {
            const returned = ctx.context.returned as
              | { twoFactorRedirect?: unknown; body?: { twoFactorRedirect?: unknown } }
              | undefined
            const pending = returned?.twoFactorRedirect === true || returned?.body?.twoFactorRedirect === true
            if (pending && !ctx.context.newSession) ctx.context.responseHeaders?.delete('set-auth-token')
          }),
        },
      ],
    },
  }
}
