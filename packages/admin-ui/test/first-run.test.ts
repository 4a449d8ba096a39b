import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

let h: ConsoleHarness

beforeAll(async () => {
  h = await startConsole()
})
afterAll(async () => {
  await h?.close()
})

describe('first run', () => {
  it('sends a browser at / to the console, which asks for the first admin', async () => {
    const res = await h.page.goto(`${h.origin}/`)
    expect(res?.url()).toBe(`${h.origin}/_/`)
    await expect.poll(() => h.page.url()).toBe(`${h.origin}/_/setup`)
    await h.page.getByRole('heading', { name: 'Create the first admin' }).waitFor()
    expect(await axeViolations(h.page)).toEqual([])
    await h.screenshot('setup')
  })

  it('refuses a wrong setup token with the server’s message', async () => {
    const { page } = h
    await page.getByLabel('Setup token').fill('bst_setup_wrong')
    await page.getByLabel('Email').fill('admin@example.com')
    await page.getByLabel('Password').fill('correct horse battery staple')
    await page.getByRole('button', { name: 'Create admin and sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/setup token/i)
  })

  it('creates the first admin with the token from the log and signs them in', async () => {
    const admin = await setUpFirstAdmin(h)
    await expect
      .poll(() => h.page.getByRole('navigation', { name: 'Console' }).textContent())
      .toContain(admin.email)
    // Forever after, the setup page sends visitors to sign in.
    await h.page.goto(`${h.origin}/_/setup`)
    await expect.poll(() => h.page.url()).toMatch(/\/_\/(keys|collections|[a-z-]+)$/)
  })

  it('signs out, refuses a wrong password, and signs back in', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('sign-in')
    await page.getByLabel('Email').fill('admin@example.com')
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/invalid email or password/i)
    await page.getByLabel('Password').fill('correct horse battery staple')
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.getByRole('navigation', { name: 'Console' }).waitFor()
  })
})

describe('API keys', () => {
  it('creates a key with scopes, shows its secret once, and the secret works', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'API keys' }).click()
    await page.getByRole('button', { name: 'New key' }).click()
    await page.getByLabel('Name').fill('ci deploy')
    await page.getByLabel('schema').check()
    await page.getByRole('button', { name: 'Create key' }).click()
    const secret = await page.getByLabel('Secret').inputValue()
    expect(secret).toMatch(/^bst_sk_/)
    expect(await axeViolations(page)).toEqual([])
    await page.getByRole('button', { name: 'Done' }).click()
    const row = page.getByRole('row', { name: /ci deploy/ })
    await expect.poll(() => row.textContent()).toContain('records:read, schema')
    const res = await h.server.api('GET', '/api/collections', undefined, { as: secret })
    expect(res.status).toBe(200)
    await h.screenshot('keys')
  })

  it('revokes a key after confirmation; requests with it fail from then on', async () => {
    const { page } = h
    const secret = (await h.server.api('POST', '/api/admin/keys', { name: 'to revoke', scopes: ['schema'] }))
      .body.key
    await page.reload()
    await page.getByRole('button', { name: 'Revoke to revoke' }).click()
    await page.getByRole('button', { name: 'Revoke key' }).click()
    await expect.poll(() => page.getByRole('row', { name: /to revoke/ }).count()).toBe(0)
    expect((await h.server.api('GET', '/api/collections', undefined, { as: secret })).status).toBe(401)
  })

  it('logged no error and broke no CSP rule on any page', () => {
    expect(h.problems).toEqual([])
  })
})
