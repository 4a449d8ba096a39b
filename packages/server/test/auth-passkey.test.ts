import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, signIn, signUp } from './support/auth.ts'
import { addVirtualAuthenticator, launchChromium } from './support/browser.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

/**
 * Passkeys end to end in a real Chromium: a CDP virtual authenticator signs real WebAuthn ceremonies, the
 * page (same origin as the server) carries them to /api/auth/passkey/*, and better-auth verifies them.
 */

let s: TestServer
let browser: Browser
let context: BrowserContext
let page: Page
let cdp: CDPSession
let authenticatorId: string
let origin: string

beforeAll(async () => {
  s = await startTestServer({ listen: true, env: { BASTIDE_AUTH_RATE_LIMIT: '10000' } })
  origin = `http://localhost:${s.bastide.port}`
  browser = await launchChromium()
  context = await browser.newContext()
  page = await context.newPage()
  cdp = await context.newCDPSession(page)
  ;({ authenticatorId } = await addVirtualAuthenticator(cdp))
  // Any page of the server makes the page same-origin with the API (rpID `localhost`).
  const health = await page.goto(`${origin}/api/health`)
  expect(health?.status()).toBe(200)
})

afterAll(async () => {
  await browser?.close()
  await s?.close()
})

interface PageAnswer {
  readonly status: number
  readonly body: any
  readonly setAuthToken: string | null
}

/** In the page: registration options → navigator.credentials.create → verify-registration. */
function registerPasskey(token: string, name: string): Promise<PageAnswer> {
  return page.evaluate(
    async ({ token, name }) => {
      const g = globalThis as any
      const toBuf = (s: string) => {
        const bin = g.atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4))
        return Uint8Array.from(bin, (c: string) => c.charCodeAt(0)).buffer
      }
      const toB64u = (buf: ArrayBuffer) =>
        g
          .btoa(String.fromCharCode(...new Uint8Array(buf)))
          .replace(/\+/g, '-')
          .replace(/\//g, '_')
          .replace(/=+$/, '')
      const auth = { authorization: `Bearer ${token}` }
      const opts = await g.fetch('/api/auth/passkey/generate-register-options', {
        headers: auth,
        credentials: 'include',
      })
      const o = await opts.json()
      if (opts.status !== 200) return { status: opts.status, body: o, setAuthToken: null }
      const cred = await g.navigator.credentials.create({
        publicKey: {
          ...o,
          challenge: toBuf(o.challenge),
          user: { ...o.user, id: toBuf(o.user.id) },
          excludeCredentials: (o.excludeCredentials ?? []).map((c: any) => ({ ...c, id: toBuf(c.id) })),
        },
      })
      const response = {
        id: cred.id,
        rawId: toB64u(cred.rawId),
        type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment,
        clientExtensionResults: cred.getClientExtensionResults(),
        response: {
          clientDataJSON: toB64u(cred.response.clientDataJSON),
          attestationObject: toB64u(cred.response.attestationObject),
          transports: cred.response.getTransports(),
        },
      }
      const v = await g.fetch('/api/auth/passkey/verify-registration', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        credentials: 'include',
        body: JSON.stringify({ response, name }),
      })
      return { status: v.status, body: await v.json(), setAuthToken: v.headers.get('set-auth-token') }
    },
    { token, name },
  )
}

/** In the page, with no session: authentication options → navigator.credentials.get → verify-authentication. */
function passkeySignIn(o: { tamper?: boolean } = {}): Promise<PageAnswer> {
  return page.evaluate(
    async ({ tamper }) => {
      const g = globalThis as any
      const toBuf = (s: string) => {
        const bin = g.atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4))
        return Uint8Array.from(bin, (c: string) => c.charCodeAt(0)).buffer
      }
      const toB64u = (buf: ArrayBuffer) =>
        g
          .btoa(String.fromCharCode(...new Uint8Array(buf)))
          .replace(/\+/g, '-')
          .replace(/\//g, '_')
          .replace(/=+$/, '')
      const opts = await g.fetch('/api/auth/passkey/generate-authenticate-options', {
        credentials: 'include',
      })
      const o = await opts.json()
      if (opts.status !== 200) return { status: opts.status, body: o, setAuthToken: null }
      const cred = await g.navigator.credentials.get({
        publicKey: {
          ...o,
          challenge: toBuf(o.challenge),
          allowCredentials: (o.allowCredentials ?? []).map((c: any) => ({ ...c, id: toBuf(c.id) })),
        },
      })
      const signature = new Uint8Array(cred.response.signature)
      if (tamper) signature[signature.length - 1] = (signature[signature.length - 1]! + 1) % 256
      const response = {
        id: cred.id,
        rawId: toB64u(cred.rawId),
        type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment,
        clientExtensionResults: cred.getClientExtensionResults(),
        response: {
          clientDataJSON: toB64u(cred.response.clientDataJSON),
          authenticatorData: toB64u(cred.response.authenticatorData),
          signature: toB64u(signature.buffer),
          ...(cred.response.userHandle ? { userHandle: toB64u(cred.response.userHandle) } : {}),
        },
      }
      const v = await g.fetch('/api/auth/passkey/verify-authentication', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        credentials: 'include',
        body: JSON.stringify({ response }),
      })
      return { status: v.status, body: await v.json(), setAuthToken: v.headers.get('set-auth-token') }
    },
    { tamper: o.tamper ?? false },
  )
}

