import { existsSync } from 'node:fs'
import path from 'node:path'
import { addVirtualAuthenticator, CHROMIUM, launchChromium } from '@bastide/server/test/support/browser.ts'
import { startTestServer, type TestServer } from '@bastide/server/test/support/harness.ts'
import { build } from 'esbuild'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * Passkeys through the SDK's browser build, in a real Chromium: src bundled by esbuild for the browser,
 * loaded into a page on the server's origin (the relying party is `localhost`, where WebAuthn allows plain
 * http), a CDP virtual authenticator signing the ceremonies.
 */

const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) console.log(`passkey-browser: skipped, no Chromium at ${CHROMIUM} (set CHROMIUM_PATH).`)

let s: TestServer
let browser: Browser
let context: BrowserContext
let page: Page
let cdp: CDPSession
let authenticatorId: string

beforeAll(async () => {
  if (!hasChromium) return
  const root = path.resolve(import.meta.dirname, '..')
  const bundle = await build({
    stdin: {
      // src/index.ts is the browser build; the passkey pieces come along until index.ts exports them.
      contents: `
        import * as sdk from './src/index.ts'
        import { PasskeyService } from './src/services/passkeys.ts'
        import * as webauthn from './src/webauthn.ts'
        window.bastide = { ...sdk, ...webauthn, PasskeyService }
      `,
      resolveDir: root,
      loader: 'ts',
      sourcefile: 'passkey-test-entry.ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  })
  const code = bundle.outputFiles[0]!.text
  // Unset BASTIDE_PUBLIC_URL: the server names itself http://localhost:<port>, a secure context for WebAuthn.
  s = await startTestServer({ listen: true })
  const origin = `http://localhost:${s.bastide.port}`
  browser = await launchChromium()
  // The server's CSP (script-src 'self') would block the inline bundle; the test page is not the product.
  context = await browser.newContext({ bypassCSP: true })
  page = await context.newPage()
  cdp = await context.newCDPSession(page)
  ;({ authenticatorId } = await addVirtualAuthenticator(cdp))
  expect((await page.goto(`${origin}/api/health`))?.status()).toBe(200)
  await page.addScriptTag({ content: code, type: 'module' })
  await page.waitForFunction(() => 'bastide' in globalThis)
  // The SDK's Http and a session sink standing in for the auth service: the token it is handed is the
  // credential of every later call.
  await page.evaluate(() => {
    const g = globalThis as any
    const http = new g.bastide.Http({ url: location.origin, retry: { attempts: 1 } })
    g.token = null
    http.tokens = { getToken: async () => g.token }
    g.sink = {
      async setSessionFromToken(token: string) {
        g.token = token
        const s = await http.request('/api/auth/get-session', { auth: 'session' })
        return { token, accessToken: '', accessTokenExpiresAt: '', expiresAt: '', user: s.user }
      },
    }
    g.http = http
    g.passkeys = new g.bastide.PasskeyService(http, g.sink)
  })
})

afterAll(async () => {
  await browser?.close()
  await s?.close()
})

/** Runs `fn` in the page; errors come back as `{ error: {code, message} }` instead of throwing. */
function inPage<T>(fn: string): Promise<T | { error: { code: string; message: string } }> {
  return page.evaluate(async (src) => {
    try {
      // Indirect eval: the test drives the page with small snippets (CSP is bypassed for this context).
      return await (globalThis as any).eval(`(async () => { const g = globalThis; ${src} })()`)
    } catch (e: any) {
      return { error: { code: e?.code ?? e?.name, message: String(e?.message ?? e) } }
    }
  }, fn)
}

/** Signed out, and the browser holds no session cookie either: a sign-in must start from nothing. */
async function signOut() {
  await inPage(
    `await g.http.request('/api/auth/sign-out', { method: 'POST', auth: 'session' }); g.token = null`,
  )
  await context.clearCookies()
}

describe.skipIf(!hasChromium)('passkeys through the SDK in Chromium', () => {
  const email = `pia-${Date.now().toString(36)}@example.test`
  const password = 'a long and unusual passphrase'
  let userId: string

  it('signs up and in with a password (the SDK over the wire)', async () => {
    const r = await inPage<{ id: string }>(`
      await g.http.request('/api/auth/sign-up/email', {
        method: 'POST', body: { email: ${JSON.stringify(email)}, password: ${JSON.stringify(password)}, name: 'Pia' },
      })
      const r = await g.http.request('/api/auth/sign-in/email', {
        method: 'POST', body: { email: ${JSON.stringify(email)}, password: ${JSON.stringify(password)} },
      })
      return (await g.sink.setSessionFromToken(r.token)).user
    `)
    expect(r).toMatchObject({ email })
    userId = (r as { id: string }).id
  })

  it('registers a passkey, signs in with it alone, lists and deletes it (Level 3 JSON helpers)', async () => {
    const reg = await inPage<any>(`return g.passkeys.register({ name: 'laptop' })`)
    expect(reg, JSON.stringify(reg)).toMatchObject({ name: 'laptop', userId, backedUp: expect.any(Boolean) })
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    expect(reg.credentialID).toBe(Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url'))
    expect(await inPage(`return g.passkeys.list()`)).toEqual([reg])

    await signOut()
    const session = await inPage<any>(`return g.passkeys.signIn()`)
    expect(session, JSON.stringify(session)).toMatchObject({ user: { id: userId, email } })
    expect(session.token).toMatch(/^[\w-]{20,}$/)
    // The passkey's session works on the records API.
    const me = await inPage<any>(`return g.http.request('/api/collections/users/records')`)
    expect(me.items.map((u: { id: string }) => u.id)).toEqual([userId])

    expect(
      await inPage(`await g.passkeys.delete(${JSON.stringify(reg.id)}); return g.passkeys.list()`),
    ).toEqual([])
    // The authenticator still has the key; the server no longer knows it.
    await signOut()
    expect(await inPage(`return g.passkeys.signIn()`)).toMatchObject({ error: { code: 'PASSKEY_NOT_FOUND' } })
  })

  it('works the same with manual base64url conversion (browsers without the Level 3 JSON helpers)', async () => {
    await cdp.send('WebAuthn.clearCredentials', { authenticatorId })
    await inPage(`
      delete PublicKeyCredential.parseCreationOptionsFromJSON
      delete PublicKeyCredential.parseRequestOptionsFromJSON
      Object.defineProperty(PublicKeyCredential.prototype, 'toJSON', { value: undefined, configurable: true })
      const r = await g.http.request('/api/auth/sign-in/email', {
        method: 'POST', body: { email: ${JSON.stringify(email)}, password: ${JSON.stringify(password)} },
      })
      await g.sink.setSessionFromToken(r.token)
    `)
    expect(await inPage(`return typeof PublicKeyCredential.parseRequestOptionsFromJSON`)).toBe('undefined')
    const reg = await inPage<any>(`return g.passkeys.register({ name: 'manual' })`)
    expect(reg, JSON.stringify(reg)).toMatchObject({ name: 'manual', userId })
    expect(reg.transports.length).toBeGreaterThan(0)

    await signOut()
    const session = await inPage<any>(`return g.passkeys.signIn()`)
    expect(session, JSON.stringify(session)).toMatchObject({ user: { id: userId } })
    await inPage(`await g.passkeys.delete(${JSON.stringify(reg.id)})`)
    expect(await inPage(`return g.passkeys.list()`)).toEqual([])
  })
})
