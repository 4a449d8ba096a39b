import type { BetterAuthPlugin } from 'better-auth'
import { createAuthMiddleware } from 'better-auth/api'
import { parseCookies, parseSetCookieHeader, setRequestCookie } from 'better-auth/cookies'

/** better-auth's name for the cookie that carries a pending two-factor sign-in (before its prefix). */
const TWO_FACTOR_COOKIE = 'two_factor'
/** The request header a client without cookies sends the pending sign-in's `twoFactorToken` in. */
export const TWO_FACTOR_HEADER = 'x-bastide-two-factor'

/**
 * A password sign-in on an account with 2FA answers `twoFactorRedirect` and no session: the two-factor
 * plugin deletes the session the password step created. Listed after the bearer and two-factor plugins,
 * this plugin:
 *
 * - drops `set-auth-token` from such answers: the bearer plugin's after-hook runs before the two-factor
 *   one and has already copied the doomed session's token into it; a client would keep it as if signed in.
 * - adds `twoFactorToken` to them: the value of the (signed, short-lived, single-use) two-factor cookie.
 *   Clients without a cookie jar (Node, React Native) or that cannot read `Set-Cookie` (browsers) cannot
 *   otherwise finish the sign-in.
 * - turns an `X-Bastide-Two-Factor: <twoFactorToken>` header on `/two-factor/*` into that cookie, only
 *   when the request carries neither that cookie nor a bearer token (both already say who is asking, and
 *   better-auth reads the two-factor cookie only when there is no session). It is a custom header, so a
 *   cross-site page cannot send it without a CORS preflight; the token proves the password step only and
 *   still needs a code.
 */
export function twoFactorPending(): BetterAuthPlugin {
  return {
    id: 'bastide-two-factor-pending',
    hooks: {
      before: [
        {
          matcher: (ctx) =>
            (ctx.path?.startsWith('/two-factor/') ?? false) &&
            (ctx.request?.headers.has(TWO_FACTOR_HEADER) || ctx.headers?.has(TWO_FACTOR_HEADER) || false),
          handler: createAuthMiddleware(async (ctx) => {
            const original = ctx.request?.headers ?? ctx.headers
            const token = original?.get(TWO_FACTOR_HEADER)?.trim()
            if (!original || !token || original.has('authorization')) return
            const name = ctx.context.createAuthCookie(TWO_FACTOR_COOKIE).name
            if (parseCookies(original.get('cookie') ?? '').has(name)) return
            const headers = new Headers(original)
            setRequestCookie(headers, name, token)
            return { context: { headers } }
          }),
        },
      ],
      after: [
        {
          matcher: (ctx) => ctx.path?.startsWith('/sign-in/') ?? false,
          handler: createAuthMiddleware(async (ctx) => {
            const returned = ctx.context.returned as
              | { twoFactorRedirect?: unknown; body?: { twoFactorRedirect?: unknown } }
              | undefined
            const pending = returned?.twoFactorRedirect === true || returned?.body?.twoFactorRedirect === true
            if (!pending || ctx.context.newSession) return
            ctx.context.responseHeaders?.delete('set-auth-token')
            const name = ctx.context.createAuthCookie(TWO_FACTOR_COOKIE).name
            const cookie = parseSetCookieHeader(ctx.context.responseHeaders?.get('set-cookie') ?? '').get(
              name,
            )
            if (!cookie?.value || cookie['max-age'] === 0) return
            const body = (returned?.body ?? returned) as Record<string, unknown>
            return ctx.json({ ...body, twoFactorToken: cookie.value })
          }),
        },
      ],
    },
  }
}