const records = (token: string) => s.api('GET', '/api/collections/users/records', undefined, { as: token })

/** The browser keeps no session of its own between steps: each sign-in starts from nothing. */
async function forgetBrowserSession() {
  await context.clearCookies()
  expect(await context.cookies()).toEqual([])
}

describe('passkeys (WebAuthn in Chromium)', () => {
  it('registers a passkey, signs in with it, and stops working once deleted', async () => {
    const u = await signUp(s, 'pia@example.com')

    // Registration needs a session.
    const anonymous = await registerPasskey('not-a-session-token-at-all', 'nope')
    expect(anonymous.status).toBe(401)

    const reg = await registerPasskey(u.token, 'laptop')
    expect(reg.status, JSON.stringify(reg.body)).toBe(200)
    expect(reg.body).toMatchObject({ userId: u.id, name: 'laptop' })
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    expect(credentials[0]!.isResidentCredential).toBe(true)
    const credentialId = Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url')
    expect(reg.body.credentialID).toBe(credentialId)

    const list = await authCall(s, 'GET', '/passkey/list-user-passkeys', undefined, { token: u.token })
    expect(list.status).toBe(200)
    expect(list.body).toHaveLength(1)
    expect(list.body[0]).toMatchObject({ id: reg.body.id, name: 'laptop', credentialID: credentialId })
    const other = await signUp(s, 'quin@example.com')
    const otherList = await authCall(s, 'GET', '/passkey/list-user-passkeys', undefined, {
      token: other.token,
    })
    expect(otherList.body).toEqual([])

    // Sign out: the session token is dead, and the browser holds no session either.
    expect((await authCall(s, 'POST', '/sign-out', undefined, { token: u.token })).status).toBe(200)
    expect((await records(u.token)).status).toBe(401)
    await forgetBrowserSession()

    // A signature that does not verify signs nobody in.
    const forged = await passkeySignIn({ tamper: true })
    expect(forged.status).toBeGreaterThanOrEqual(400)
    expect(forged.status).toBeLessThan(500)
    expect(forged.body.code).toBe('AUTHENTICATION_FAILED')
    expect(forged.setAuthToken).toBe(null)

    // The passkey alone signs in: a session the records API takes as this user.
    await forgetBrowserSession()
    const signedIn = await passkeySignIn()
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200)
    expect(signedIn.body.user.id).toBe(u.id)
    const token = signedIn.body.session.token as string
    expect(token).toMatch(/^[\w-]{20,}$/)
    expect(signedIn.setAuthToken).toBeTruthy()
    const me = await records(token)
    expect(me.status).toBe(200)
    expect(me.body.items.map((r: { id: string }) => r.id)).toEqual([u.id])
    expect((await records(signedIn.setAuthToken!)).status).toBe(200)
    const session = await authCall(s, 'GET', '/get-session', undefined, { token })
    expect(session.body.user).toMatchObject({ id: u.id, email: u.email })

    // Only the owner deletes it.
    const stranger = await authCall(
      s,
      'POST',
      '/passkey/delete-passkey',
      { id: reg.body.id },
      { token: other.token },
    )
    expect(stranger.status).toBe(401)
    expect((await authCall(s, 'GET', '/passkey/list-user-passkeys', undefined, { token })).body).toHaveLength(
      1,
    )
    const del = await authCall(s, 'POST', '/passkey/delete-passkey', { id: reg.body.id }, { token })
    expect(del.status).toBe(200)
    expect((await authCall(s, 'GET', '/passkey/list-user-passkeys', undefined, { token })).body).toEqual([])

    // The authenticator still holds the key, but the server no longer knows it.
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials).toHaveLength(1)
    await forgetBrowserSession()
    const after = await passkeySignIn()
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('PASSKEY_NOT_FOUND')
    expect(after.setAuthToken).toBe(null)

    // The password still works.
    expect((await records(await signIn(s, u.email, u.password))).status).toBe(200)
  })
})
