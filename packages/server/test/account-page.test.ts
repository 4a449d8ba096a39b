import * as OTPAuth from 'otpauth'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DEV_OIDC_CLIENT_ID,
  DEV_OIDC_CLIENT_SECRET,
  type DevOidcProvider,
  devOidcRedirectUri,
  startDevOidcProvider,
} from '../scripts/dev-oidc-provider.ts'
import { freePort } from '../src/db/embedded-postgres.ts'
import { authCall, pageHeaders, signUp } from './support/auth.ts'
import { addVirtualAuthenticator, launchChromium, localOnlyPage } from './support/browser.ts'
import { startTestServer, type TestServer } from './support/harness.ts'
import { linkIn, type Mailbox, startMailbox } from './support/mailbox.ts'
import { freshCodes, wrongCode } from './support/totp.ts'

/**
 * The hosted account page at /account, driven like a person would in a real Chromium: sign up, follow the
 * mailed link, TOTP, a passkey (CDP virtual authenticator), sessions, an access token for the records
 * API, and sign-in through the local OIDC provider that `pnpm dev:oidc` runs.
 */

let mail: Mailbox
let op: DevOidcProvider
let s: TestServer
let browser: Browser
let context: BrowserContext
let page: Page
let cdp: CDPSession
let authenticatorId: string
/** `http://localhost:<port>`: WebAuthn's rpID is `localhost`, and so is Bastide's own idea of itself. */
let origin: string

const EMAIL = 'nora@example.com'
const PASSWORD = 'quiet harbour lanterns at dusk'

beforeAll(async () => {
  mail = await startMailbox()
  // A port nobody listens on right now: Bastide's callback must be known before the provider starts.
  const port = await freePort()
  origin = `http://localhost:${port}`
  op = await startDevOidcProvider({ port: 0, redirectUris: [devOidcRedirectUri(origin)] })
  s = await startTestServer({
    listen: true,
    env: {
      PORT: String(port),
      BASTIDE_PUBLIC_URL: origin,
      BASTIDE_SMTP_URL: mail.url,
      BASTIDE_AUTH_RATE_LIMIT: '10000',
      BASTIDE_OIDC_LOCAL_ISSUER: op.issuer,
      BASTIDE_OIDC_LOCAL_CLIENT_ID: DEV_OIDC_CLIENT_ID,
      BASTIDE_OIDC_LOCAL_CLIENT_SECRET: DEV_OIDC_CLIENT_SECRET,
    },
  })
  expect(s.bastide.port).toBe(port)
  browser = await launchChromium()
  // oidc-provider's development pages @import a web font; nothing here may leave the machine.
  ;({ context, page } = await localOnlyPage(browser))
  cdp = await context.newCDPSession(page)
  ;({ authenticatorId } = await addVirtualAuthenticator(cdp))
})

afterAll(async () => {
  await browser?.close()
  await s?.close()
  await op?.close()
  await mail?.close()
})

const byTestId = (id: string) => page.getByTestId(id)

async function expectSignedIn(email: string) {
  await expect.poll(() => byTestId('signed-in').isVisible()).toBe(true)
  await expect.poll(() => byTestId('user-email').textContent()).toBe(email)
  expect(await byTestId('error').isVisible()).toBe(false)
}

async function expectSignedOut() {
  await expect.poll(() => byTestId('signed-out').isVisible()).toBe(true)
  expect(await byTestId('signed-in').isVisible()).toBe(false)
}

async function signOut() {
  await byTestId('sign-out').click()
  await expectSignedOut()
}

async function sessionRows(): Promise<{ id: string; current: string }[]> {
  return page
    .locator('[data-testid="session-row"]')
    .evaluateAll((rows: any[]) => rows.map((r) => ({ id: r.dataset.sessionId, current: r.dataset.current })))
}

/**
 * Another device signing in with the password and a backup code, over the API: its session token. (A backup
 * code rather than a TOTP code: the server takes each TOTP time step once, and the page has used them.)
 */
