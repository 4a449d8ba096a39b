import { createHmac } from 'node:crypto'
import { addVirtualAuthenticator } from '@bastide/server/test/support/browser.ts'
import { freshCodes, wrongCode } from '@bastide/server/test/support/totp.ts'
import type { CDPSession } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * The signed-in admin's own account and the admins list, in Chromium against a real server: TOTP set up from the
 * QR/URI and used to sign in (and a backup code), a passkey made by a CDP virtual authenticator and used to sign
 * in, a second admin created and deleted, sign out everywhere.
 */

let h: ConsoleHarness
let cdp: CDPSession
let authenticatorId: string
let admin: { email: string; password: string }
let nextCode: () => Promise<string>
let backupCodes: string[] = []

beforeAll(async () => {
  h = await startConsole()
  cdp = await h.context.newCDPSession(h.page)
  ;({ authenticatorId } = await addVirtualAuthenticator(cdp))
  admin = await setUpFirstAdmin(h)
})
afterAll(async () => {
  await h?.close()
})

/** RFC 6238 codes for the secret of an otpauth:// URI (SHA-1, 6 digits, 30 s): what an authenticator app does. */
function totpFromUri(uri: string) {
  const secret = new URL(uri).searchParams.get('secret') ?? ''
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const ch of secret.replace(/=+$/, '').toUpperCase())
    bits += alphabet.indexOf(ch).toString(2).padStart(5, '0')
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => Number.parseInt(b, 2)))
  return {
    generate({ timestamp }: { timestamp: number }): string {
      const counter = Buffer.alloc(8)
      counter.writeBigUInt64BE(BigInt(Math.floor(timestamp / 30_000)))
      const mac = createHmac('sha1', key).update(counter).digest()
      const offset = mac[mac.length - 1]! & 0xf
      const n = (mac.readUInt32BE(offset) & 0x7fff_ffff) % 1_000_000
      return String(n).padStart(6, '0')
    },
  }
}

const nav = () => h.page.getByRole('navigation', { name: 'Console' })

async function goToAccount() {
  await nav().getByRole('link', { name: 'Your account' }).click()
  await h.page.getByRole('heading', { name: 'Your account' }).waitFor()
}

async function signOut() {
  await nav().getByRole('button', { name: 'Sign out' }).click()
  await h.page.getByRole('heading', { name: 'Sign in to the console' }).waitFor()
}

async function signInWithPassword() {
  const { page } = h
  await page.getByLabel('Email').fill(admin.email)
  await page.getByLabel('Password').fill(admin.password)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
}

