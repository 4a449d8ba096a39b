import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * The Functions pages against a real server and its sandbox: a new function from a template, deploys (and a
 * FUNCTION_INVALID shown at its line), versions and rollback, secrets, invocations with their logs, a test run,
 * deletion.
 */
let h: ConsoleHarness

const ON_POST = `import { defineFunction } from '@bastide/sdk/functions'

export default defineFunction({
  on: { record: { collection: 'posts', actions: ['create'] } },
  retries: 0,
  async handler(event, ctx) {
    if (event.trigger !== 'record') return
    ctx.log.info(\`saw \${event.event.record.title ?? event.event.record.id}\`)
    if (event.event.record.title === 'boom') throw new Error('boom refused')
    return { seen: event.event.record.id }
  },
})
`

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
  const c = await h.server.api('POST', '/api/collections', {
    name: 'posts',
    fields: [{ name: 'title', type: 'text' }],
  })
  expect(c.status).toBe(201)
})
afterAll(async () => {
  await h?.close()
})

/** The editor's text area (CodeMirror's content, a textbox named by its label). */
const editor = (page: Page, label: string) => page.getByRole('textbox', { name: label })

/** The editor's text, line by line (CodeMirror draws each line as an element; NBSPs stand in for spaces). */
async function editorText(box: ReturnType<typeof editor>) {
  const lines = await box.locator('.cm-line').allTextContents()
  return lines.join('\n').replace(/\u00a0/g, ' ')
}

/** Replaces the editor's whole text as one insertion (no auto-indent or bracket closing on the way). */
async function setEditorText(page: Page, label: string, text: string) {
  const box = editor(page, label)
  await box.click()
  // Select all and delete through CodeMirror's own key bindings, then type the text in one insertion: the browser
  // never edits a multi-line selection itself (it would wrap text in styled spans, which the CSP refuses).
  await page.keyboard.press('ControlOrMeta+a')
  await page.keyboard.press('Delete')
  await expect.poll(() => editorText(box)).toBe('')
  await page.keyboard.insertText(text)
  await expect.poll(() => editorText(box)).toBe(text)
}

async function callFunction(path: string) {
  const res = await fetch(`${h.origin}${path}`)
  return { status: res.status, body: await res.text() }
}

