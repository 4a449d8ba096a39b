import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * A collection's Offline sync tab against a real server: enabling with a policy, the merge function required and
 * chosen among deployed functions (those with a sync trigger first), disabling, and the change log's footer.
 */
let h: ConsoleHarness
let page: Page

const MERGE = `import { defineFunction } from '@bastide/sdk/functions'

export default defineFunction({
  on: { sync: 'merge' },
  handler: (event) => ({ data: event.client.data }),
})
`
const HELLO = `import { defineFunction } from '@bastide/sdk/functions'

export default defineFunction({ on: { http: true }, handler: () => new Response('hi') })
`

beforeAll(async () => {
  h = await startConsole()
  page = h.page
  await setUpFirstAdmin(h)
  const c = await h.server.api('POST', '/api/collections', {
    name: 'notes',
    fields: [{ name: 'title', type: 'text' }],
  })
  expect(c.status, JSON.stringify(c.body)).toBe(201)
  for (const [name, source] of [
    ['merge-notes', MERGE],
    ['hello', HELLO],
  ] as const) {
    const fn = await h.server.api('PUT', `/api/admin/functions/${name}`, { source })
    expect(fn.status, JSON.stringify(fn.body)).toBe(201)
  }
})
afterAll(async () => {
  await h?.close()
})

const panel = () => page.getByRole('region', { name: 'Offline sync' })
const settings = async () => (await h.server.api('GET', '/api/admin/sync/collections/notes')).body

describe('offline sync tab', () => {
  it('enables sync with a policy, each explained in a sentence', async () => {
    await page.goto(`${h.origin}/_/collections/notes`)
    await page.getByRole('tab', { name: 'Offline sync', exact: true }).click()
    const p = panel()
    await p.getByText('off', { exact: true }).waitFor()
    const form = p.getByRole('form', { name: 'Offline sync settings' })
    const enabled = form.getByLabel('Sync notes to offline clients')
    expect(await enabled.isChecked()).toBe(false)
    // Nothing to save until something changes.
    expect(await form.getByRole('button', { name: 'Save sync settings' }).isDisabled()).toBe(true)
    const policies = form.getByRole('group', { name: 'When an offline edit conflicts' })
    expect(await policies.getByRole('radio').count()).toBe(4)
    const lww = policies.getByRole('radio', { name: 'Last edit wins, per field' })
    expect(await lww.getAttribute('aria-describedby')).toBeTruthy()
    expect(await policies.textContent()).toContain('a field changed on both keeps the later edit')

    await enabled.check()
    await lww.check()
    await form.getByRole('button', { name: 'Save sync settings' }).click()
    await form.getByText('Sync settings saved.').waitFor()
    await p.getByText('on', { exact: true }).waitFor()
    expect(await settings()).toEqual({
      collection: 'notes',
      enabled: true,
      conflict: 'lww_field',
      mergeFunction: null,
    })
    await expect.poll(() => p.getByTestId('sync-retention').textContent()).toContain('keeps 30 days')
    expect(await axeViolations(page)).toEqual([])
  })

  it('requires a merge function for the function policy, chosen among deployed functions', async () => {
    const form = panel().getByRole('form', { name: 'Offline sync settings' })
    await form.getByRole('radio', { name: 'Merge function' }).check()
    const select = form.getByRole('combobox', { name: 'Merge function' })
    await expect.poll(() => select.locator('option').allTextContents()).toContain('merge-notes')
    expect(await select.locator('optgroup[label="With a sync trigger"] option').allTextContents()).toEqual([
      'merge-notes',
    ])
    expect(await select.locator('optgroup[label="Other functions"] option').allTextContents()).toEqual([
      'hello',
    ])

    // Checked before asking the server.
    await form.getByRole('button', { name: 'Save sync settings' }).click()
    await form.getByText('Choose a merge function.').waitFor()
    expect(await select.getAttribute('aria-invalid')).toBe('true')
    expect((await settings()).conflict).toBe('lww_field')

    await select.selectOption('merge-notes')
    await form.getByRole('button', { name: 'Save sync settings' }).click()
    await form.getByText('Sync settings saved.').waitFor()
    expect(await settings()).toMatchObject({
      enabled: true,
      conflict: 'function',
      mergeFunction: 'merge-notes',
    })
    await h.screenshot('sync-panel')
    expect(await axeViolations(page)).toEqual([])

    // Back on the page, the form shows what is saved.
    await page.reload()
    await page.getByRole('tab', { name: 'Offline sync', exact: true }).click()
    const again = panel().getByRole('form', { name: 'Offline sync settings' })
    expect(await again.getByRole('radio', { name: 'Merge function' }).isChecked()).toBe(true)
    await expect
      .poll(() => again.getByRole('combobox', { name: 'Merge function' }).inputValue())
      .toBe('merge-notes')
  })

  it('counts the change log in the footer, and disables sync', async () => {
    const created = await h.server.api('POST', '/api/collections/notes/records', { title: 'logged' })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const p = panel()
    const form = p.getByRole('form', { name: 'Offline sync settings' })
    const footer = p.getByTestId('sync-retention')
    // The footer follows the overview, refreshed after a save.
    await form.getByRole('radio', { name: 'Server wins' }).check()
    await form.getByRole('button', { name: 'Save sync settings' }).click()
    await form.getByText('Sync settings saved.').waitFor()
    await expect.poll(() => footer.textContent()).toMatch(/holds 1 entry, the oldest from /)
    expect(await footer.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/)

    await form.getByLabel('Sync notes to offline clients').uncheck()
    await form.getByText('their pulls answer SYNC_DISABLED').waitFor()
    await form.getByRole('button', { name: 'Save sync settings' }).click()
    await form.getByText('Sync settings saved.').waitFor()
    await p.getByText('off', { exact: true }).waitFor()
    expect(await settings()).toEqual({
      collection: 'notes',
      enabled: false,
      conflict: 'server_wins',
      mergeFunction: null,
    })
    // Turning sync off drops the collection's log: nothing can pull it any more.
    await expect.poll(() => footer.textContent()).toContain('holds 0 entries.')
    expect(h.problems).toEqual([])
  })
})
