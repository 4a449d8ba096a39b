import { type Mailbox, startMailbox } from '@bastide/server/test/support/mailbox.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

const OAUTH_SECRET = 'gh-console-secret-never-shown'

let h: ConsoleHarness
let mail: Mailbox

beforeAll(async () => {
  mail = await startMailbox()
  h = await startConsole()
  await setUpFirstAdmin(h)
})
afterAll(async () => {
  await h?.close()
  await mail?.close()
})

/** A CORS preflight from `origin`, sent over the wire to the server the console runs on. */
async function preflight(origin: string): Promise<string | null> {
  const res = await fetch(`${h.origin}/api/health`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'GET' },
  })
  return res.headers.get('access-control-allow-origin')
}

const section = (name: string) => h.page.getByRole('region', { name })

async function openSettings(c: ConsoleHarness = h) {
  await c.page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Settings' }).click()
  await c.page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor()
  await c.page.getByRole('heading', { name: 'Allowed origins (CORS)' }).waitFor()
}

describe('settings page', () => {
  it('shows every group, where each value comes from, and passes axe', async () => {
    await openSettings()
    for (const name of [
      'Email (SMTP)',
      'Allowed origins (CORS)',
      'Rate limits',
      'Sign-in methods',
      'OAuth and OpenID Connect providers',
    ])
      await section(name).waitFor()
    // The test harness sets BASTIDE_AUTH_RATE_LIMIT: that one is the environment's, read-only, named.
    const limits = section('Rate limits')
    expect(await limits.textContent()).toContain('set by BASTIDE_AUTH_RATE_LIMIT (read-only here)')
    expect(await limits.getByLabel(/Auth requests per minute/).getAttribute('readonly')).not.toBeNull()
    expect(await limits.getByRole('button', { name: 'Save limit' }).count()).toBe(0)
    expect(await section('Allowed origins (CORS)').getByLabel('Origins, one per line').inputValue()).toBe('*')
    expect(await axeViolations(h.page)).toEqual([])
  })
})

describe('CORS', () => {
  it('the next preflight follows the origins saved here', async () => {
    expect(await preflight('https://app.example.com')).toBe('*')
    const cors = section('Allowed origins (CORS)')
    const box = cors.getByLabel('Origins, one per line')
    // Commas, spaces and a repeat: the box then shows what the server stored, one per line.
    await box.fill('https://app.example.com, https://admin.example.com https://app.example.com')
    await cors.getByRole('button', { name: 'Save origins' }).click()
    await expect.poll(() => box.inputValue()).toBe('https://app.example.com\nhttps://admin.example.com')
    expect(await cors.textContent()).toContain('set here')
    expect(await preflight('https://app.example.com')).toBe('https://app.example.com')
    expect(await preflight('https://admin.example.com')).toBe('https://admin.example.com')
    expect(await preflight('https://elsewhere.example.com')).toBe(null)
    // The server holds it too (not only the page): a reload shows what is stored.
    await h.page.reload()
    await expect
      .poll(() => section('Allowed origins (CORS)').getByLabel('Origins, one per line').inputValue())
      .toBe('https://app.example.com\nhttps://admin.example.com')
  })

  it('shows the server’s validation message, and changes nothing', async () => {
    const cors = section('Allowed origins (CORS)')
    await cors.getByLabel('Origins, one per line').fill('https://app.example.com/with/a/path')
    await cors.getByRole('button', { name: 'Save origins' }).click()
    const alert = cors.getByRole('alert')
    await expect.poll(() => alert.textContent()).toContain('VALIDATION_FAILED')
    const text = await alert.textContent()
    expect(text).toContain('cors.origins.0')
    expect(text).toContain('scheme, host and port only, no trailing slash')
    expect(await preflight('https://app.example.com')).toBe('https://app.example.com')
    expect(await axeViolations(h.page)).toEqual([])
  })

  it('goes back to the default, and preflights with it', async () => {
    const cors = section('Allowed origins (CORS)')
    await cors.getByRole('button', { name: 'Back to the default' }).click()
    await expect.poll(() => cors.getByLabel('Origins, one per line').inputValue()).toBe('*')
    await expect.poll(() => cors.getByRole('alert').count()).toBe(0)
    expect(await cors.textContent()).toContain('default')
    expect(await preflight('https://elsewhere.example.com')).toBe('*')
  })
})

