import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

let h: ConsoleHarness
let page: Page

beforeAll(async () => {
  h = await startConsole()
  page = h.page
  await setUpFirstAdmin(h)
  const bucket = await h.server.api('POST', '/api/storage/buckets', { name: 'media' })
  expect(bucket.status).toBe(201)
})
afterAll(async () => {
  await h?.close()
})

const field = (n: number, what: string) => page.getByLabel(`Field ${n} ${what}`, { exact: true })
const ruleGroup = (title: string) => page.getByRole('group', { name: title, exact: true })
const tab = (name: string) => page.getByRole('tab', { name, exact: true })

async function openCollections() {
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Collections' }).click()
  await page.getByRole('heading', { name: 'Collections', level: 1 }).waitFor()
}

describe('collections', () => {
  it('lists collections, the built-in users one with its badge', async () => {
    await openCollections()
    const users = page.getByRole('row', { name: /users/ })
    await expect.poll(() => users.textContent()).toContain('system')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-list')
  })

  it('creates authors: a required text and a unique email, listed by everyone', async () => {
    await page.getByRole('link', { name: 'New collection' }).click()
    await page.getByLabel('Collection name').fill('authors')
    await field(1, 'name').fill('name')
    await field(1, 'required').check()
    await page.getByRole('button', { name: 'Add field' }).click()
    await field(2, 'name').fill('email')
    await field(2, 'type').selectOption('email')
    await field(2, 'unique').check()
    await ruleGroup('List rule').getByLabel('Everyone').check()
    await ruleGroup('View rule').getByLabel('Everyone').check()
    await page.getByRole('button', { name: 'Create collection' }).click()
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/collections/authors`)
    const saved = (await h.server.api('GET', '/api/collections/authors')).body
    expect(saved.fields.map((f: any) => [f.name, f.type, f.required, f.unique])).toEqual([
      ['name', 'text', true, false],
      ['email', 'email', false, true],
    ])
    expect(saved.rules).toEqual({ list: '', view: '', create: null, update: null, delete: null })
  })

  it('creates posts with every kind of option; a rule with a syntax error shows where, then passes', async () => {
    await openCollections()
    await page.getByRole('link', { name: 'New collection' }).click()
    await page.getByLabel('Collection name').fill('posts')
    const add = async (n: number, name: string, type: string) => {
      if (n > 1) await page.getByRole('button', { name: 'Add field' }).click()
      await field(n, 'name').fill(name)
      await field(n, 'type').selectOption(type)
    }
    await add(1, 'title', 'text')
    await field(1, 'required').check()
    await field(1, 'max length').fill('200')
    await add(2, 'status', 'select')
    await field(2, 'values').fill('draft,live')
    await add(3, 'author', 'relation')
    await field(3, 'collection').selectOption('authors')
    await field(3, 'on delete').selectOption('cascade')
    await field(3, 'required').check()
    await add(4, 'cover', 'file')
    await field(4, 'bucket').selectOption('media')
    await add(5, 'secret', 'text')
    await field(5, 'hidden').check()
    await add(6, 'slug', 'text')
    await field(6, 'unique').check()
    await add(7, 'views', 'number')
    await field(7, 'integer').check()
    await page.getByRole('button', { name: 'Add index' }).click()
    const index = page.getByRole('group', { name: 'Index 1' })
    await index.getByLabel('status').check()
    await index.getByLabel('title').check()

    await ruleGroup('List rule').getByLabel('Expression').check()
    const list = page.getByLabel('List rule expression')
    await list.fill("status = 'live' &&")
    const status = page.locator(
      `[id="${await list.getAttribute('aria-describedby').then((d) => d!.split(' ')[0])}"]`,
    )
    await expect.poll(() => status.textContent()).toMatch(/line 1, column 19/)
    expect(await list.getAttribute('aria-invalid')).toBe('true')
    // The caret sits under the end of the text, where the expression is missing.
    expect(await page.getByTestId('rule-caret').textContent()).toBe(`status = 'live' &&\n${' '.repeat(18)}^`)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-rule-error')

    await list.fill("status = 'live' && nope = 1")
    await expect.poll(() => status.textContent()).toMatch(/Unknown field 'nope'.*line 1, column 20/)
    await list.fill("status = 'live' || author.name != ''")
    await expect.poll(() => status.textContent()).toMatch(/Valid/)
    expect(await list.getAttribute('aria-invalid')).toBe('false')
    await ruleGroup('View rule').getByLabel('Everyone').check()
    await h.screenshot('collections-new')

    await page.getByRole('button', { name: 'Create collection' }).click()
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/collections/posts`)
    const saved = (await h.server.api('GET', '/api/collections/posts')).body
    const byName = Object.fromEntries(saved.fields.map((f: any) => [f.name, f]))
    expect(Object.keys(byName)).toEqual(['title', 'status', 'author', 'cover', 'secret', 'slug', 'views'])
    expect(byName.title).toMatchObject({ type: 'text', required: true, options: { max: 200 } })
    expect(byName.status).toMatchObject({ type: 'select', options: { values: ['draft', 'live'] } })
    expect(byName.author).toMatchObject({
      type: 'relation',
      required: true,
      options: { collection: 'authors', onDelete: 'cascade' },
    })
    expect(byName.cover).toMatchObject({ type: 'file', options: { bucket: 'media' } })
    expect(byName.secret.hidden).toBe(true)
    expect(byName.slug.unique).toBe(true)
    expect(byName.views).toMatchObject({ type: 'number', options: { integer: true } })
    expect(saved.indexes).toEqual([expect.objectContaining({ fields: ['status', 'title'], unique: false })])
    expect(saved.rules.list).toBe("status = 'live' || author.name != ''")
    expect(saved.rules.view).toBe('')
  })

  it('renames a field: the same field (same id) keeps its data under the new name', async () => {
    const before = (await h.server.api('GET', '/api/collections/posts')).body
    const views = before.fields.find((f: any) => f.name === 'views')
    expect(await page.getByRole('link', { name: 'Browse data' }).getAttribute('href')).toBe('/_/data/posts')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-schema')
    await field(7, 'name').fill('hits')
    // Leaving with unsaved edits asks first.
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Collections' }).click()
    await page.getByRole('dialog', { name: 'Leave without saving?' }).waitFor()
    await page.getByRole('button', { name: 'Stay' }).click()
    expect(page.url()).toBe(`${h.origin}/_/collections/posts`)
    expect(await field(7, 'name').inputValue()).toBe('hits')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
    const after = (await h.server.api('GET', '/api/collections/posts')).body
    expect(after.fields.find((f: any) => f.id === views.id)?.name).toBe('hits')
  })

  it('a retype the data cannot take shows the server’s 409 and why; nothing changes', async () => {
    const ann = await h.server.api('POST', '/api/collections/authors/records', {
      name: 'Ann',
      email: 'ann@example.com',
    })
    expect(ann.status).toBe(201)
    const post = await h.server.api('POST', '/api/collections/posts/records', {
      title: 'Hello',
      status: 'live',
      author: ann.body.id,
      slug: 'hello-world',
    })
    expect(post.status).toBe(201)
    await field(6, 'type').selectOption('number')
    await expect
      .poll(() => page.locator('.warn-note').first().textContent())
      .toMatch(/converts the existing values/)
    await page.getByRole('button', { name: 'Save changes' }).click()
    const alert = page.getByRole('alert')
    await expect.poll(() => alert.textContent()).toMatch(/Existing records do not fit the new definition/)
    await expect.poll(() => alert.textContent()).toContain('CONFLICT')
    await expect.poll(() => page.locator('.cl-save-error').textContent()).toMatch(/PostgreSQL: .+/)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-retype-409')
    const still = (await h.server.api('GET', '/api/collections/posts')).body
    expect(still.fields.find((f: any) => f.name === 'slug').type).toBe('text')
    await page.getByRole('button', { name: 'Discard changes' }).click()
    expect(await field(6, 'type').inputValue()).toBe('text')
  })

  it('the rules tab shows the saved rules, checked', async () => {
    await tab('Rules').click()
    const list = page.getByLabel('List rule expression')
    expect(await list.inputValue()).toBe("status = 'live' || author.name != ''")
    expect(await ruleGroup('Create rule').getByLabel('Locked').isChecked()).toBe(true)
    // Keyboard: arrows move between tabs.
    await tab('Rules').focus()
    await page.keyboard.press('ArrowRight')
    expect(await tab('API').getAttribute('aria-selected')).toBe('true')
    await page.keyboard.press('ArrowLeft')
    await expect.poll(() => page.getByText(/✓ Valid/).count()).toBeGreaterThan(0)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-rules')
  })

  it('history shows each change as a readable diff', async () => {
    await tab('History').click()
    const history = page.locator('.cl-history')
    await expect.poll(() => history.textContent()).toContain('Field views renamed to hits')
    const text = (await history.textContent()) ?? ''
    expect(text).toContain('Created posts')
    expect(text).toContain('Field author (relation → authors, required)')
    expect(text).toContain('With index on (status, title)')
    // The refused retype left no trace.
    expect(text).not.toMatch(/slug changed type/)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-history')
  })

  it('the API tab shows SDK and curl snippets with the real fields and the rules in words', async () => {
    await tab('API').click()
    const create = page.getByRole('region', { name: 'Create a record' })
    await expect.poll(() => create.textContent()).toContain('client.collection("posts").create(')
    const sdk = (await create.textContent()) ?? ''
    expect(sdk).toContain('title: "Some title"')
    expect(sdk).toContain('author: "AUTHORS_ID"')
    expect(sdk).toContain('hits: 42')
    expect(sdk).toContain('cover: file')
    expect(sdk).toMatch(/Rule:\s*Locked/)
    const listRule = (await page.getByRole('region', { name: 'List records' }).textContent()) ?? ''
    expect(listRule).toContain("Only when the rule holds: status = 'live' || author.name != ''")
    await page.getByLabel('curl').check()
    await expect
      .poll(() => create.textContent())
      .toContain(`curl -X POST '${h.origin}/api/collections/posts/records'`)
    expect(await create.textContent()).toContain("-F 'cover=@./cover.jpg'")
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-api')
  })

  it('the built-in users collection takes a new field; its auth fields stay locked', async () => {
    await page.setViewportSize({ width: 1024, height: 768 })
    await page.goto(`${h.origin}/_/collections/users`)
    await page.getByLabel('Collection name').waitFor()
    expect(await page.getByLabel('Collection name').isDisabled()).toBe(true)
    const count = (await h.server.api('GET', '/api/collections/users')).body.fields.length
    expect(await field(1, 'name').isDisabled()).toBe(true)
    await page.getByRole('button', { name: 'Add field' }).click()
    await field(count + 1, 'name').fill('nickname')
    await h.screenshot('collections-users-1024')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
    const users = (await h.server.api('GET', '/api/collections/users')).body
    expect(users.fields.map((f: any) => f.name)).toContain('nickname')
    await tab('Delete').click()
    await expect.poll(() => page.getByRole('tabpanel').textContent()).toMatch(/cannot be deleted/)
    await page.setViewportSize({ width: 1280, height: 800 })
  })

  it('delete asks for the name; a collection others relate to is refused with the server’s reason', async () => {
    await page.goto(`${h.origin}/_/collections/authors`)
    await tab('Delete').click()
    await page.getByRole('button', { name: 'Delete collection…' }).click()
    const confirm = page.getByRole('button', { name: 'Delete collection', exact: true })
    expect(await confirm.isDisabled()).toBe(true)
    await page.getByLabel('Type “authors” to confirm').fill('author')
    expect(await confirm.isDisabled()).toBe(true)
    await page.getByLabel('Type “authors” to confirm').fill('authors')
    await confirm.click()
    await expect
      .poll(() => page.getByRole('dialog').getByRole('alert').textContent())
      .toMatch(/Other collections relate to this one/)
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()

    await page.goto(`${h.origin}/_/collections/posts`)
    await tab('Delete').click()
    await page.getByRole('button', { name: 'Delete collection…' }).click()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-delete')
    await page.getByLabel('Type “posts” to confirm').fill('posts')
    await page.getByRole('button', { name: 'Delete collection', exact: true }).click()
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/collections`)
    await expect.poll(() => page.getByRole('link', { name: 'authors', exact: true }).count()).toBe(1)
    await expect.poll(() => page.getByRole('link', { name: 'posts', exact: true }).count()).toBe(0)
    expect((await h.server.api('GET', '/api/collections/posts')).status).toBe(404)
  })

  it('renames a collection: its page moves to the new name', async () => {
    await page.goto(`${h.origin}/_/collections/authors`)
    await page.getByLabel('Collection name').fill('writers')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/collections/writers`)
    await page.getByRole('heading', { name: 'writers', level: 1 }).waitFor()
    expect((await h.server.api('GET', '/api/collections/writers')).status).toBe(200)
    expect((await h.server.api('GET', '/api/collections/authors')).status).toBe(404)
    await tab('History').click()
    await expect
      .poll(() => page.locator('.cl-history').textContent())
      .toContain('Collection renamed from authors to writers')
    await openCollections()
  })

  it('reads well in the dark theme too', async () => {
    await page.getByRole('button', { name: 'Switch to the dark theme' }).click()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('collections-list-dark')
    await page.goto(`${h.origin}/_/collections/writers`)
    await page.getByLabel('Collection name').waitFor()
    await h.screenshot('collections-schema-dark')
    await page.getByRole('button', { name: 'Switch to the light theme' }).click()
  })

  it('logged no error and broke no CSP rule on any page', () => {
    expect(h.problems).toEqual([])
  })
})