async function signInElsewhere(backupCode: string): Promise<string> {
  const r = await authCall(s, 'POST', '/sign-in/email', { email: EMAIL, password: PASSWORD })
  expect(r.body).toMatchObject({ twoFactorRedirect: true })
  const cookie = r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('bastide.two_factor='))
  expect(cookie).toBeTruthy()
  const v = await authCall(
    s,
    'POST',
    '/two-factor/verify-backup-code',
    { code: backupCode },
    { headers: pageHeaders(s, cookie!) },
  )
  expect(v.status, JSON.stringify(v.body)).toBe(200)
  return v.body.token as string
}

const stillValid = async (token: string) =>
  (await authCall(s, 'GET', '/get-session', undefined, { token })).body?.session != null

describe('the account page at /account', () => {
  let userId: string
  let totp: OTPAuth.TOTP
  /** Codes of `totp`, each for a later time step than the one before (the server takes each step once). */
  let code: () => Promise<string>
  let backupCodes: string[]

  it('is served as a page with its script and stylesheet, and offers the configured providers', async () => {
    const res = await page.goto(`${origin}/account`)
    expect(res?.status()).toBe(200)
    expect(res?.headers()['content-type']).toMatch(/^text\/html/)
    expect(res?.headers()['cache-control']).toBe('no-cache')
    for (const [file, type] of [
      ['account.js', /^text\/javascript/],
      ['account.css', /^text\/css/],
    ] as const) {
      const a = await fetch(`${origin}/account/assets/${file}`)
      expect(a.status).toBe(200)
      expect(a.headers.get('content-type')).toMatch(type)
      expect(a.headers.get('cache-control')).toBe('no-cache')
    }
    expect((await fetch(`${origin}/account/assets/..%2Fpackage.json`)).status).toBe(404)
    await expectSignedOut()
    expect(await byTestId('provider-local').textContent()).toBe('Sign in with local')
  })

  it('signs up, and the mailed link brings the user back signed in and verified', async () => {
    await byTestId('sign-up-name').fill('Nora')
    await byTestId('sign-up-email').fill(EMAIL)
    await byTestId('sign-up-password').fill(PASSWORD)
    await byTestId('sign-up-submit').click()
    await expect.poll(() => byTestId('sign-up-done').isVisible()).toBe(true)
    const link = linkIn(await mail.next(EMAIL, /confirm/i))
    expect(link.origin).toBe(origin)
    expect(link.searchParams.get('callbackURL')).toBe('/account')
    await page.goto(link.toString())
    expect(new URL(page.url()).pathname).toBe('/account')
    await expectSignedIn(EMAIL)
    expect(await byTestId('user-name').textContent()).toBe('Nora')
    expect(await byTestId('user-verified').textContent()).toBe('Yes')
    userId = (await byTestId('user-id').textContent())!
    expect(userId).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('turns on TOTP with a code from the app', async () => {
    expect(await byTestId('totp-state').textContent()).toMatch(/^Off/)
    await byTestId('totp-enable-password').fill(PASSWORD)
    await byTestId('totp-enable-submit').click()
    await expect.poll(() => byTestId('totp-setup').isVisible()).toBe(true)
    const uri = await byTestId('totp-uri').inputValue()
    const parsed = OTPAuth.URI.parse(uri)
    if (!(parsed instanceof OTPAuth.TOTP)) throw new Error(`not a TOTP URI: ${uri}`)
    totp = parsed
    expect(await byTestId('totp-secret').textContent()).toBe(totp.secret.base32)
    backupCodes = await page.locator('[data-testid="backup-codes"] li').allTextContents()
    expect(backupCodes.length).toBeGreaterThanOrEqual(8)
    code = freshCodes(totp)
    await byTestId('totp-confirm-code').fill(await code())
    await byTestId('totp-confirm-submit').click()
    await expect.poll(() => byTestId('totp-state').textContent()).toMatch(/^On/)
    expect(await byTestId('totp-setup').isVisible()).toBe(false)
    expect(await byTestId('totp-disable-form').isVisible()).toBe(true)
    await expectSignedIn(EMAIL)
  })

  it('registers a passkey and lists it', async () => {
    expect(await byTestId('passkey-empty').isVisible()).toBe(true)
    await byTestId('passkey-name').fill('Test laptop')
    await byTestId('passkey-add').click()
    await expect
      .poll(() => page.locator('[data-testid="passkey-row-name"]').allTextContents())
      .toEqual(['Test laptop'])
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    expect(await byTestId('error').isVisible()).toBe(false)
  })

  it('lists the current session, marked as this device', async () => {
    await expect.poll(async () => (await sessionRows()).length).toBe(1)
    const rows = await sessionRows()
    expect(rows[0]!.current).toBe('true')
    expect(await byTestId('session-current').textContent()).toBe('this device')
  })

  it('signs out, then in with the password and a TOTP code', async () => {
    await signOut()
    expect(await context.cookies()).not.toContainEqual(
      expect.objectContaining({ name: 'bastide.session_token' }),
    )
    await byTestId('sign-in-email').fill(EMAIL)
    await byTestId('sign-in-password').fill(PASSWORD)
    await byTestId('sign-in-submit').click()
    await expect.poll(() => byTestId('totp-sign-in-form').isVisible()).toBe(true)
    expect(await byTestId('signed-in').isVisible()).toBe(false)
    // A wrong code is refused and says so.
    await byTestId('totp-sign-in-code').fill(wrongCode(totp))
    await byTestId('totp-sign-in-submit').click()
    await expect.poll(() => byTestId('error').isVisible()).toBe(true)
    // A code of a later time step: the one that turned TOTP on is spent.
    await byTestId('totp-sign-in-code').fill(await code())
    await byTestId('totp-sign-in-submit').click()
    await expectSignedIn(EMAIL)
  })

  it('signs out, then in with the passkey alone', async () => {
    await signOut()
    await byTestId('passkey-sign-in').click()
    await expectSignedIn(EMAIL)
    expect(await byTestId('user-id').textContent()).toBe(userId)
  })

  it('hands out an access JWT that the records API takes as this user', async () => {
    await byTestId('get-token').click()
    await expect.poll(() => byTestId('token-value').inputValue()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    const jwt = await byTestId('token-value').inputValue()
    expect(await byTestId('token-curl').inputValue()).toBe(
      `curl -H 'Authorization: Bearer ${jwt}' '${origin}/api/collections/users/records'`,
    )
    // Over the wire, as the curl line would.
    const res = await fetch(`http://127.0.0.1:${s.bastide.port}/api/collections/users/records`, {
      headers: { authorization: `Bearer ${jwt}` },
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { items: { id: string; email: string }[] }
    expect(body.items.map((r) => [r.id, r.email])).toEqual([[userId, EMAIL]])
  })

  it('revokes another session from the list, then every other one', async () => {
    const phone = await signInElsewhere(backupCodes[0]!)
    const tablet = await signInElsewhere(backupCodes[1]!)
    await page.reload()
    await expectSignedIn(EMAIL)
    // The list loads after the signed-in state shows: wait for it rather than read it once.
    await expect.poll(async () => (await sessionRows()).length).toBe(3)
    let rows = await sessionRows()
    expect(rows.filter((r) => r.current === 'true')).toHaveLength(1)
    const phoneId = (await authCall(s, 'GET', '/get-session', undefined, { token: phone })).body.session.id
    await page.locator(`[data-session-id="${phoneId}"] [data-testid="session-revoke"]`).click()
    await expect.poll(async () => (await sessionRows()).length).toBe(2)
    expect(await stillValid(phone)).toBe(false)
    expect(await stillValid(tablet)).toBe(true)

    await byTestId('revoke-others').click()
    await expect.poll(async () => (await sessionRows()).length).toBe(1)
    rows = await sessionRows()
    expect(rows[0]!.current).toBe('true')
    expect(await stillValid(tablet)).toBe(false)
    await expectSignedIn(EMAIL)
  })

  it('signs in through the local OIDC provider and comes back signed in as that user', async () => {
    await signOut()
    await byTestId('provider-local').click()
    // oidc-provider's development login: any login, any password.
    await page.waitForURL((u) => u.origin === op.issuer)
    await page.locator('input[name="login"]').fill('olga')
    await page.locator('input[name="password"]').fill('anything')
    await page.locator('button[type="submit"]').click()
    // First time for this client: the provider asks for consent.
    await page.waitForURL((u) => u.origin === origin || /\/interaction\//.test(u.pathname))
    if (new URL(page.url()).origin === op.issuer) {
      await page.getByRole('button', { name: 'Continue' }).click()
    }
    await page.waitForURL(`${origin}/account`)
    await expectSignedIn('olga@example.test')
    expect(await byTestId('user-name').textContent()).toBe('Olga')
    expect(await byTestId('user-verified').textContent()).toBe('Yes')
    expect(await byTestId('user-id').textContent()).not.toBe(userId)
  })
})

describe('a page opened at another address than the public URL', () => {
  it('says which address to open and what to set, rather than "Invalid origin"', async () => {
    const other = await browser.newContext()
    try {
      await other.route(/^https?:\/\/(?!(localhost|127\.0\.0\.1)[:/])/, (route) => route.abort())
      const p = await other.newPage()
      p.setDefaultTimeout(15_000)
      const at = `http://127.0.0.1:${s.bastide.port}`
      await p.goto(`${at}/account`)
      await p.getByTestId('sign-in-email').fill(EMAIL)
      await p.getByTestId('sign-in-password').fill(PASSWORD)
      await p.getByTestId('sign-in-submit').click()
      await expect
        .poll(() => p.getByTestId('error').textContent())
        .toBe(
          `This page was opened at ${at}, but the server's public URL (BASTIDE_PUBLIC_URL) is ${origin}: ` +
            `open ${origin} instead, or set BASTIDE_PUBLIC_URL to the address you use, or add ${at} to ` +
            'BASTIDE_TRUSTED_ORIGINS.',
        )
      expect(await p.getByTestId('signed-in').isVisible()).toBe(false)
    } finally {
      await other.close()
    }
  })
})

describe('without BASTIDE_PUBLIC_URL (http://localhost:$PORT)', () => {
  let dev: TestServer
  let devContext: BrowserContext

  beforeAll(async () => {
    dev = await startTestServer({ listen: true, env: { BASTIDE_AUTH_RATE_LIMIT: '10000' } })
    devContext = await browser.newContext()
    await devContext.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
  })
  afterAll(async () => {
    await devContext?.close()
    await dev?.close()
  })

  it('works at http://127.0.0.1:$PORT as well; passkeys there say which address they need', async () => {
    await signUp(dev, 'pia@example.com', { password: PASSWORD })
    const p = await devContext.newPage()
    p.setDefaultTimeout(15_000)
    const at = `http://127.0.0.1:${dev.bastide.port}`
    await p.goto(`${at}/account`)
    await p.getByTestId('sign-in-email').fill('pia@example.com')
    await p.getByTestId('sign-in-password').fill(PASSWORD)
    await p.getByTestId('sign-in-submit').click()
    await expect.poll(() => p.getByTestId('user-email').textContent()).toBe('pia@example.com')
    expect(await p.getByTestId('error').isVisible()).toBe(false)

    await p.getByTestId('passkey-name').fill('Laptop')
    await p.getByTestId('passkey-add').click()
    await expect
      .poll(() => p.getByTestId('error').textContent())
      .toBe(
        `This page was opened at ${at}, but passkeys here belong to localhost, the host of the server's ` +
          'public URL (BASTIDE_PUBLIC_URL): open this page there, or set BASTIDE_PUBLIC_URL to the address ' +
          'you use.',
      )
  })
})
