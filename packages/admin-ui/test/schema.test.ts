import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { type SchemaDocument, stableJson } from '@bastide/protocol'
import { type BastideClient, createClient } from '@bastide/sdk'
import { ADMIN_KEY } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/** The Schema page: the instance's document (read, download), importing one (plan, apply), migrations applied. */
let h: ConsoleHarness
let sdk: BastideClient

const field = (name: string) => ({
  name,
  type: 'text' as const,
  required: false,
  unique: false,
  hidden: false,
  options: {},
})

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
  sdk = createClient({ url: h.origin, apiKey: ADMIN_KEY })
  await sdk.admin.collections.create({ name: 'posts', fields: [{ name: 'title', type: 'text' }] })
  await sdk.admin.collections.create({ name: 'drafts', fields: [{ name: 'note', type: 'text' }] })
  // One migration recorded, as `bastide migrations up` does.
  const schema = await sdk.admin.schema.export()
  // The server's own checksum: sha256 of the schema with its keys sorted (a different one is refused).
  const checksum = createHash('sha256').update(stableJson(schema)).digest('hex')
  await sdk.admin.schema.applyMigration({ id: '0001_init', checksum, schema })
})
afterAll(async () => {
  await h?.close()
})

describe('schema page', () => {
  it('shows the instance’s document and downloads it as the API answers it', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Schema' }).click()
    const collections = page.getByRole('list', { name: 'Collections' })
    await expect
      .poll(() => collections.getByRole('listitem').allTextContents())
      .toContainEqual(expect.stringMatching(/^posts 1 field, 0 indexes/))
    expect(await collections.textContent()).toContain('drafts')
    // A collection opens onto its JSON.
    await collections.getByText('posts', { exact: true }).click()
    const postsJson = JSON.parse(
      (await collections
        .getByRole('listitem')
        .filter({ hasText: /^posts/ })
        .locator('pre')
        .textContent()) ?? '',
    )
    expect(postsJson.fields.map((f: { name: string }) => f.name)).toContain('title')

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download schema.json' }).click(),
    ])
    expect(download.suggestedFilename()).toBe('schema.json')
    const text = fs.readFileSync(await download.path(), 'utf8')
    const api = await sdk.admin.schema.export()
    expect(JSON.parse(text)).toEqual(api)
    // Byte for byte what `bastide schema pull` writes: 2-space JSON and a final newline.
    expect(text).toBe(`${JSON.stringify(api, null, 2)}\n`)

    const migrations = page.getByRole('table', { name: 'Applied migrations' })
    const row = migrations.getByRole('row').filter({ hasText: '0001_init' })
    await expect.poll(() => row.count()).toBe(1)
    const applied = (await sdk.admin.schema.migrations())[0]!
    expect(await row.textContent()).toContain(applied.checksum.slice(0, 12))
    expect(await row.textContent()).toContain(applied.appliedBy)
    expect(await page.getByText('bastide schema pull', { exact: true }).count()).toBe(1)
    expect(await axeViolations(page)).toEqual([])
  })

  it('imports a file: the plan marks the destructive change, applying it needs the typed confirmation', async () => {
    const { page } = h
    const doc = await sdk.admin.schema.export()
    const target: SchemaDocument = {
      ...doc,
      collections: doc.collections
        .filter((c) => c.name !== 'drafts')
        .map((c) => (c.name === 'posts' ? { ...c, fields: [...c.fields, field('slug')] } : c)),
    }
    const expected = await sdk.admin.schema.plan(target)
    expect(expected.changes.map((c) => c.op).sort()).toEqual(['collection.drop', 'field.add'])

    await page.getByLabel('Choose a schema file').setInputFiles({
      name: 'schema.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(target, null, 2)),
    })
    const plan = page.getByRole('table', { name: 'Planned changes' })
    const drop = plan.getByRole('row').filter({ hasText: 'collection.drop' })
    await expect.poll(() => drop.textContent()).toMatch(/drafts.*destructive: can lose data/)
    expect(await plan.getByRole('row').filter({ hasText: 'field.add' }).textContent()).toMatch(
      /posts\.slug.*kept/,
    )
    await page.getByText(expected.hash).waitFor()
    await page.getByText('2 changes, 1 destructive.').waitFor()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('schema-plan')

    await page.getByRole('button', { name: 'Apply these 2 changes' }).click()
    const dialog = page.getByRole('dialog', { name: 'Apply the schema?' })
    expect(await dialog.textContent()).toContain('can lose data')
    const confirm = dialog.getByRole('button', { name: 'Apply', exact: true })
    expect(await confirm.isDisabled()).toBe(true)
    await dialog.getByLabel('Type “apply” to confirm').fill('apply')
    await confirm.click()
    await page.getByText('Applied 2 changes.').waitFor()
    expect(await dialog.count()).toBe(0)

    const after = await sdk.admin.schema.export()
    expect(after.collections.map((c) => c.name)).not.toContain('drafts')
    expect(after.collections.find((c) => c.name === 'posts')?.fields.map((f) => f.name)).toContain('slug')
    // The document on the page follows; so does the Collections page.
    await expect
      .poll(() => page.getByRole('list', { name: 'Collections' }).textContent())
      .not.toContain('drafts')
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Collections' }).click()
    await page.getByRole('link', { name: 'posts' }).first().waitFor()
    expect(await page.getByRole('link', { name: 'drafts' }).count()).toBe(0)
  })

  it('refuses a plan the instance moved away from, and plans again', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Schema' }).click()
    const doc = await sdk.admin.schema.export()
    const target: SchemaDocument = {
      ...doc,
      collections: doc.collections.map((c) =>
        c.name === 'posts' ? { ...c, fields: [...c.fields, field('subtitle')] } : c,
      ),
    }
    await page.getByLabel('Or paste the schema (JSON)').fill(JSON.stringify(target))
    await page.getByRole('button', { name: 'Plan changes' }).click()
    await page.getByText('1 change.').waitFor()
    // Someone else changes the schema meanwhile.
    await sdk.admin.collections.create({ name: 'comments', fields: [{ name: 'body', type: 'text' }] })
    await page.getByRole('button', { name: 'Apply this change' }).click()
    await page
      .getByRole('dialog', { name: 'Apply the schema?' })
      .getByRole('button', { name: 'Apply', exact: true })
      .click()
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('changed since this plan')
    expect(
      await sdk.admin.schema
        .export()
        .then((d) => d.collections.find((c) => c.name === 'posts')?.fields.map((f) => f.name)),
    ).not.toContain('subtitle')
    await page.getByRole('button', { name: 'Plan again' }).click()
    const plan = page.getByRole('table', { name: 'Planned changes' })
    await expect
      .poll(() => plan.getByRole('row').filter({ hasText: 'collection.drop' }).textContent())
      .toMatch(/comments.*destructive/)
    expect(await page.getByRole('alert').count()).toBe(0)
  })

  it('plans a migration file dropped on the page', async () => {
    const { page } = h
    const schema = await sdk.admin.schema.export()
    const migration = JSON.stringify({ id: '0002_current', changes: [], checksum: 'x', schema })
    // A real drop event carrying a File, as the browser makes it from a file dragged in.
    const dataTransfer = await page.evaluateHandle((text) => {
      const dt = new DataTransfer()
      dt.items.add(new File([text], '0002_current.json', { type: 'application/json' }))
      return dt
    }, migration)
    await page.getByRole('region', { name: 'Schema file' }).dispatchEvent('drop', { dataTransfer })
    await page.getByText('Loaded 0002_current.json.').waitFor()
    await page.getByText('The schema of migration 0002_current is planned.').waitFor()
    await page.getByText('No changes: this instance already matches the schema.').waitFor()
    expect(await page.getByRole('button', { name: /^Apply/ }).count()).toBe(0)
  })

  it('says what is wrong with a file that is not a schema, or that the server refuses', async () => {
    const { page } = h
    const box = page.getByLabel('Or paste the schema (JSON)')
    await box.fill('{"collections": [')
    await page.getByRole('button', { name: 'Plan changes' }).click()
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toMatch(/Cannot read the schema: This is not JSON/)
    expect(await page.getByRole('table', { name: 'Planned changes' }).count()).toBe(0)
    await box.fill(JSON.stringify({ collections: [{ name: 'x', fields: [{ name: 'a', type: 'nope' }] }] }))
    await page.getByRole('button', { name: 'Plan changes' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/The plan failed/)
    // Missing lists are named: the server would take them as empty.
    await page.getByText(/has no buckets or channels list/).waitFor()
  })

  it('logged no error and broke no CSP rule', () => {
    expect(h.problems).toEqual([])
  })
})
