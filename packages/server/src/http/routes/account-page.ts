import { readFileSync } from 'node:fs'
import { Hono } from 'hono'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'

/** A sign-in method the page offers a button for: `social` is better-auth's built-in provider list. */
export interface AccountPageProvider {
  readonly id: string
  readonly kind: 'social' | 'oidc'
}

const dir = new URL('../account-page/', import.meta.url)

/** The only files served under /account/assets: anything else is a 404, so no path can escape. */
const ASSETS: Readonly<Record<string, { readonly type: string; readonly body: string }>> = {
  'account.js': {
    type: 'text/javascript; charset=utf-8',
    body: readFileSync(new URL('account.js', dir), 'utf8'),
  },
  'account.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('account.css', dir), 'utf8') },
}
const PAGE = readFileSync(new URL('index.html', dir), 'utf8')

function escapeAttribute(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}

// Always revalidated (the ETag middleware answers 304): a new server version must not meet an old script.
const NO_CACHE = { 'Cache-Control': 'no-cache' }

/**
 * The hosted account page for app users at /account: sign up, sign in (password, TOTP, passkey, OAuth and
 * OIDC providers), sessions, passkeys, two-factor and access tokens, all through the public /api/auth API.
 * Plain files under http/account-page, no build step; its one script is a file, as the CSP requires.
 */
export function accountPageRoutes(deps: { providers: readonly AccountPageProvider[] }) {
  const html = PAGE.replace('{{PROVIDERS}}', escapeAttribute(JSON.stringify(deps.providers)))
  const r = new Hono<AppEnv>()
  r.get('/', (c) => c.html(html, 200, NO_CACHE))
  r.get('/assets/:file', (c) => {
    const file = c.req.param('file')
    const asset = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined
    if (!asset) throw errors.notFound('Asset')
    return c.body(asset.body, 200, { 'Content-Type': asset.type, ...NO_CACHE })
  })
  return r
}