describe('functions pages', () => {
  it('lists no function at first, and creates one from the HTTP template', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Functions' }).click()
    await page.getByRole('heading', { name: 'Functions' }).waitFor()
    await page.getByText('No function yet.').waitFor()
    await page.getByRole('link', { name: 'New function' }).click()
    await page.getByRole('heading', { name: 'New function' }).waitFor()
    await page.getByLabel('Name').fill('Hello')
    await page.getByText('Starts with a lowercase letter.').waitFor()
    expect(await page.getByRole('button', { name: 'Deploy' }).isDisabled()).toBe(true)
    await page.getByLabel('Name').fill('hello')
    // The template follows the name until the source is edited.
    const box = editor(page, 'Source of hello')
    await expect.poll(() => box.textContent()).toContain('/api/functions/hello')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('function-new')
    await page.getByRole('button', { name: 'Deploy' }).click()
    await page.getByRole('heading', { name: 'Function hello' }).waitFor()
    expect(await page.locator('.fn-triggers .badge').allTextContents()).toEqual(['http'])
    await page.getByText('v1, active.').waitFor()
    const called = await callFunction('/api/functions/hello?name=console')
    expect(called).toEqual({ status: 200, body: '{"hello":"console"}' })
  })

  it('shows a deploy the sandbox refuses at its line, then deploys the fix as v2', async () => {
    const { page } = h
    const broken = [
      "import { defineFunction } from '@bastide/sdk/functions'",
      '',
      'export default defineFunction({',
      '  on: { http: true },',
      '  async handler() {',
      '    return new Response(1 +* 2)',
      '  },',
      '})',
    ].join('\n')
    await setEditorText(page, 'Source of hello', broken)
    await page.getByText('Edited: not deployed (from v1).').waitFor()
    await page.getByRole('button', { name: 'Deploy' }).click()
    const alert = page.getByRole('alert').filter({ hasText: 'The function does not load' })
    await alert.waitFor()
    expect(await alert.textContent()).toContain('FUNCTION_INVALID')
    expect(await alert.textContent()).toContain('line 6')
    const where = page.locator('[data-part="error-position"]')
    expect(await where.textContent()).toMatch(
      /^Line 6, column \d+:\n {4}return new Response\(1 \+\* 2\)\n +\^$/,
    )
    // The editor marks the line too (CodeMirror's lint range, inside its shadow root).
    await page.locator('.cm-lintRange-error').first().waitFor()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('function-invalid')
    // The editor follows the dark theme through the console's variables, readable there too.
    await page.getByRole('button', { name: 'Switch to the dark theme' }).click()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('function-invalid-dark')
    await page.getByRole('button', { name: 'Switch to the light theme' }).click()
    // Nothing was deployed: the function still answers as v1.
    expect((await callFunction('/api/functions/hello')).status).toBe(200)

    const fixed = broken.replace('new Response(1 +* 2)', "new Response('v2 here')")
    await setEditorText(page, 'Source of hello', fixed)
    expect(await alert.count()).toBe(0)
    await page.getByRole('button', { name: 'Deploy' }).click()
    await page.getByText('Deployed v2: active now.').waitFor()
    expect(await callFunction('/api/functions/hello')).toEqual({ status: 200, body: 'v2 here' })
  })

  it('shows the versions, one version’s source, and rolls back to v1', async () => {
    const { page } = h
    await page.getByRole('tab', { name: 'Versions' }).click()
    const rows = page.getByRole('table', { name: 'Versions' }).locator('tbody tr')
    await expect.poll(() => rows.count()).toBe(2)
    expect(await rows.first().textContent()).toContain('v2')
    expect(await rows.first().getAttribute('data-active')).toBe('true')
    await page.getByRole('button', { name: 'View v1' }).click()
    const dialog = page.getByRole('dialog', { name: 'hello v1' })
    await expect
      .poll(() => editor(page, 'Source of hello v1').textContent())
      .toContain('/api/functions/hello')
    expect(await axeViolations(page)).toEqual([])
    await dialog.getByRole('button', { name: 'Close' }).first().click()
    await page.getByRole('button', { name: 'Roll back to v1' }).click()
    await page
      .getByRole('dialog', { name: 'Roll hello back to v1?' })
      .getByRole('button', { name: 'Roll back to v1' })
      .click()
    await page.getByText('Rolled back: v1 is active.').waitFor()
    expect((await callFunction('/api/functions/hello?name=again')).body).toBe('{"hello":"again"}')
    // The editor follows the active version (it had no edit of its own).
    await page.getByRole('tab', { name: 'Source' }).click()
    await expect.poll(() => editor(page, 'Source of hello').textContent()).toContain('searchParams')
  })

  it('sets, replaces and deletes a secret without ever showing its value', async () => {
    const { page } = h
    await page.getByRole('tab', { name: 'Secrets' }).click()
    await page.getByText('No secret yet.').waitFor()
    await page.getByLabel('Secret name').fill('MAIL_KEY')
    await page.getByLabel('Value').fill('s3cret-value-1')
    await page.getByRole('button', { name: 'Set secret' }).click()
    await page.getByText('Secret MAIL_KEY saved').waitFor()
    const table = page.getByRole('table', { name: 'Secrets' })
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1)
    expect(await page.getByRole('tab', { name: 'Secrets (1)' }).count()).toBe(1)
    await page.getByRole('button', { name: 'Replace MAIL_KEY' }).click()
    expect(await page.getByLabel('Secret name').inputValue()).toBe('MAIL_KEY')
    await page.getByLabel('Value').fill('s3cret-value-2')
    await page.getByRole('button', { name: 'Replace secret' }).click()
    await page.getByText('Secret MAIL_KEY saved').waitFor()
    expect(await page.content()).not.toContain('s3cret-value')
    const detail = await h.server.api('GET', '/api/admin/functions/hello')
    expect(JSON.stringify(detail.body)).not.toContain('s3cret-value')
    expect(await axeViolations(page)).toEqual([])
    await page.getByRole('button', { name: 'Delete MAIL_KEY' }).click()
    await page
      .getByRole('dialog', { name: 'Delete the secret MAIL_KEY?' })
      .getByRole('button', { name: 'Delete secret' })
      .click()
    await page.getByText('No secret yet.').waitFor()
  })

  it('lists a record function’s invocations, filtered, with their logs and errors', async () => {
    const { page } = h
    const deployed = await h.server.api('PUT', '/api/admin/functions/on-post', { source: ON_POST })
    expect(deployed.status).toBe(201)
    for (const title of ['first', 'boom', 'second'])
      expect((await h.server.api('POST', '/api/collections/posts/records', { title })).status).toBe(201)
    await expect
      .poll(
        async () => (await h.server.api('GET', '/api/admin/functions/on-post/invocations')).body.items.length,
        {
          timeout: 30_000,
        },
      )
      .toBe(3)
    await page.getByRole('link', { name: 'All functions' }).click()
    const list = page.getByRole('table', { name: 'Functions' })
    await expect.poll(() => list.locator('tbody tr').count()).toBe(2)
    const row = list.getByRole('row').filter({ hasText: 'on-post' })
    expect(await row.textContent()).toContain('record posts: create')
    expect(await row.textContent()).toContain('v1')
    // hello answered HTTP requests: its last invocation is shown.
    const hello = list.getByRole('row').filter({ hasText: 'hello' })
    expect(await hello.locator('.badge.ok').textContent()).toBe('ok')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('functions')
    await row.getByRole('link', { name: 'on-post' }).click()
    await page.getByRole('tab', { name: 'Invocations' }).click()
    const rows = page.getByRole('table', { name: 'Invocations' }).locator('tbody tr[data-status]')
    await expect.poll(() => rows.count()).toBe(3)
    await page.getByLabel('Status').selectOption('error')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => rows.count()).toBe(1)
    expect(await rows.first().textContent()).toContain('boom refused')
    await rows.first().getByRole('button', { name: /^Logs/ }).click()
    const details = page.locator('tr.fn-details')
    await expect.poll(() => details.textContent()).toContain('saw boom')
    expect(await details.locator('[data-part="error"]').textContent()).toContain('Error: boom refused')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('function-invocations')
    await page.getByLabel('Status').selectOption('ok')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => rows.count()).toBe(2)
  })

  it('test-runs the event handler with a JSON event and shows the result', async () => {
    const { page } = h
    await page.getByRole('tab', { name: 'Test run' }).click()
    const event = page.getByLabel('Event (JSON)')
    await page.getByRole('button', { name: 'Run' }).waitFor()
    await event.fill('{ not json')
    await page.getByRole('button', { name: 'Run' }).click()
    await page.getByText(/^The event is not JSON/).waitFor()
    await event.fill(
      JSON.stringify({
        trigger: 'record',
        event: {
          seq: 9,
          action: 'create',
          collection: 'posts',
          record: { id: 'p9', title: 'from the console' },
          at: new Date().toISOString(),
        },
      }),
    )
    await page.getByRole('button', { name: 'Run' }).click()
    const result = page.getByRole('region', { name: 'Test run result' })
    await expect.poll(() => result.textContent()).toContain('saw from the console')
    expect(await result.locator('.badge').first().textContent()).toBe('ok')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('function-test-run')
    // Recorded like any invocation.
    await page.getByRole('tab', { name: 'Invocations' }).click()
    await page.getByRole('button', { name: 'Clear' }).click()
    const rows = page.getByRole('table', { name: 'Invocations' }).locator('tbody tr[data-status]')
    // The server writes invocation rows in batches (every second): Refresh until it is there.
    await expect
      .poll(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click()
        return rows.count()
      })
      .toBe(4)
  })

  it('pages the invocations, 30 at a time, with Load more', async () => {
    const { page } = h
    const event = {
      trigger: 'record',
      event: { seq: 1, action: 'create', collection: 'posts', record: { id: 'x' } },
    }
    for (let i = 0; i < 30; i++)
      expect((await h.server.api('POST', '/api/admin/functions/on-post/invoke', { event })).status).toBe(200)
    await expect
      .poll(
        async () =>
          (await h.server.api('GET', '/api/admin/functions/on-post/invocations?limit=200')).body.items.length,
      )
      .toBe(34)
    const rows = page.getByRole('table', { name: 'Invocations' }).locator('tbody tr[data-status]')
    await page.getByRole('button', { name: 'Refresh' }).click()
    await expect.poll(() => rows.count()).toBe(30)
    await page.getByRole('button', { name: 'Load more' }).click()
    await expect.poll(() => rows.count()).toBe(34)
    await page.getByText('34 shown: the oldest invocation kept.').waitFor()
  })

  it('deletes a function after its name is typed', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Delete function' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete the function on-post?' })
    expect(await dialog.getByRole('button', { name: 'Delete function' }).isDisabled()).toBe(true)
    await dialog.getByLabel('Type “on-post” to confirm').fill('on-post')
    await dialog.getByRole('button', { name: 'Delete function' }).click()
    await page.getByRole('heading', { name: 'Functions' }).waitFor()
    const list = page.getByRole('table', { name: 'Functions' })
    await expect.poll(() => list.locator('tbody tr').count()).toBe(1)
    expect((await h.server.api('GET', '/api/admin/functions/on-post')).status).toBe(404)
  })

  it('logged no error and broke no CSP rule', () => {
    // The refused deploy's 400 is the one error the pages met, and it was shown.
    expect(h.problems.filter((p) => !p.includes('status of 400'))).toEqual([])
  })
})
