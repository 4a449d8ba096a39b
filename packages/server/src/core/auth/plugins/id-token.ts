import type { BetterAuthPlugin } from 'better-auth'
import { APIError, createAuthEndpoint } from 'better-auth/api'
import { setSessionCookie } from 'better-auth/cookies'
import { parseUserOutput } from 'better-auth/db'
import { handleOAuthUserInfo } from 'better-auth/oauth2'
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import { z } from 'zod'

/** A generic OpenID Connect provider whose ID tokens apps may hand in directly. */
export interface IdTokenProvider {
  readonly id: string
  /** Without a trailing slash; the discovery document's `issuer` must match it. */
  readonly issuer: string
  /** The token's `aud` must contain it. */
  readonly clientId: string
}

/** Asymmetric algorithms only: never `none`, never HS* (the client secret is no signing key here). */
const ASYMMETRIC = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
])
const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA']
/** Seconds of clock skew tolerated between the provider and this server. */
const CLOCK_TOLERANCE = 5
/** A failed discovery is retried after this long rather than on every request. */
const DISCOVERY_RETRY_MS = 30_000

interface Discovered {
  readonly issuer: string
  readonly jwks: ReturnType<typeof createRemoteJWKSet>
  readonly algorithms: string[]
}

const invalid = (message: string) => new APIError('UNAUTHORIZED', { code: 'INVALID_ID_TOKEN', message })

/**
 * `POST /sign-in/id-token` `{ providerId, idToken, nonce? }`: native sign-in for generic OIDC providers,
 * for an app that already holds an ID token (from the provider's own SDK or AppAuth). The token must be
 * signed by a key from the provider's `jwks_uri` (found once through its discovery document) with an
 * asymmetric algorithm, and carry the provider's `iss`, our client id in `aud` (and in `azp` when there
 * are several audiences), and an `exp` not yet past.
 *
 * Nonce: when the token carries a `nonce` claim the caller must send the nonce it used, and it must equal
 * the claim or its SHA-256 (hex), as iOS/Firebase-style SDKs send the hash to the provider and keep the
 * raw value. A caller nonce with a token that has none is refused. A token without a nonce and no caller
 * nonce is accepted: several providers' native SDKs cannot set one, and the token is still bound to us by
 * `aud` and short-lived by `exp`.
 *
 * The user and account are found or created exactly as better-auth's redirect callback does
 * (handleOAuthUserInfo: same linking rules, same hooks), keyed by (providerId, sub); `email_verified`
 * marks the address verified. The answer is the one every sign-in gives: `{ token, user }`, the session
 * cookie, and `set-auth-token` through the bearer plugin.
 */