describe('SMTP', () => {
  it('a test mail without an SMTP server fails with the server’s message', async () => {
    const smtp = section('Email (SMTP)')
    await smtp.getByLabel('Send a test mail to').fill('ops@example.com')
    await smtp.getByRole('button', { name: 'Send test mail' }).click()
    await expect.poll(() => smtp.getByRole('alert').textContent()).toContain('No SMTP server is configured')
  })

  it('saves a real SMTP server, shows it only as set, and the test mail arrives', async () => {
    const smtp = section('Email (SMTP)')
    const saveSmtp = smtp.getByRole('button', { name: 'Save email settings' })
    expect(await saveSmtp.isDisabled()).toBe(true) // nothing to save yet
    // From the keyboard: the field for the URL takes the focus of the button it replaces.
    await smtp.getByRole('button', { name: 'Set', exact: true }).focus()
    await h.page.keyboard.press('Enter')
    await h.page.keyboard.type(mail.url)
    expect(await smtp.getByLabel('SMTP server URL').inputValue()).toBe(mail.url)
    await smtp.getByLabel('Sender (From)').fill('Console Test <console@example.com>')
    await saveSmtp.click()
    await expect.poll(() => smtp.getByLabel('SMTP server URL').inputValue()).toBe('•••••••• (set)')
    expect(await h.page.content()).not.toContain(mail.url)
    const stored = await h.server.api('GET', '/api/admin/settings')
    expect(stored.body.smtp.url).toMatchObject({ value: { set: true }, source: 'database' })
    expect(stored.body.smtp.from.value).toBe('Console Test <console@example.com>')

    await smtp.getByLabel('Send a test mail to').fill('Ops@Example.com')
    await smtp.getByRole('button', { name: 'Send test mail' }).click()
    await expect
      .poll(() => smtp.getByRole('status').textContent())
      .toContain('The SMTP server accepted the test mail for Ops@Example.com')
    // The earlier failure is gone with the success.
    expect(await smtp.getByRole('alert').count()).toBe(0)
    const m = await mail.next('ops@example.com', /test mail/i)
    expect(m.subject).toBe('Bastide test mail')
    expect(m.from).toBe('console@example.com')
    expect(await axeViolations(h.page)).toEqual([])
    await h.screenshot('settings')
  })
})

describe('sign-in methods', () => {
  const anonymous = () => h.server.api('POST', '/api/auth/sign-in/anonymous', undefined, { as: 'anon' })

  it('switching anonymous sign-in off makes the endpoint answer 403 METHOD_DISABLED at once', async () => {
    expect((await anonymous()).status).toBe(200)
    const methods = section('Sign-in methods')
    const save = methods.getByRole('button', { name: 'Save methods' })
    expect(await save.isDisabled()).toBe(true)
    await methods.getByRole('checkbox', { name: /Anonymous sign-in/ }).uncheck()
    await save.click()
    // Saved: the method is now the database's, and nothing is left to save.
    await expect.poll(() => methods.getByText(/Anonymous sign-in/).textContent()).toContain('set here')
    expect(await save.isDisabled()).toBe(true)
    const r = await anonymous()
    expect(r.status).toBe(403)
    expect(r.body).toMatchObject({ code: 'METHOD_DISABLED' })
    // The page, reloaded, shows it off and stored here.
    await h.page.reload()
    const box = section('Sign-in methods').getByRole('checkbox', { name: /Anonymous sign-in/ })
    await expect.poll(() => box.isChecked()).toBe(false)
    expect(await box.evaluate((el) => el.closest('label')?.textContent)).toContain('set here')
  })

  it('switching it back on lets anonymous sign-in work again', async () => {
    const methods = section('Sign-in methods')
    await methods.getByRole('checkbox', { name: /Anonymous sign-in/ }).check()
    await methods.getByRole('button', { name: 'Save methods' }).click()
    await expect.poll(async () => (await anonymous()).status).toBe(200)
  })
})

