import type { BetterAuthPlugin } from 'better-auth'
import { APIError, createAuthEndpoint, createAuthMiddleware } from 'better-auth/api'
import { generateRandomString } from 'better-auth/crypto'
import { z } from 'zod'

/** Verification-table prefixes: one row per started app flow (keyed by OAuth state), one per issued code. */
const FLOW = 'bastide-oauth-app:'
const CODE = 'bastide-oauth-code:'
/** As long as better-auth keeps the OAuth state itself. */
const FLOW_SECONDS = 10 * 60
/** The app swaps the code right after the redirect: two minutes is plenty and keeps a leaked code short-lived. */
const CODE_SECONDS = 120
/** RFC 7636 S256 challenge: base64url of a SHA-256, 43 characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/

interface Flow {
  readonly challenge: string
  readonly callbackURL: string
  readonly authorizationURL: string
}
interface IssuedCode {
  readonly challenge: string
  readonly token: string
}

const exchangeBody = z.object({
  code: z.string().min(1).max(200),
  codeVerifier: z.string().min(43).max(128),
})

/**
 * OAuth sign-in for apps that cannot share cookies with the browser that meets the provider: a React Native
 * app opening the system browser (deep link `myapp://auth-callback`), or a single-page app on another origin.
 *
 * 1. The app sends `codeChallenge` (S256 of a verifier it keeps) with `POST /sign-in/social`. The answer's
 *    `url` then points at `GET /oauth/continue?state=…` instead of the provider: that hop, in the browser the
 *    app opened, sets better-auth's state cookie there (the app's own request got it, not the browser) and
 *    redirects to the provider. The state cookie check still holds for every browser flow.
 * 2. On the callback, once better-auth has made the session and redirects to the app's callbackURL, the
 *    redirect gains `code=<one-time code>`; the session stays out of the browser (no cookie, no header) and
 *    out of the URL.
 * 3. `POST /oauth/exchange {code, codeVerifier}` answers `{token, user}` once: the code is consumed
 *    atomically before the verifier is checked, so of concurrent exchanges exactly one can win, and a wrong
 *    verifier burns the code (whoever intercepted the redirect cannot retry, nor race the app twice).
 *
 * Without `codeChallenge` nothing changes. better-auth's `expo` plugin solves the same problem by putting the
 * session cookie itself in the deep link; here a stolen link is worth nothing without the app's verifier.
 */