describe('TOTP', () => {
  it('sets up TOTP from the QR code’s URI, confirmed with a first code; backup codes are shown once', async () => {
    const { page } = h
    await goToAccount()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('account')
    await page.getByRole('button', { name: 'Set up TOTP' }).click()
    // A wrong password is refused with the server's message.
    await page.getByLabel('Your password').fill('not my password at all')
    await page.getByRole('button', { name: 'Continue' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/password/i)
    await page.getByLabel('Your password').fill(admin.password)
    await page.getByRole('button', { name: 'Continue' }).click()
    const qr = page.getByRole('img', { name: /QR code of the TOTP key/ })
    await qr.waitFor()
    // The QR is drawn as SVG (no canvas, no data: URL): a path of dark modules.
    expect(await qr.locator('path').getAttribute('d')).toMatch(/^M\d+ \d+h\d+/)
    const uri = await page.getByLabel('Key URI').inputValue()
    expect(uri).toMatch(/^otpauth:\/\/totp\/.*secret=/)
    const secretShown = (await page.locator('.account-secret').textContent())?.replace(/\s/g, '')
    expect(secretShown).toBe(new URL(uri).searchParams.get('secret'))
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('account-totp-setup')

    const totp = totpFromUri(uri) as never
    nextCode = freshCodes(totp)
    await page.getByLabel('Code from the app').fill(wrongCode(totp))
    await page.getByRole('button', { name: 'Turn on TOTP' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/invalid|code/i)
    await page.getByLabel('Code from the app').fill(await nextCode())
    await page.getByRole('button', { name: 'Turn on TOTP' }).click()
    const list = page.getByRole('list', { name: 'Backup codes' })
    await list.waitFor()
    backupCodes = (await list.getByRole('listitem').allTextContents()).map((c) => c.trim())
    expect(backupCodes.length).toBeGreaterThanOrEqual(8)
    await h.screenshot('account-backup-codes')
    await page.getByRole('button', { name: 'I have saved them' }).click()
    await expect.poll(() => list.count()).toBe(0)
    // Still signed in (the server replaced the session when TOTP went on), and TOTP shows as on.
    await page.getByRole('button', { name: 'Turn off TOTP' }).waitFor()
    await nav().getByRole('link', { name: 'Admins' }).click()
    const me = page.getByRole('row', { name: new RegExp(admin.email) })
    await expect.poll(() => me.textContent()).toContain('TOTP')
    await expect.poll(() => me.textContent()).not.toContain('no TOTP')
  })

  it('signs out, then signs in with password and a TOTP code, or with a backup code', async () => {
    const { page } = h
    await signOut()
    await signInWithPassword()
    await page.getByLabel('Authentication code').fill(await nextCode())
    await page.getByRole('button', { name: 'Verify' }).click()
    await nav().waitFor()
    await expect.poll(() => nav().textContent()).toContain(admin.email)

    await signOut()
    await signInWithPassword()
    await page.getByRole('button', { name: 'Use a backup code' }).click()
    await page.getByLabel('Backup code').fill(backupCodes[0]!)
    await page.getByRole('button', { name: 'Verify' }).click()
    await nav().waitFor()
  })
})

describe('passkeys', () => {
  it('adds a passkey made by the browser’s authenticator, and lists it', async () => {
    const { page } = h
    await goToAccount()
    await page.getByLabel('New passkey name').fill('Test laptop')
    await page.getByRole('button', { name: 'Add a passkey' }).click()
    const row = page.getByRole('row', { name: /Test laptop/ })
    await row.waitFor()
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    expect(credentials[0]!.rpId).toBe('localhost')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('account-passkeys')
  })

  it('signs out and signs in with the passkey alone (no password, no TOTP code)', async () => {
    const { page } = h
    await signOut()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('sign-in-passkey')
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await nav().waitFor()
    await expect.poll(() => nav().textContent()).toContain(admin.email)
    await nav().getByRole('link', { name: 'Admins' }).click()
    const me = page.getByRole('row', { name: new RegExp(admin.email) })
    await expect.poll(() => me.textContent()).toContain('1 passkey')
  })

  it('removes the passkey after confirmation; it no longer signs in, and the page says why', async () => {
    const { page } = h
    await goToAccount()
    await page.getByRole('button', { name: 'Remove Test laptop' }).click()
    await page.getByRole('button', { name: 'Remove passkey' }).click()
    await expect.poll(() => page.getByRole('row', { name: /Test laptop/ }).count()).toBe(0)
    await signOut()
    // The authenticator still holds the key; the server no longer knows it.
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/passkey/i)
    await signInWithPassword()
    await page.getByLabel('Authentication code').fill(await nextCode())
    await page.getByRole('button', { name: 'Verify' }).click()
    await nav().waitFor()
  })
})

describe('admins', () => {
  it('creates a second admin, who is listed and can sign in', async () => {
    const { page } = h
    await nav().getByRole('link', { name: 'Admins' }).click()
    await page.getByRole('heading', { name: 'Admins' }).waitFor()
    // You cannot delete yourself: your row has no delete button.
    expect(await page.getByRole('button', { name: `Delete ${admin.email}` }).count()).toBe(0)
    await page.getByRole('button', { name: 'New admin' }).click()
    const dialog = page.getByRole('dialog', { name: 'New admin' })
    await dialog.getByLabel('Email').fill('ada@example.com')
    await dialog.getByLabel('Name').fill('Ada')
    // Long enough for the browser, refused by the server (too few distinct characters): its message is shown.
    await dialog.getByLabel('Password').fill('aaaabbbbcccc')
    await dialog.getByRole('button', { name: 'Create admin' }).click()
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/varied/i)
    await dialog.getByRole('button', { name: 'Generate a passphrase' }).click()
    const password = await dialog.getByLabel('Password').inputValue()
    expect(password.split('-')).toHaveLength(6)
    expect(await axeViolations(page)).toEqual([])
    await dialog.getByRole('button', { name: 'Create admin' }).click()
    await page.getByRole('dialog', { name: 'Admin created' }).waitFor()
    await page.getByRole('button', { name: 'Done' }).click()
    const row = page.getByRole('row', { name: /ada@example.com/ })
    await expect.poll(() => row.textContent()).toContain('Ada')
    await expect.poll(() => row.textContent()).toContain('not yet')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('admins')
    // The new admin's password works.
    const r = await h.server.api(
      'POST',
      '/api/admin/auth/sign-in/email',
      { email: 'ada@example.com', password },
      { as: 'anon' },
    )
    expect(r.status).toBe(200)
  })

  it('deletes the second admin after a typed confirmation', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Delete ada@example.com' }).click()
    const confirm = page.getByRole('button', { name: 'Delete admin' })
    expect(await confirm.isDisabled()).toBe(true)
    await page.getByLabel('Type “ada@example.com” to confirm').fill('ada@example.com')
    await confirm.click()
    await expect.poll(() => page.getByRole('row', { name: /ada@example.com/ }).count()).toBe(0)
    const audit = await h.server.api('GET', '/api/admin/audit?action=admin.*')
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['admin.create', 'admin.delete']),
    )
  })
})