describe('OAuth providers', () => {
  it('adds a provider whose secret is shown only as set', async () => {
    const oauth = section('OAuth and OpenID Connect providers')
    await oauth.getByRole('button', { name: 'Add provider' }).click()
    const dialog = h.page.getByRole('dialog', { name: 'Add a provider' })
    await dialog.getByLabel('Type').selectOption('social')
    await dialog.getByLabel('Provider').selectOption('github')
    await dialog.getByLabel('Client id').fill('gh-console-client')
    await dialog.getByLabel('Client secret').fill(OAUTH_SECRET)
    expect(await axeViolations(h.page)).toEqual([])
    await dialog.getByRole('button', { name: 'Save provider' }).click()
    await expect.poll(() => dialog.count()).toBe(0)
    const row = oauth.getByRole('row', { name: /github/ })
    await expect.poll(() => row.textContent()).toContain('gh-console-client')
    const secretCell = row.getByRole('cell').nth(3)
    expect((await secretCell.textContent())?.trim()).toBe('set')
    expect(await row.textContent()).toContain('set here')
    expect(await h.page.content()).not.toContain(OAUTH_SECRET)
    // Stored: better-auth signs in with it at once (the sign-in URL carries its client id).
    const r = await h.server.api(
      'POST',
      '/api/auth/sign-in/social',
      { provider: 'github', callbackURL: '/', disableRedirect: true },
      { as: 'anon' },
    )
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(new URL(r.body.url).searchParams.get('client_id')).toBe('gh-console-client')
    await h.page.reload()
    const again = section('OAuth and OpenID Connect providers').getByRole('row', { name: /github/ })
    await expect.poll(() => again.getByRole('cell').nth(3).textContent()).toBe('set')
    expect(await h.page.content()).not.toContain(OAUTH_SECRET)
    await h.screenshot('settings-oauth')
  })

  it('will not add a second provider with the same id over the first', async () => {
    const oauth = section('OAuth and OpenID Connect providers')
    await oauth.getByRole('button', { name: 'Add provider' }).click()
    const dialog = h.page.getByRole('dialog', { name: 'Add a provider' })
    await dialog.getByLabel('Provider').selectOption('github')
    await dialog.getByLabel('Client id').fill('would-overwrite')
    await expect.poll(() => dialog.getByRole('alert').textContent()).toContain('already configured')
    expect(await dialog.getByRole('button', { name: 'Save provider' }).isDisabled()).toBe(true)
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    const stored = await h.server.api('GET', '/api/admin/settings')
    expect(stored.body.oauth.providers.map((p: any) => p.clientId)).toEqual(['gh-console-client'])
  })

  it('edits a provider without retyping its secret, and switches it off', async () => {
    const oauth = section('OAuth and OpenID Connect providers')
    await oauth.getByRole('button', { name: 'Edit github' }).click()
    const dialog = h.page.getByRole('dialog', { name: 'Edit github' })
    expect(await dialog.getByLabel('Client secret').inputValue()).toBe('')
    await dialog.getByLabel('Client id').fill('gh-console-client-2')
    await dialog.getByRole('button', { name: 'Save provider' }).click()
    await expect.poll(() => dialog.count()).toBe(0)
    const row = oauth.getByRole('row', { name: /github/ })
    await expect.poll(() => row.textContent()).toContain('gh-console-client-2')
    expect((await row.getByRole('cell').nth(3).textContent())?.trim()).toBe('set')
    const signIn = () =>
      h.server.api(
        'POST',
        '/api/auth/sign-in/social',
        { provider: 'github', callbackURL: '/', disableRedirect: true },
        { as: 'anon' },
      )
    const on = await signIn()
    expect(on.status).toBe(200)
    expect(new URL(on.body.url).searchParams.get('client_id')).toBe('gh-console-client-2')

    await row.getByRole('checkbox', { name: 'Enable github' }).uncheck()
    await expect.poll(async () => (await signIn()).status).toBe(403)
    expect((await signIn()).body.code).toBe('METHOD_DISABLED')
    const stored = await h.server.api('GET', '/api/admin/settings')
    expect(stored.body.oauth.providers[0]).toMatchObject({ enabled: false, clientSecret: { set: true } })
  })

  it('shows the server’s message for a provider it refuses', async () => {
    const oauth = section('OAuth and OpenID Connect providers')
    await oauth.getByRole('button', { name: 'Add provider' }).click()
    const dialog = h.page.getByRole('dialog', { name: 'Add a provider' })
    await dialog.getByLabel('Type').selectOption('oidc')
    // The browser checks the shape of the id and of the URL; the server checks the rest (google is a
    // built-in provider: it cannot be an OIDC one).
    await dialog.getByLabel('Id', { exact: true }).fill('google')
    await dialog.getByLabel('Issuer URL').fill('https://id.example.com')
    await dialog.getByLabel('Client id').fill('x')
    await dialog.getByRole('button', { name: 'Save provider' }).click()
    const alert = dialog.getByRole('alert')
    await expect.poll(() => alert.textContent()).toContain('VALIDATION_FAILED')
    expect(await alert.textContent()).toContain('is the name of a social provider: use type social')
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await expect.poll(() => dialog.count()).toBe(0)
  })
})

