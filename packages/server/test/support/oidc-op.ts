/// <reference path="./oidc-provider.d.ts" />
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'

/**
 * A real OpenID Connect provider (oidc-provider) on loopback for sign-in tests, and a cookie-carrying
 * "browser" to walk it without JavaScript: the same approach as test/auth-oidc.test.ts, shared with the
 * OAuth-from-apps tests (server and SDK).
 */

export const OP_CLIENT_ID = 'bastide'
export const OP_CLIENT_SECRET = 'bastide-client-secret-0123456789abcdef'

export interface OpAccount {
  readonly email: string
  readonly email_verified: boolean
  readonly name: string
}

export interface Op {
  readonly issuer: string
  /** Who the provider's login-and-consent interaction signs in next (a key of `accounts`). */
  nextAccount: string
  /** Replaces the provider (same issuer, keys and cookie keys) with one that knows `redirectUri`. */
  register(redirectUri: string): void
  close(): Promise<void>
}

/** Starts the provider with one confidential client (`OP_CLIENT_ID`), PKCE required. */
export async function startOp(accounts: Readonly<Record<string, OpAccount>>): Promise<Op> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(privateKey)), kid: 'op-key-1', alg: 'RS256', use: 'sig' }
  const make = (redirectUri: string) =>
    new Provider(issuer, {
      clients: [
        {
          client_id: OP_CLIENT_ID,
          client_secret: OP_CLIENT_SECRET,
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: ['op-cookie-key-0123456789abcdef'] },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      conformIdTokenClaims: false,
      pkce: { required: () => true },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
      findAccount: async (_ctx: unknown, sub: string) =>
        accounts[sub] ? { accountId: sub, claims: async () => ({ sub, ...accounts[sub] }) } : undefined,
      ttl: {
        IdToken: 3600,
        AccessToken: 600,
        AuthorizationCode: 60,
        Grant: 3600,
        Interaction: 600,
        Session: 3600,
      },
    })
  let provider = make('http://localhost/not-yet')
  let handle = provider.callback()
  const op: Op = {
    issuer,
    nextAccount: Object.keys(accounts)[0] ?? '',
    register(redirectUri) {
      provider = make(redirectUri)
      handle = provider.callback()
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  server.on('request', async (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return handle(req, res)
    try {
      // Login and consent in one go, as whoever the test picked.
      const details = await provider.interactionDetails(req, res)
      const accountId = op.nextAccount
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) })
      grant.addOIDCScope(String(details.params.scope))
      const grantId = await grant.save()
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      )
    } catch (err) {
      res.statusCode = 500
      res.end(String(err))
    }
  })
  return op
}

/** A browser without JavaScript: manual redirects, one cookie jar per host (paths ignored). */
export class CookieBrowser {
  readonly #jars = new Map<string, Map<string, string>>()

  /** Cookie names this browser holds for `url`'s host. */
  cookieNames(url: string): string[] {
    return [...(this.#jars.get(new URL(loopback(url)).host)?.keys() ?? [])]
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(loopback(url))
    let jar = this.#jars.get(u.host)
    if (!jar) this.#jars.set(u.host, (jar = new Map()))
    const headers = new Headers(init.headers)
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
    const res = await fetch(u, { ...init, headers, redirect: 'manual' })
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const gone = attrs.some((a) => {
        const [k = '', v = ''] = a.trim().split('=')
        if (/^max-age$/i.test(k)) return Number(v) <= 0
        if (/^expires$/i.test(k)) return Date.parse(v) <= Date.now()
        return false
      })
      if (gone || !value) jar.delete(name)
      else jar.set(name, value)
    }
    return res
  }

  /** Follows redirects from `url` until one points under `prefix`, which is returned unfollowed. */
  async followUntil(url: string, prefix: string): Promise<string> {
    let next = url
    for (let hop = 0; hop < 12; hop++) {
      const res = await this.fetch(next)
      const loc = res.headers.get('location')
      if (res.status < 300 || res.status >= 400 || !loc)
        throw new Error(`stopped at ${next}: ${res.status} ${await res.text()}`)
      // Custom schemes (myapp://…) are kept as they are: URL resolution would not touch them anyway.
      next = /^[a-z][a-z0-9+.-]*:/i.test(loc) ? loc : new URL(loc, next).toString()
      if (next.startsWith(prefix)) return next
    }
    throw new Error(`too many redirects from ${url}`)
  }
}

/** Bastide listens on 127.0.0.1 but may name itself localhost. */
function loopback(url: string): string {
  return url.replace('//localhost:', '//127.0.0.1:')
}
