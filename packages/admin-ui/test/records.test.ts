import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCsv, toCsv } from '../src/features/records/csv.ts'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

let h: ConsoleHarness
const ROWS = 5000
const ids: string[] = []
let ada = ''
/** GET requests for pages of books the console made. */
const pageRequests: URL[] = []

const api = async (method: string, p: string, body?: unknown, headers?: Record<string, string>) => {
  const r = await h.server.api(method, p, body, headers ? { headers } : {})
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}
const count = async (filter: string) =>
  (
    await api(
      'GET',
      `/api/collections/books/records?count=true&perPage=1&filter=${encodeURIComponent(filter)}`,
    )
  ).totalItems as number

beforeAll(async () => {
  h = await startConsole()
  await api('POST', '/api/storage/buckets', { name: 'covers', public: false })
  await api('POST', '/api/collections', {
    name: 'authors',
    fields: [{ name: 'name', type: 'text', required: true }],
    rules: { list: '', view: '' },
  })
  await api('POST', '/api/collections', {
    name: 'books',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'pages', type: 'number', options: { integer: true } },
      { name: 'published', type: 'bool' },
      { name: 'released', type: 'date' },
      { name: 'genre', type: 'select', options: { values: ['fiction', 'science', 'poetry'] } },
      { name: 'meta', type: 'json' },
      { name: 'author', type: 'relation', options: { collection: 'authors', onDelete: 'set_null' } },
      { name: 'cover', type: 'file', options: { bucket: 'covers' } },
    ],
  })
  ada = (await api('POST', '/api/collections/authors/records', { name: 'Ada' })).id
  const bob = (await api('POST', '/api/collections/authors/records', { name: 'Bob' })).id
  // Created in order, so the default sort (-created) shows Book 4999 first and Book 0000 last.
  for (let start = 0; start < ROWS; start += 100) {
    const requests = Array.from({ length: 100 }, (_, j) => {
      const i = start + j
      return {
        method: 'POST',
        path: '/api/collections/books/records',
        body: {
          title: `Book ${String(i).padStart(4, '0')}`,
          pages: i,
          published: i % 2 === 0,
          genre: ['fiction', 'science', 'poetry'][i % 3],
          author: i % 10 === 0 ? ada : bob,
        },
      }
    })
    const res = await api('POST', '/api/batch', { requests })
    for (const r of res.responses) ids.push(r.body.id)
  }
  h.page.on('request', (r) => {
    const u = new URL(r.url())
    if (r.method() === 'GET' && u.pathname === '/api/collections/books/records') pageRequests.push(u)
  })
  await setUpFirstAdmin(h)
})
afterAll(async () => {
  await h?.close()
})

const grid = () => h.page.getByRole('grid', { name: 'Records of books' })
const rowWith = (text: string) => h.page.locator('tbody tr').filter({ hasText: text })
const status = () => h.page.locator('.records-toolbar [role="status"]')
/** Types a filter and applies it. */
async function applyFilter(text: string) {
  const input = h.page.getByRole('combobox', { name: 'Filter' })
  await input.fill(text)
  await input.press('Escape')
  await input.press('Enter')
}

