import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * The users pages against a real server: create, search, verify, ban (the user's session stops working),
 * unban, revoke sessions, impersonate (the audit log shows it), delete with a preview of what goes with them.
 */
let h: ConsoleHarness
let userId = ''
const EMAIL = 'ada.lovelace@example.com'
const PASSWORD = 'analytical engine notes 1843'

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
  const posts = await h.server.api('POST', '/api/collections', {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'author', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
    ],
  })
  expect(posts.status).toBe(201)
})
afterAll(async () => {
  await h?.close()
})

/** Signs the user in over the API; the session token, or the status when refused. */
async function signIn(): Promise<{ status: number; token?: string }> {
  const r = await h.server.api(
    'POST',
    '/api/auth/sign-in/email',
    { email: EMAIL, password: PASSWORD },
    { as: 'anon' },
  )
  return { status: r.status, ...(typeof r.body?.token === 'string' ? { token: r.body.token } : {}) }
}

/** Whether a session token still signs its user in. */
async function sessionWorks(token: string): Promise<boolean> {
  const r = await h.server.api('GET', '/api/auth/get-session', undefined, { as: token })
  return r.status === 200 && r.body?.user?.id === userId
}

describe('users', () => {
  it('creates a user from the New user dialog and lands on their page', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Users' }).click()
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'New user' }).click()
    const dialog = page.getByRole('dialog', { name: 'New user' })
    await dialog.getByLabel('Email', { exact: true }).fill(EMAIL)
    await dialog.getByLabel('Name').fill('Ada Lovelace')
    await dialog.getByLabel('Password').fill('short')
    await dialog.getByLabel('Email already verified').uncheck()
    await dialog.getByRole('button', { name: 'Create user' }).click()
    // The server's password policy, in its words.
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/password/i)
    expect(await axeViolations(page)).toEqual([])
    await dialog.getByLabel('Password').fill(PASSWORD)
    await dialog.getByRole('button', { name: 'Create user' }).click()
    await page.getByRole('heading', { name: EMAIL, level: 1 }).waitFor()
    userId = page.url().split('/').pop()!
    const r = await h.server.api('GET', `/api/admin/users/${userId}`)
    expect(r.body).toMatchObject({ email: EMAIL, name: 'Ada Lovelace', verified: false })
  })

  it('finds users by search, a page at a time', async () => {
    const { page } = h
    for (let i = 0; i < 27; i++) {
      const r = await h.server.api('POST', '/api/admin/users', {
        email: `filler${String(i).padStart(2, '0')}@example.com`,
        password: PASSWORD,
      })
      expect(r.status).toBe(201)
    }
    // A fresh load: the console keeps what it read for a few seconds.
    await page.goto(`${h.origin}/_/users`)
    const table = page.getByRole('table', { name: 'Users' })
    await expect.poll(() => table.getByRole('row').count()).toBe(26) // a header and 25 users
    await expect
      .poll(() => page.getByRole('navigation', { name: 'User pages' }).textContent())
      .toContain('Page 1 of 2')
    await page.getByRole('button', { name: 'Next' }).click()
    await expect.poll(() => table.getByRole('row').count()).toBe(4)
    await page.getByLabel('Search users').fill('lovelace')
    await expect.poll(() => table.getByRole('row').count()).toBe(2)
    await expect.poll(() => table.textContent()).toContain(EMAIL)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('users-list')
    await page.getByLabel('Search users').fill('nobody-by-this-name')
    await page.getByText('No user matches “nobody-by-this-name”.').waitFor()
    await page.getByLabel('Search users').fill('ada')
    await table.getByRole('link', { name: EMAIL }).click()
    await page.getByRole('heading', { name: EMAIL, level: 1 }).waitFor()
  })

  it('marks the email verified', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Mark email verified' }).click()
    await page.getByText('The email address is verified.').waitFor()
    expect((await h.server.api('GET', `/api/admin/users/${userId}`)).body.verified).toBe(true)
  })

  it('bans with a reason: the user’s live session stops working and sign-in is refused; unban lets them back', async () => {
    const { page } = h
    const { token } = await signIn()
    expect(await sessionWorks(token!)).toBe(true)
    await page.reload()
    await page.getByRole('heading', { name: 'Sessions' }).waitFor()
    await expect.poll(() => page.getByRole('table', { name: 'Sessions' }).getByRole('row').count()).toBe(2)
    await page.getByRole('button', { name: 'Ban…' }).click()
    const dialog = page.getByRole('dialog', { name: `Ban ${EMAIL}` })
    await dialog.getByLabel('Reason').fill('spam in comments')
    expect(await axeViolations(page)).toEqual([])
    await dialog.getByRole('button', { name: 'Ban user' }).click()
    await page.getByText(/Banned \(spam in comments\), with no end/).waitFor()
    await page.getByText('No live session.').waitFor()
    expect(await sessionWorks(token!)).toBe(false)
    expect((await signIn()).status).toBeGreaterThanOrEqual(400)
    await h.screenshot('users-banned')

    await page.getByRole('button', { name: 'Unban' }).click()
    await page
      .getByRole('dialog', { name: `Unban ${EMAIL}?` })
      .getByRole('button', { name: 'Unban' })
      .click()
    await page.getByText('Not banned.').waitFor()
    expect((await signIn()).status).toBe(200)
  })

  it('revokes every session', async () => {
    const { page } = h
    const { token } = await signIn()
    expect(await sessionWorks(token!)).toBe(true)
    await page.reload()
    const sessions = page.getByRole('table', { name: 'Sessions' })
    await expect.poll(() => sessions.getByRole('row').count()).toBe(3) // this one and the one after unban
    await page.getByRole('button', { name: 'Revoke all' }).click()
    await page.getByRole('button', { name: 'Revoke all sessions' }).click()
    await page.getByText('No live session.').waitFor()
    expect(await sessionWorks(token!)).toBe(false)
  })

  it('impersonates: the token is shown once, works as the user, and the audit log records it', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Impersonate…' }).click()
    const dialog = page.getByRole('dialog', { name: `Impersonate ${EMAIL}` })
    await dialog.getByLabel('Minutes').fill('5')
    await dialog.getByRole('button', { name: 'Start impersonation' }).click()
    const shown = page.getByRole('dialog', { name: 'Impersonation session' })
    const token = await shown.getByLabel('Session token').inputValue()
    expect(token.length).toBeGreaterThan(20)
    await expect.poll(() => shown.textContent()).toMatch(/shown this once/)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('users-impersonate')
    expect(await sessionWorks(token)).toBe(true)
    await shown.getByRole('button', { name: 'Done' }).click()
    await page.getByText('impersonation', { exact: true }).waitFor()

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit log' }).click()
    await page.getByLabel('Action').fill('user.*')
    await page.getByLabel('Target').fill(userId)
    await page.getByRole('button', { name: 'Apply filters' }).click()
    const entries = page.getByRole('list', { name: 'Audit entries' })
    const entry = entries.getByRole('button', { name: /user\.impersonate/ })
    await entry.waitFor()
    // Everything done to the user, newest first.
    await expect
      .poll(async () => (await entries.locator('.audit-action').allTextContents()).join(' '))
      .toBe('user.impersonate user.sessions.revoke user.unban user.ban user.verify user.create')
    await entry.click()
    await expect.poll(() => entries.textContent()).toMatch(/minutes\s*5/)
    await page.goBack()
    await page.getByRole('heading', { name: EMAIL, level: 1 }).waitFor()
  })

  it('deletes with a preview of what goes with them, after typing the email', async () => {
    const { page } = h
    for (const title of ['first', 'second'])
      expect(
        (await h.server.api('POST', '/api/collections/posts/records', { title, author: userId })).status,
      ).toBe(201)
    await page.getByRole('button', { name: 'Delete user…' }).click()
    const dialog = page.getByRole('dialog', { name: `Delete ${EMAIL}?` })
    const preview = dialog.getByRole('list', { name: 'What the delete does' })
    await expect.poll(() => preview.textContent()).toContain('2 records in posts are deleted with them.')
    await expect.poll(() => preview.textContent()).toContain('1 session ends.')
    const confirm = dialog.getByRole('button', { name: 'Delete user' })
    expect(await confirm.isDisabled()).toBe(true)
    await dialog.getByLabel(`Type “${EMAIL}” to confirm`).fill(EMAIL)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('users-delete-preview')
    await confirm.click()
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
    expect((await h.server.api('GET', `/api/admin/users/${userId}`)).status).toBe(404)
    expect((await h.server.api('GET', '/api/collections/posts/records')).body.items).toEqual([])
  })

  it('refuses in the preview a delete that restrict relations block', async () => {
    const { page } = h
    const other = (await h.server.api('GET', '/api/admin/users?search=filler01')).body.items[0]
    const reports = await h.server.api('POST', '/api/collections', {
      name: 'reports',
      fields: [
        {
          name: 'about',
          type: 'relation',
          required: true,
          options: { collection: 'users', onDelete: 'restrict' },
        },
      ],
    })
    expect(reports.status).toBe(201)
    expect((await h.server.api('POST', '/api/collections/reports/records', { about: other.id })).status).toBe(
      201,
    )
    await page.goto(`${h.origin}/_/users/${other.id}`)
    await page.getByRole('button', { name: 'Delete user…' }).click()
    const dialog = page.getByRole('dialog', { name: `Delete ${other.email}?` })
    await dialog.getByText('This user cannot be deleted yet').waitFor()
    expect(await dialog.getByRole('list', { name: 'What the delete does' }).textContent()).toContain(
      '1 record in reports (about, on delete: restrict) still point at this user',
    )
    expect(await dialog.getByRole('button', { name: 'Delete user' }).isDisabled()).toBe(true)
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    expect((await h.server.api('GET', `/api/admin/users/${other.id}`)).status).toBe(200)
  })

  it('shows a user page in the dark theme at 1024 px without axe violations', async () => {
    const { page } = h
    const other = (await h.server.api('GET', '/api/admin/users?search=filler00')).body.items[0]
    await page.setViewportSize({ width: 1024, height: 768 })
    await page.getByRole('button', { name: 'Switch to the dark theme' }).click()
    await page.goto(`${h.origin}/_/users/${other.id}`)
    await page.getByRole('heading', { name: other.email, level: 1 }).waitFor()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('users-user-dark')
    await page.getByRole('button', { name: 'Switch to the light theme' }).click()
  })

  it('logged no error and broke no CSP rule on any page', () => {
    expect(h.problems).toEqual([])
  })
})