describe('themes and sessions', () => {
  it('reads well in the dark theme too', async () => {
    const { page } = h
    await goToAccount()
    await nav().getByRole('button', { name: 'Switch to the dark theme' }).click()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('account-dark')
    // At 1024 px wide nothing is cut off: the page does not scroll sideways.
    await page.setViewportSize({ width: 1024, height: 768 })
    await nav().getByRole('link', { name: 'Admins' }).click()
    await page.getByRole('heading', { name: 'Admins' }).waitFor()
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1024)
    await h.screenshot('admins-dark-1024')
    await goToAccount()
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1024)
    await page.setViewportSize({ width: 1280, height: 800 })
    await nav().getByRole('button', { name: 'Switch to the light theme' }).click()
  })

  it('lists this admin’s sessions and ends another one', async () => {
    const { page } = h
    // A session of a script elsewhere, as a sign-in from it would leave.
    const adminId = (await h.server.api('GET', '/api/admin/admins')).body.items[0].id
    const token = `script-session-${Date.now()}`
    await h.server.bastide.database.pool.query(
      `INSERT INTO bastide.admin_sessions (id, token, "userId", "expiresAt", "ipAddress", "userAgent")
       VALUES ($1, $2, $3, now() + interval '1 hour', '203.0.113.7', 'curl/8.5.0')`,
      [crypto.randomUUID(), token, adminId],
    )
    expect((await h.server.api('GET', '/api/admin/admins', undefined, { as: token })).status).toBe(200)
    await page.reload()
    await page.getByRole('heading', { name: 'Your account' }).waitFor()
    const mine = page.getByRole('row', { name: /this browser/ })
    await mine.waitFor()
    const script = page.getByRole('row', { name: /curl/ })
    await expect.poll(() => script.textContent()).toContain('203.0.113.7')
    expect(await mine.getByRole('button').count()).toBe(0)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('account-sessions')
    await page.getByRole('button', { name: 'End the session of curl' }).click()
    await page.getByRole('button', { name: 'End session' }).click()
    await expect.poll(() => script.count()).toBe(0)
    expect((await h.server.api('GET', '/api/admin/admins', undefined, { as: token })).status).toBe(401)
    await mine.waitFor()
  })

  it('signs out everywhere: this browser goes back to sign-in and its old token no longer works', async () => {
    const { page } = h
    const token = await page.evaluate(() => {
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i)!
        if (k.endsWith('.console')) return (JSON.parse(localStorage.getItem(k)!) as { token: string }).token
      }
      return null
    })
    expect(token).toBeTruthy()
    await page.getByRole('button', { name: 'Sign out everywhere' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Sign out everywhere' }).click()
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor()
    expect((await h.server.api('GET', '/api/admin/admins', undefined, { as: token! })).status).toBe(401)
  })

  it('logged no error and broke no CSP rule on any page', () => {
    expect(h.problems).toEqual([])
  })
})