export function idTokenSignIn(opts: { providers: readonly IdTokenProvider[] }) {
  const byId = new Map(opts.providers.map((p) => [p.id, p]))
  const cache = new Map<string, { value: Promise<Discovered> }>()

  const discover = (p: IdTokenProvider): Promise<Discovered> => {
    const hit = cache.get(p.id)
    if (hit) return hit.value
    const value = (async () => {
      const res = await fetch(`${p.issuer}/.well-known/openid-configuration`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(5000),
      })
      if (!res.ok) throw new Error(`discovery answered ${res.status}`)
      const doc = (await res.json()) as Record<string, unknown>
      if (typeof doc.issuer !== 'string' || doc.issuer.replace(/\/+$/, '') !== p.issuer)
        throw new Error(`discovery names issuer ${String(doc.issuer)}, not ${p.issuer}`)
      if (typeof doc.jwks_uri !== 'string' || !/^https?:$/.test(new URL(doc.jwks_uri).protocol))
        throw new Error('discovery has no usable jwks_uri')
      const advertised = Array.isArray(doc.id_token_signing_alg_values_supported)
        ? doc.id_token_signing_alg_values_supported.filter(
            (a): a is string => typeof a === 'string' && ASYMMETRIC.has(a),
          )
        : []
      return {
        issuer: doc.issuer,
        jwks: createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: 5000 }),
        algorithms: advertised.length ? advertised : DEFAULT_ALGORITHMS,
      }
    })()
    const entry = { value }
    cache.set(p.id, entry)
    value.catch(() => {
      // Forget the failure after a while so a provider that was down gets another chance.
      setTimeout(() => {
        if (cache.get(p.id) === entry) cache.delete(p.id)
      }, DISCOVERY_RETRY_MS).unref()
    })
    return value
  }

  return {
    id: 'bastide-id-token',
    endpoints: {
      signInIdToken: createAuthEndpoint(
        '/sign-in/id-token',
        {
          method: 'POST',
          body: z.object({
            providerId: z.string().min(1).max(64),
            idToken: z.string().min(1).max(16_384),
            nonce: z.string().min(1).max(512).optional(),
          }),
        },
        async (ctx) => {
          const { providerId, idToken, nonce } = ctx.body
          const provider = byId.get(providerId)
          if (!provider) {
            throw new APIError('NOT_FOUND', {
              code: 'PROVIDER_NOT_FOUND',
              message: `No OpenID Connect provider "${providerId}" is configured.`,
            })
          }
          let d: Discovered
          try {
            d = await discover(provider)
          } catch (err) {
            ctx.context.logger.error(`id-token: discovery failed for ${providerId}`, err)
            throw new APIError('BAD_GATEWAY', {
              code: 'PROVIDER_UNAVAILABLE',
              message: 'The identity provider could not be reached.',
            })
          }
          let claims: JWTPayload
          try {
            claims = (
              await jwtVerify(idToken, d.jwks, {
                issuer: d.issuer,
                audience: provider.clientId,
                algorithms: d.algorithms,
                requiredClaims: ['exp', 'iat', 'sub'],
                clockTolerance: CLOCK_TOLERANCE,
              })
            ).payload
          } catch (err) {
            if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
              throw new APIError('BAD_GATEWAY', {
                code: 'PROVIDER_UNAVAILABLE',
                message: 'The identity provider could not be reached.',
              })
            }
            if (err instanceof joseErrors.JWTExpired) throw invalid('The ID token has expired.')
            if (err instanceof joseErrors.JOSEError || err instanceof TypeError)
              throw invalid('The ID token is not valid for this provider.')
            throw err
          }
          if (
            Array.isArray(claims.aud) &&
            claims.aud.length > 1 &&
            claims.azp !== undefined &&
            claims.azp !== provider.clientId
          ) {
            throw invalid('The ID token was issued to another client.')
          }
          if (!(await nonceMatches(claims.nonce, nonce)))
            throw invalid('The nonce does not match the ID token.')
          const email = typeof claims.email === 'string' ? claims.email : undefined
          if (!email || !claims.sub) {
            throw new APIError('UNAUTHORIZED', {
              code: 'USER_EMAIL_NOT_FOUND',
              message: 'The ID token carries no email address.',
            })
          }
          const result = await handleOAuthUserInfo(ctx, {
            userInfo: {
              id: claims.sub,
              email,
              emailVerified: claims.email_verified === true || claims.email_verified === 'true',
              name: typeof claims.name === 'string' ? claims.name : '',
              image: typeof claims.picture === 'string' ? claims.picture : undefined,
            },
            account: { providerId, accountId: claims.sub, idToken },
            source: { method: 'oauth', oauth: { providerId, profile: claims } },
          })
          if (result.error !== null || !result.data) {
            if (result.error === 'email_not_verified') {
              throw new APIError('FORBIDDEN', {
                code: 'EMAIL_NOT_VERIFIED',
                message: 'The email address is not verified.',
              })
            }
            // e.g. "account not linked": an unverified provider address matching an existing user.
            throw new APIError('UNAUTHORIZED', { code: 'OAUTH_LINK_ERROR', message: result.error })
          }
          await setSessionCookie(ctx, result.data)
          return ctx.json({
            redirect: false,
            token: result.data.session.token,
            user: parseUserOutput(ctx.context.options, result.data.user),
          })
        },
      ),
    },
  } satisfies BetterAuthPlugin
}

/** Claim absent: the caller must not send one either. Present: equal to the nonce or to its SHA-256 hex. */
async function nonceMatches(claim: unknown, nonce: string | undefined): Promise<boolean> {
  if (claim === undefined) return nonce === undefined
  if (typeof claim !== 'string' || nonce === undefined) return false
  if (claim === nonce) return true
  const digest = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(nonce)))
  return claim === digest.toString('hex')
}
