import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './support/browser.ts'
import { ADMIN_KEY, createCollection, startTestServer, type TestServer } from './support/harness.ts'

/**
 * The interactive reference at /api/docs, in a real Chromium: every operation of the document the caller
 * may see is reachable in the page (not only the first few tags), nothing leaves the server, and signing
 * in with Authorize swaps the public document for the caller's own.
 */

let s: TestServer
let browser: Browser
let context: BrowserContext
let page: Page
/** Requests the page tried to send anywhere but our server, and what the console complained about. */
const foreign: string[] = []
const problems: string[] = []

/** Swagger UI renders a large document in a few seconds on a busy machine. */
const POLL = { timeout: 20_000 }
/** Where the browser believes the server is. */
const SITE = 'http://api.bastide.test'
const HTTP_METHODS = new Set(['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'])

/** How many operations each tag of a document holds (Swagger UI lists an operation under each of its tags). */
function operationsPerTag(doc: any): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of Object.values<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!HTTP_METHODS.has(method)) continue
      for (const tag of op.tags ?? ['default']) counts[tag] = (counts[tag] ?? 0) + 1
    }
  }
  return counts
}

/** Opens every collapsed tag, then counts the operations rendered under each one. */
async function renderedOperationsPerTag(): Promise<Record<string, number>> {
  const headings = page.locator('.opblock-tag-section > .opblock-tag')
  await expect.poll(() => headings.count(), POLL).toBeGreaterThan(0)
  for (const heading of await headings.all()) {
    if ((await heading.getAttribute('data-is-open')) !== 'true') await heading.click()
    await expect.poll(() => heading.getAttribute('data-is-open'), POLL).toBe('true')
  }
  return page
    .locator('.opblock-tag-section')
    .evaluateAll((sections: any[]) =>
      Object.fromEntries(
        sections.map((section) => [
          section.querySelector('.opblock-tag').dataset.tag,
          section.querySelectorAll('.opblock').length,
        ]),
      ),
    )
}

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  const bucket = await s.api('POST', '/api/storage/buckets', { name: 'covers', public: true })
  expect(bucket.status).toBe(201)
  await createCollection(s, {
    name: 'authors',
    fields: [
      { name: 'name', type: 'text', required: true },
      { name: 'payroll_ref', type: 'text', hidden: true },
    ],
    rules: { list: '', view: '', create: "@request.auth.id != ''", update: null, delete: null },
  })
  await createCollection(s, {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'author', type: 'relation', options: { collection: 'authors' } },
      { name: 'cover', type: 'file', options: { bucket: 'covers' } },
    ],
    rules: { list: '', view: '', create: '', update: '', delete: '' },
  })
  await createCollection(s, {
    name: 'comments',
    fields: [
      { name: 'body', type: 'text' },
      { name: 'post', type: 'relation', options: { collection: 'posts' } },
    ],
    rules: { list: '', view: '', create: "@request.auth.id != ''" },
  })
  // Locked: admins and keys only.
  await createCollection(s, { name: 'audit_notes', fields: [{ name: 'text', type: 'text' }] })
  browser = await launchChromium()
  context = await browser.newContext()
  // The page is visited under a real-looking name (Swagger UI treats localhost differently): requests to it
  // reach our server, anything else is recorded and refused.
  await context.route('**/*', async (route) => {
    const url = route.request().url()
    if (!url.startsWith(`${SITE}/`)) {
      foreign.push(url)
      return route.abort()
    }
    const response = await route.fetch({ url: s.bastide.url + url.slice(SITE.length) })
    return route.fulfill({ response })
  })
  page = await context.newPage()
  page.setDefaultTimeout(20_000)
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('console', (m) => {
    // Chromium ignores COOP on plain http under a name other than localhost, and says so: not ours.
    if (m.type() === 'error' && !/Cross-Origin-Opener-Policy header has been ignored/.test(m.text()))
      problems.push(`console: ${m.text()}`)
  })
})

afterAll(async () => {
  await browser?.close()
  await s?.close()
})

describe('the API reference at /api/docs', () => {
  it('renders every operation of the public document, tag by tag, for an anonymous visitor', async () => {
    const doc = (await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })).body
    const expected = operationsPerTag(doc)
    // Enough operations that a page rendering only the first few tags cannot pass.
    expect(Object.values(expected).reduce((a, b) => a + b, 0)).toBeGreaterThan(100)
    expect(expected['Records: audit_notes']).toBeUndefined()

    const res = await page.goto(`${SITE}/api/docs`)
    expect(res?.status()).toBe(200)
    // It opens on the list of tags, every one collapsed.
    const tags = page.locator('.opblock-tag-section > .opblock-tag')
    await expect.poll(() => tags.count(), POLL).toBe(Object.keys(expected).length)
    expect(await page.locator('.opblock').count()).toBe(0)
    expect(await renderedOperationsPerTag()).toEqual(expected)
    expect(await page.locator('.opblock-summary-path', { hasText: 'audit_notes' }).count()).toBe(0)
    expect(foreign).toEqual([])
    expect(problems).toEqual([])
  })

  it('shows the full document once an admin key is pasted into Authorize, the public one after Logout', async () => {
    const doc = (await s.api('GET', '/api/openapi.json')).body
    const expected = operationsPerTag(doc)
    expect(expected['Records: audit_notes']).toBe(5)
    // list, create, get, update, delete, and check-rule (the console's live rule check).
    expect(expected.Collections).toBe(6)

    await page.locator('.auth-wrapper .authorize').click()
    const dialog = page.locator('.dialog-ux .modal-ux')
    await dialog.locator('input[type="text"], input[type="password"]').first().fill(ADMIN_KEY)
    await dialog.locator('button.authorize').click()
    await dialog.locator('button.btn-done').click()
    await expect
      .poll(() => page.locator('.opblock-tag[data-tag="Records: audit_notes"]').count(), POLL)
      .toBe(1)
    expect(await renderedOperationsPerTag()).toEqual(expected)

    // Logout: back to the public document.
    await page.locator('.auth-wrapper .authorize').click()
    await dialog.locator('button', { hasText: 'Logout' }).click()
    await dialog.locator('button.btn-done').click()
    await expect
      .poll(() => page.locator('.opblock-tag[data-tag="Records: audit_notes"]').count(), POLL)
      .toBe(0)
    expect(foreign).toEqual([])
    expect(problems).toEqual([])
  })
})