export function oauthExchange(): BetterAuthPlugin {
  return {
    id: 'bastide-oauth-exchange',
    endpoints: {
      oauthContinue: createAuthEndpoint(
        '/oauth/continue',
        { method: 'GET', query: z.object({ state: z.string().min(1).max(200) }) },
        async (ctx) => {
          const row = await ctx.context.internalAdapter.findVerificationValue(`${FLOW}${ctx.query.state}`)
          if (!row || row.expiresAt < new Date()) {
            throw new APIError('BAD_REQUEST', {
              code: 'OAUTH_FLOW_NOT_FOUND',
              message: 'This sign-in link has expired or was never started: start the sign-in again.',
            })
          }
          const flow = JSON.parse(row.value) as Flow
          // The same cookie better-auth set on the app's request (name, signature, lifetime), now in this browser.
          const cookie = ctx.context.createAuthCookie('state', { maxAge: 300 })
          await ctx.setSignedCookie(cookie.name, ctx.query.state, ctx.context.secret, cookie.attributes)
          ctx.setHeader('cache-control', 'no-store')
          throw ctx.redirect(flow.authorizationURL)
        },
      ),
      oauthExchange: createAuthEndpoint(
        '/oauth/exchange',
        { method: 'POST', body: exchangeBody },
        async (ctx) => {
          const refused = () =>
            new APIError('BAD_REQUEST', {
              code: 'INVALID_OAUTH_CODE',
              message: 'The code is invalid, expired, already used, or does not match the code verifier.',
            })
          const row = await ctx.context.internalAdapter.consumeVerificationValue(
            `${CODE}${await sha256Hex(ctx.body.code)}`,
          )
          if (!row) throw refused()
          const issued = JSON.parse(row.value) as IssuedCode
          if (!timingSafeEqual(await s256(ctx.body.codeVerifier), issued.challenge)) throw refused()
          const found = await ctx.context.internalAdapter.findSession(issued.token)
          if (!found || found.session.expiresAt < new Date()) throw refused()
          ctx.setHeader('cache-control', 'no-store')
          return ctx.json({ token: found.session.token, user: found.user })
        },
      ),
    },
    hooks: {
      before: [
        {
          matcher: (ctx) => ctx.path === '/sign-in/social',
          handler: createAuthMiddleware(async (ctx) => {
            const body = (ctx.body ?? {}) as Record<string, unknown>
            if (body.codeChallenge === undefined) return
            if (typeof body.codeChallenge !== 'string' || !CHALLENGE.test(body.codeChallenge)) {
              throw new APIError('BAD_REQUEST', {
                code: 'VALIDATION_FAILED',
                message:
                  'codeChallenge must be the base64url SHA-256 (S256) of the code verifier: 43 characters.',
              })
            }
            if (typeof body.callbackURL !== 'string' || body.callbackURL.startsWith('/') || body.idToken) {
              throw new APIError('BAD_REQUEST', {
                code: 'VALIDATION_FAILED',
                message: 'With codeChallenge, send an absolute callbackURL (your app link) and no idToken.',
              })
            }
            // better-auth checks these too, but not in every mode (its test mode skips it): the code travels there.
            for (const url of [body.callbackURL, body.errorCallbackURL, body.newUserCallbackURL]) {
              if (url === undefined) continue
              if (
                typeof url !== 'string' ||
                !ctx.context.isTrustedOrigin(url, { allowRelativePaths: false })
              ) {
                throw new APIError('FORBIDDEN', {
                  code: 'INVALID_CALLBACK_URL',
                  message: 'The callbackURL is not a trusted origin: list it in BASTIDE_TRUSTED_ORIGINS.',
                })
              }
            }
            // The app reads the URL from the JSON answer; a redirect would be followed by its fetch instead.
            return { context: { body: { ...body, disableRedirect: true } } }
          }),
        },
      ],
      after: [
        {
          matcher: (ctx) => ctx.path === '/sign-in/social',
          handler: createAuthMiddleware(async (ctx) => {
            const body = (ctx.body ?? {}) as { codeChallenge?: string; callbackURL?: string }
            const returned = ctx.context.returned as { url?: unknown; redirect?: unknown } | undefined
            if (!body.codeChallenge || !body.callbackURL || typeof returned?.url !== 'string') return
            const authorizationURL = returned.url
            const state = new URL(authorizationURL).searchParams.get('state')
            if (!state) return
            const flow: Flow = {
              challenge: body.codeChallenge,
              callbackURL: body.callbackURL,
              authorizationURL,
            }
            await ctx.context.internalAdapter.createVerificationValue({
              identifier: `${FLOW}${state}`,
              value: JSON.stringify(flow),
              expiresAt: new Date(Date.now() + FLOW_SECONDS * 1000),
            })
            const url = `${ctx.context.baseURL}/oauth/continue?${new URLSearchParams({ state })}`
            return ctx.json({ url, redirect: false })
          }),
        },
        {
          matcher: (ctx) =>
            (ctx.path?.startsWith('/callback/') || ctx.path?.startsWith('/oauth2/callback/')) ?? false,
          handler: createAuthMiddleware(async (ctx) => {
            const params = { ...(ctx.body ?? {}), ...(ctx.query ?? {}) } as { state?: unknown }
            if (typeof params.state !== 'string' || !params.state) return
            // Consumed whatever the outcome: a flow's callback counts once.
            const row = await ctx.context.internalAdapter.consumeVerificationValue(`${FLOW}${params.state}`)
            if (!row) return
            const flow = JSON.parse(row.value) as Flow
            const headers = ctx.context.responseHeaders
            const location = headers?.get('location')
            const token = ctx.context.newSession?.session.token
            if (!headers || !location || !token || !sameTarget(location, flow.callbackURL)) return
            const code = generateRandomString(32)
            const issued: IssuedCode = { challenge: flow.challenge, token }
            await ctx.context.internalAdapter.createVerificationValue({
              identifier: `${CODE}${await sha256Hex(code)}`,
              value: JSON.stringify(issued),
              expiresAt: new Date(Date.now() + CODE_SECONDS * 1000),
            })
            const target = withParam(location, 'code', code)
            // The session belongs to the app: the system browser keeps no cookie of it, the redirect no header.
            const names = new Set([
              ctx.context.authCookies.sessionToken.name,
              ctx.context.authCookies.sessionData.name,
              ctx.context.authCookies.dontRememberToken.name,
            ])
            const cookies = headers.getSetCookie()
            headers.delete('set-cookie')
            for (const c of cookies)
              if (!names.has(c.slice(0, c.indexOf('=')).trim())) headers.append('set-cookie', c)
            headers.delete('set-auth-token')
            headers.set('location', target)
            const err = ctx.context.returned as { headers?: Headers | Record<string, string> } | undefined
            if (err?.headers instanceof Headers) err.headers.set('location', target)
            else if (err?.headers && typeof err.headers === 'object') err.headers.location = target
          }),
        },
      ],
    },
  } satisfies BetterAuthPlugin
}

/** Same URL up to the query and fragment (better-auth may add its own parameters to the callbackURL). */
function sameTarget(location: string, callbackURL: string): boolean {
  const base = (u: string) => u.split('#')[0]!.split('?')[0]!
  return base(location) === base(callbackURL)
}

/** Adds a query parameter by string: custom schemes (`myapp://x`) are not parsed alike by every URL parser. */
function withParam(url: string, name: string, value: string): string {
  const hash = url.indexOf('#')
  const head = hash === -1 ? url : url.slice(0, hash)
  const tail = hash === -1 ? '' : url.slice(hash)
  const sep = head.includes('?') ? (head.endsWith('?') || head.endsWith('&') ? '' : '&') : '?'
  return `${head}${sep}${encodeURIComponent(name)}=${encodeURIComponent(value)}${tail}`
}

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)))
}

async function sha256Hex(s: string): Promise<string> {
  return Buffer.from(await digest(s)).toString('hex')
}

async function s256(verifier: string): Promise<string> {
  return Buffer.from(await digest(verifier)).toString('base64url')
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