describe('data grid', () => {
  it('opens a collection from Data and shows the newest rows with a total, fetching one page', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Data' }).click()
    await page.getByRole('heading', { name: 'Data', exact: true }).waitFor()
    await page
      .getByRole('list', { name: 'Collections' })
      .getByRole('link', { name: /^books/ })
      .waitFor()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('records-index')
    await page
      .getByRole('list', { name: 'Collections' })
      .getByRole('link', { name: /^books/ })
      .click()
    await grid().waitFor()
    await expect.poll(() => status().textContent()).toMatch(/^5,000 records?\b/)
    await rowWith('Book 4999').waitFor()
    expect(pageRequests.length).toBe(1)
    expect(pageRequests[0]!.searchParams.get('count')).toBe('true')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('records-grid')
  })

  it('scrolls to the bottom of 5,000 rows fetching only the pages in view', async () => {
    await grid().evaluate((el) => {
      const s = el.parentElement!
      s.scrollTop = s.scrollHeight
    })
    await rowWith('Book 0000').waitFor()
    // 34 pages of 150: the top one, and the last one or two asked for by number, not the 32 between.
    expect(pageRequests.length).toBeGreaterThan(1)
    expect(pageRequests.length).toBeLessThanOrEqual(4)
    expect(pageRequests.some((u) => u.searchParams.get('page') === '34')).toBe(true)
    expect(await h.page.locator('tbody tr').count()).toBeLessThan(100)
    await h.screenshot('records-grid-bottom')
  })

  it('sorts by a column (ascending, then descending) with aria-sort', async () => {
    const header = h.page.getByRole('columnheader', { name: /^pages/ })
    await header.getByRole('button').click()
    await expect.poll(() => header.getAttribute('aria-sort')).toBe('ascending')
    await expect
      .poll(() => h.page.locator('tbody tr[aria-rowindex="2"]').textContent())
      .toContain('Book 0000')
    expect(pageRequests.at(-1)!.searchParams.get('sort')).toBe('pages')
    await header.getByRole('button').click()
    await expect.poll(() => header.getAttribute('aria-sort')).toBe('descending')
    await expect
      .poll(() => h.page.locator('tbody tr[aria-rowindex="2"]').textContent())
      .toContain('Book 4999')
  })

  it('filters with field-name completion through relations, and shows a bad filter’s position', async () => {
    const { page } = h
    const input = page.getByRole('combobox', { name: 'Filter' })
    await input.fill('author.na')
    const option = page.getByRole('option', { name: /author\.name/ })
    await option.waitFor()
    expect(await input.getAttribute('aria-expanded')).toBe('true')
    await h.screenshot('records-filter-completion')
    await input.press('Tab')
    expect(await input.inputValue()).toBe('author.name')
    await input.press('End')
    await input.pressSequentially(" = 'Ada'")
    await input.press('Escape')
    await input.press('Enter')
    await expect.poll(() => status().textContent()).toMatch(/^500 records?\b/)
    expect(pageRequests.at(-1)!.searchParams.get('filter')).toBe("author.name = 'Ada'")
    expect(await axeViolations(page)).toEqual([])

    await applyFilter('pages > 3 && nope = 1')
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/Unknown field 'nope'/)
    const marker = await page.locator('.records-filter-error').textContent()
    expect(marker).toContain(`${' '.repeat('pages > 3 && '.length)}^`)
  })

  it('edits a cell in place with the record’s version; Escape cancels', async () => {
    const { page } = h
    await applyFilter("title = 'Book 0042'")
    await expect.poll(() => status().textContent()).toMatch(/^1 records?\b/)
    const cell = rowWith('Book 0042').locator('td').nth(2)
    await cell.dblclick()
    const editor = page.getByRole('textbox', { name: 'Edit title' })
    await editor.fill('Never saved')
    await editor.press('Escape')
    await expect.poll(() => cell.textContent()).toBe('Book 0042')
    // Keyboard: the active cell is the title; Enter edits.
    await grid().focus()
    await grid().press('Enter')
    await editor.fill('Book 42 edited')
    await editor.press('Enter')
    await expect
      .poll(async () => (await api('GET', `/api/collections/books/records/${ids[42]}`)).title)
      .toBe('Book 42 edited')
    const rec = await api('GET', `/api/collections/books/records/${ids[42]}`)
    expect(rec.version).toBe(2)
  })

  it('shows both versions on a 409 and keeps mine over the server’s version', async () => {
    const { page } = h
    const cell = rowWith(ids[42]!).locator('td').nth(2)
    await cell.dblclick()
    const editor = page.getByRole('textbox', { name: 'Edit title' })
    // Someone else writes meanwhile.
    await api('PATCH', `/api/collections/books/records/${ids[42]}`, { pages: 999 })
    await editor.fill('Mine wins')
    await editor.press('Enter')
    const dialog = page.getByRole('dialog', { name: 'This record changed while you edited it' })
    await dialog.waitFor()
    expect(await dialog.getByTestId('mine-title').textContent()).toBe('Mine wins')
    expect(await dialog.getByTestId('server-title').textContent()).toBe('Book 42 edited')
    expect(await dialog.getByTestId('server-pages').textContent()).toBe('999')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('records-conflict')
    await dialog.getByRole('button', { name: 'Keep mine' }).click()
    await dialog.waitFor({ state: 'detached' })
    const rec = await api('GET', `/api/collections/books/records/${ids[42]}`)
    expect(rec).toMatchObject({ title: 'Mine wins', pages: 999, version: 4 })
    await expect.poll(() => cell.textContent()).toBe('Mine wins')
  })

  it('takes the server’s version on a 409 when asked', async () => {
    const { page } = h
    const cell = rowWith(ids[42]!).locator('td').nth(2)
    await cell.dblclick()
    await api('PATCH', `/api/collections/books/records/${ids[42]}`, { title: 'Theirs' })
    await page.getByRole('textbox', { name: 'Edit title' }).fill('Lost')
    await page.getByRole('textbox', { name: 'Edit title' }).press('Enter')
    const dialog = page.getByRole('dialog', { name: 'This record changed while you edited it' })
    await dialog.getByRole('button', { name: 'Take the server’s version' }).click()
    await expect.poll(() => cell.textContent()).toBe('Theirs')
    expect((await api('GET', `/api/collections/books/records/${ids[42]}`)).title).toBe('Theirs')
  })

  it('creates a record through the form: every field type, a relation picked by search, a file uploaded', async () => {
    const { page } = h
    await applyFilter('')
    await page.getByRole('button', { name: 'New record' }).click()
    const form = page.getByRole('dialog', { name: 'New books record' })
    await form.getByLabel('title *').fill('Form book')
    await form.getByLabel('pages').fill('321')
    await form.getByLabel('published').check()
    await form.getByLabel('released').fill('2024-05-06T07:08')
    await form.getByLabel('genre').selectOption('poetry')
    await form.getByLabel('meta').fill('{"a": ')
    await expect.poll(() => form.getByText(/Not valid JSON/).count()).toBe(1)
    await form.getByLabel('meta').fill('{"a": [1, 2]}')
    await form.getByLabel('Search authors for author').fill('Ad')
    await form.getByRole('button', { name: 'Ada', exact: true }).click()
    await expect.poll(() => form.getByRole('button', { name: 'Remove Ada' }).count()).toBe(1)
    const bytes = Buffer.alloc(200_000, 7)
    await form.getByLabel('Upload a file for cover').setInputFiles({
      name: 'cover.png',
      mimeType: 'image/png',
      buffer: bytes,
    })
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('records-form')
    // A slow uplink, so the upload's progress is seen moving (XMLHttpRequest upload events, through the SDK).
    const cdp = await h.context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 100_000,
    })
    await form.getByRole('button', { name: 'Create record' }).click()
    const bar = form.getByRole('progressbar', { name: 'Upload progress' })
    await expect
      .poll(async () => {
        const [v, max] = await Promise.all([bar.getAttribute('value'), bar.getAttribute('max')])
        return Number(v) > 0 && Number(v) < Number(max)
      })
      .toBe(true)
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    })
    await form.waitFor({ state: 'detached' })
    const list = await api(
      'GET',
      `/api/collections/books/records?filter=${encodeURIComponent("title = 'Form book'")}`,
    )
    const rec = list.items[0]
    expect(rec).toMatchObject({
      pages: 321,
      published: true,
      genre: 'poetry',
      meta: { a: [1, 2] },
      author: ada,
    })
    expect(new Date(rec.released).getTime()).toBe(new Date('2024-05-06T07:08').getTime())
    expect(rec.cover).toMatch(/cover\.png$/)
    const file = await h.server.api(
      'GET',
      `/api/collections/books/records/${rec.id}/files/cover/${rec.cover}`,
    )
    expect(file.status).toBe(200)
    await rowWith('Form book').waitFor()
  })

  it('expands a relation to show the related record’s name', async () => {
    const { page } = h
    await applyFilter("title = 'Form book'")
    await page.locator('summary', { hasText: 'Expand' }).click()
    await page.getByRole('checkbox', { name: /^author/ }).check()
    await expect.poll(() => rowWith('Form book').locator('.records-rel').textContent()).toBe('Ada')
    expect(pageRequests.at(-1)!.searchParams.get('expand')).toBe('author')
    await page.getByRole('checkbox', { name: /^author/ }).uncheck()
    await page.locator('summary', { hasText: 'Expand' }).click()
  })

  it('opens the record form from a cell it cannot edit in place; a 409 there shows both versions too', async () => {
    const { page } = h
    const row = rowWith('Form book')
    // meta is JSON: edited in the form, not in the cell.
    await row.locator('td').nth(7).dblclick()
    const form = page.getByRole('dialog', { name: 'Edit record' })
    // The stored file comes back with the admin's credentials.
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      form.getByRole('button', { name: 'Download cover.png' }).click(),
    ])
    expect(file.suggestedFilename()).toBe('cover.png')
    expect(fs.statSync((await file.path())!).size).toBe(200_000)
    await form.getByLabel('meta').fill('{"b": true}')
    const id = (await row.locator('td').nth(1).textContent())!
    await api('PATCH', `/api/collections/books/records/${id}`, { pages: 7 })
    await form.getByRole('button', { name: 'Save changes' }).click()
    const dialog = page.getByRole('dialog', { name: 'This record changed while you edited it' })
    expect(await dialog.getByTestId('mine-meta').textContent()).toBe('{"b":true}')
    expect(await dialog.getByTestId('server-pages').textContent()).toBe('7')
    await dialog.getByRole('button', { name: 'Keep mine' }).click()
    await dialog.waitFor({ state: 'detached' })
    expect(await api('GET', `/api/collections/books/records/${id}`)).toMatchObject({
      meta: { b: true },
      pages: 7,
      title: 'Form book',
    })
    await expect.poll(() => row.locator('td').nth(3).textContent()).toBe('7')
  })

  it('hides a column and remembers it', async () => {
    const { page } = h
    await page.locator('summary', { hasText: 'Columns' }).click()
    await page.getByRole('checkbox', { name: 'meta', exact: true }).uncheck()
    await page.locator('summary', { hasText: 'Columns' }).click()
    await expect.poll(() => page.getByRole('columnheader', { name: /^meta/ }).count()).toBe(0)
    await page.reload()
    await grid().waitFor()
    await expect.poll(() => page.getByRole('columnheader', { name: /^pages/ }).count()).toBe(1)
    expect(await page.getByRole('columnheader', { name: /^meta/ }).count()).toBe(0)
  })

  it('deletes the selected rows after confirmation', async () => {
    const { page } = h
    await applyFilter("title ~ 'Book 000'")
    await expect.poll(() => status().textContent()).toMatch(/^10 records?\b/)
    await page.getByRole('checkbox', { name: 'Select all loaded rows' }).check()
    await page.getByRole('button', { name: 'Delete 10 selected' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete 10 records?' })
    await dialog.getByRole('button', { name: 'Delete 10' }).click()
    await dialog.waitFor({ state: 'detached' })
    expect(await count("title ~ 'Book 000'")).toBe(0)
    await expect.poll(() => status().textContent()).toMatch(/^0 records?\b/)
  })

  it('exports CSV and JSON, then imports the CSV back with per-row errors from the server', async () => {
    const { page } = h
    await applyFilter("title ~ 'Book 001'")
    await expect.poll(() => status().textContent()).toMatch(/^10 records?\b/)
    await page.locator('summary', { hasText: 'Export' }).click()
    const [csvDownload] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).click(),
    ])
    expect(csvDownload.suggestedFilename()).toBe('books.csv')
    const csv = fs.readFileSync((await csvDownload.path())!, 'utf8')
    const [head, ...rows] = parseCsv(csv)
    expect(head).toEqual(expect.arrayContaining(['id', 'title', 'pages', 'author', 'meta']))
    expect(rows.map((r) => r[head!.indexOf('title')]).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `Book 001${i}`),
    )
    const [jsonDownload] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export JSON' }).click(),
    ])
    const json = JSON.parse(fs.readFileSync((await jsonDownload.path())!, 'utf8'))
    expect(json).toHaveLength(10)
    expect(json[0]).toHaveProperty('author')
    await page.locator('summary', { hasText: 'Export' }).click()

    // Back in as copies (no id), plus a row the server refuses (no title) and one the console refuses.
    const t = head!.indexOf('title')
    const copies = rows.map((r) => r.map((v, i) => (i === 0 ? '' : i === t ? `${v} (copy)` : v)))
    const bad = head!.map((c) => (c === 'pages' ? '12' : ''))
    const worse = head!.map((c) => (c === 'title' ? 'x' : c === 'pages' ? 'many' : ''))
    const file = path.join(os.tmpdir(), `books-import-${process.pid}.csv`)
    fs.writeFileSync(file, toCsv([head!, ...copies, bad, worse]))
    await page.getByRole('button', { name: 'Import' }).click()
    const dialog = page.getByRole('dialog', { name: 'Import into books' })
    await dialog.getByLabel('CSV or JSON file').setInputFiles(file)
    expect(await dialog.getByLabel('Field for column created').inputValue()).toBe('')
    expect(await dialog.getByLabel('Field for column title').inputValue()).toBe('title')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('records-import')
    await dialog.getByRole('button', { name: 'Import 12 rows' }).click()
    await expect.poll(() => dialog.getByText(/Imported 10 of 12 rows; 2 refused/).count()).toBe(1)
    const problems = await dialog
      .getByRole('table', { name: 'Rows the server refused' })
      .locator('tbody tr')
      .allTextContents()
    expect(problems[0]).toMatch(/^11.*title/i)
    expect(problems[1]).toMatch(/^12.*pages: “many” is not a number/)
    expect(await count("title ~ '(copy)'")).toBe(10)
    await dialog.getByRole('button', { name: 'Done' }).click()
    await dialog.waitFor({ state: 'detached' })
  })

  it('shows rows created, updated and deleted through the REST API live', async () => {
    await applyFilter('')
    await expect.poll(() => status().textContent()).toMatch(/\d records/)
    const rec = await api('POST', '/api/collections/books/records', { title: 'Live book', pages: 1 })
    await rowWith('Live book').waitFor()
    expect(await rowWith('Live book').textContent()).toContain('new')
    await api('PATCH', `/api/collections/books/records/${rec.id}`, { title: 'Live book, renamed' })
    await rowWith('Live book, renamed').waitFor()
    await api('DELETE', `/api/collections/books/records/${rec.id}`)
    await expect.poll(() => rowWith('Live book, renamed').textContent()).toContain('deleted')
    await h.screenshot('records-live')
  })

  it('answers 409 to an inline edit when a live update of the row arrived while the cell was open', async () => {
    const { page } = h
    const rec = await api('POST', '/api/collections/books/records', { title: 'Edited twice', pages: 7 })
    const row = rowWith(rec.id)
    await row.waitFor()
    const cell = row.locator('td').nth(2)
    await cell.dblclick()
    const editor = page.getByRole('textbox', { name: 'Edit title' })
    await editor.waitFor()
    // Someone else's change reaches the open grid live (the row's pages cell shows it) before Enter.
    await api('PATCH', `/api/collections/books/records/${rec.id}`, { pages: 8 })
    await expect.poll(() => row.locator('td').nth(3).textContent()).toBe('8')
    await editor.fill('Mine, from version 1')
    await editor.press('Enter')
    const dialog = page.getByRole('dialog', { name: 'This record changed while you edited it' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Take the server’s version' }).click()
    await dialog.waitFor({ state: 'detached' })
    expect(await api('GET', `/api/collections/books/records/${rec.id}`)).toMatchObject({
      title: 'Edited twice',
      pages: 8,
      version: 2,
    })
  })

  it('is usable in the dark theme at 1024 px, and logged no error nor CSP violation', async () => {
    const { page } = h
    await page.setViewportSize({ width: 1024, height: 768 })
    await page.getByRole('button', { name: /dark theme/i }).click()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('records-dark-1024')
    expect(h.problems).toEqual([])
  })
})