describe('layout', () => {
  it('fits 1024 px and reads well in the dark theme', async () => {
    const { page } = h
    await page.setViewportSize({ width: 1024, height: 768 })
    await page.reload()
    await section('OAuth and OpenID Connect providers')
      .getByRole('row', { name: /github/ })
      .waitFor()
    // Nothing wider than the page: no sideways scrolling at 1024 px.
    const overflow = await page.evaluate(() =>
      [...document.querySelectorAll('main section')].some((el) => el.scrollWidth > el.clientWidth + 1),
    )
    expect(overflow).toBe(false)
    await h.screenshot('settings-1024')
    await page.getByRole('button', { name: 'Switch to the dark theme' }).click()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('settings-dark')
    await page.getByRole('button', { name: 'Switch to the light theme' }).click()
    await page.setViewportSize({ width: 1280, height: 800 })
  })
})

describe('a value the environment sets', () => {
  let e: ConsoleHarness | undefined
  afterAll(async () => {
    await e?.close()
    if (e) expect(e.problems).toEqual([])
  })

  it('is read-only and names its variable', async () => {
    // The auth rate limit is left to the settings on this one (the harness sets it otherwise).
    e = await startConsole({
      env: {
        BASTIDE_CORS_ORIGINS: 'https://env.example.com',
        BASTIDE_AUTH_RATE_LIMIT: '',
        BASTIDE_OAUTH_GITHUB_CLIENT_ID: 'env-gh',
        BASTIDE_OAUTH_GITHUB_CLIENT_SECRET: 'env-gh-secret-never-shown',
      },
    })
    await setUpFirstAdmin(e)
    await openSettings(e)
    const cors = e.page.getByRole('region', { name: 'Allowed origins (CORS)' })
    const box = cors.getByLabel('Origins, one per line')
    expect(await box.inputValue()).toBe('https://env.example.com')
    expect(await box.getAttribute('readonly')).not.toBeNull()
    expect(await cors.textContent()).toContain('set by BASTIDE_CORS_ORIGINS (read-only here)')
    expect(await cors.getByRole('button', { name: 'Save origins' }).count()).toBe(0)
    expect(await cors.getByRole('button', { name: 'Back to the default' }).count()).toBe(0)
    // A provider from the environment: read-only, named, its secret only "set", and not added over.
    const oauth = e.page.getByRole('region', { name: 'OAuth and OpenID Connect providers' })
    const row = oauth.getByRole('row', { name: /github/ })
    expect(await row.textContent()).toContain('set by BASTIDE_OAUTH_GITHUB_CLIENT_ID (read-only here)')
    expect((await row.getByRole('cell').nth(3).textContent())?.trim()).toBe('set')
    expect(await row.getByRole('button').count()).toBe(0)
    expect(await e.page.content()).not.toContain('env-gh-secret-never-shown')
    expect(await axeViolations(e.page)).toEqual([])
    await e.screenshot('settings-env-locked')
    await oauth.getByRole('button', { name: 'Add provider' }).click()
    const dialog = e.page.getByRole('dialog', { name: 'Add a provider' })
    await dialog.getByLabel('Provider').selectOption('github')
    await expect
      .poll(() => dialog.getByRole('alert').textContent())
      .toContain('set by BASTIDE_OAUTH_GITHUB_CLIENT_ID')
    await dialog.getByRole('button', { name: 'Cancel' }).click()
  })

  it('while the values the environment leaves alone stay editable', async () => {
    const page = e!.page
    const limits = page.getByRole('region', { name: 'Rate limits' })
    const input = limits.getByLabel(/Auth requests per minute/)
    expect(await input.getAttribute('readonly')).toBeNull()
    expect(await limits.textContent()).toContain('default')
    await input.fill('500')
    await limits.getByRole('button', { name: 'Save limit' }).click()
    await expect.poll(() => limits.textContent()).toContain('set here')
    const stored = await e!.server.api('GET', '/api/admin/settings')
    expect(stored.body.rateLimits.authPerMinute).toMatchObject({ value: 500, source: 'database' })
    // The locked one is still the environment's.
    expect(stored.body.cors.origins).toMatchObject({ value: ['https://env.example.com'], source: 'env' })
  })
})

describe('problems', () => {
  it('logged no error and broke no CSP rule', () => {
    expect(h.problems).toEqual([])
  })
})
