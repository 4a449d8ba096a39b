import { deflateSync } from 'node:zlib'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * Issue 13's end-to-end path, as a newcomer walks it through the console only: first run → a bucket and two
 * related collections with a rule checked as it is typed → records through the form and the grid → filter →
 * an inline edit that meets a concurrent write (409) → an image uploaded into a record with progress → a row
 * created over REST appearing live → an API key that works → a user banned whose session stops working.
 * h.server.api stands only for what happens outside the console (the colleague's write, the REST client, the
 * key's and the user's own requests). Each step leaves a screenshot, journey-<n>-<step>.png.
 */
let h: ConsoleHarness
let page: Page

beforeAll(async () => {
  h = await startConsole()
  page = h.page
})
afterAll(async () => {
  await h?.close()
})

const USER = { email: 'tenar@example.com', password: 'the tombs of atuan 1970' }
/** Post titles, by the id the server gave them. */
const postIds: Record<string, string> = {}

const nav = (name: string) =>
  page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true })
const field = (n: number, what: string) => page.getByLabel(`Field ${n} ${what}`, { exact: true })
const grid = (collection: string) => page.getByRole('grid', { name: `Records of ${collection}` })
const rowWith = (text: string) => page.locator('tbody tr').filter({ hasText: text })
const recordCount = () => page.locator('.records-toolbar [role="status"]')

/** Checks the page with axe and keeps a screenshot of it. */
async function checkpoint(name: string): Promise<void> {
  expect(await axeViolations(page)).toEqual([])
  await h.screenshot(`journey-${name}`)
}

async function applyFilter(text: string): Promise<void> {
  const input = page.getByRole('combobox', { name: 'Filter' })
  await input.fill(text)
  await input.press('Escape')
  await input.press('Enter')
}

async function getPost(id: string): Promise<any> {
  const r = await h.server.api('GET', `/api/collections/posts/records/${id}`)
  expect(r.status).toBe(200)
  return r.body
}

/** The titles of the posts a request sees, sorted. */
async function visibleTitles(as: string): Promise<string[]> {
  const r = await h.server.api('GET', '/api/collections/posts/records?perPage=50', undefined, { as })
  expect(r.status).toBe(200)
  return r.body.items.map((p: { title: string }) => p.title).sort()
}

/** A real PNG of noise (deterministic, so it does not compress): big enough for its upload to take a while. */
function noisePng(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc32 = (b: Buffer) => {
    let c = 0xffffffff
    for (const byte of b) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body))
    return Buffer.concat([len, body, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height)
  let seed = 0x2545f491
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1) // filter byte 0: none
    for (let i = 1; i <= width * 3; i++) {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      raw[row + i] = seed & 0xff
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

describe('the console journey', () => {
  it('1. first run: creates the first admin and lands signed in', async () => {
    await setUpFirstAdmin(h)
    await expect
      .poll(() => page.getByRole('navigation', { name: 'Console' }).textContent())
      .toContain('admin@example.com')
    await checkpoint('01-first-run')
  })

  it('2. files: creates a bucket for covers that takes images only', async () => {
    await nav('Files').click()
    await page.getByRole('heading', { name: 'Files' }).waitFor()
    await page.getByRole('button', { name: 'New bucket' }).click()
    const dialog = page.getByRole('dialog', { name: 'New bucket' })
    await dialog.getByLabel('Name').fill('covers')
    await dialog.getByRole('button', { name: 'image/*' }).click()
    await expect.poll(() => dialog.getByLabel('Allowed types').inputValue()).toBe('image/*')
    await checkpoint('02-new-bucket')
    await dialog.getByRole('button', { name: 'Create bucket' }).click()
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/files/covers`)
    await page.getByText('This bucket is empty.').waitFor()
    const bucket = await h.server.api('GET', '/api/storage/buckets/covers')
    expect(bucket.body).toMatchObject({ name: 'covers', allowedMimeTypes: ['image/*'] })
    await checkpoint('02-bucket')
  })

  it('3. collections: creates authors with a required name', async () => {
    await nav('Collections').click()
    await page.getByRole('heading', { name: 'Collections', level: 1 }).waitFor()
    await page.getByRole('link', { name: 'New collection' }).click()
    await page.getByLabel('Collection name').fill('authors')
    await field(1, 'name').fill('name')
    await field(1, 'required').check()
    await checkpoint('03-new-authors')
    await page.getByRole('button', { name: 'Create collection' }).click()
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/collections/authors`)
    const saved = (await h.server.api('GET', '/api/collections/authors')).body
    expect(saved.fields.map((f: any) => [f.name, f.type, f.required])).toEqual([['name', 'text', true]])
  })

  it('4. collections: creates posts related to authors, with a list rule the server checks as it is typed', async () => {
    await nav('Collections').click()
    await page.getByRole('link', { name: 'New collection' }).click()
    await page.getByLabel('Collection name').fill('posts')
    await field(1, 'name').fill('title')
    await field(1, 'required').check()
    await page.getByRole('button', { name: 'Add field' }).click()
    await field(2, 'name').fill('status')
    await field(2, 'type').selectOption('select')
    await field(2, 'values').fill('draft,published')
    await page.getByRole('button', { name: 'Add field' }).click()
    await field(3, 'name').fill('cover')
    await field(3, 'type').selectOption('file')
    await field(3, 'bucket').selectOption('covers')
    await page.getByRole('button', { name: 'Add field' }).click()
    await field(4, 'name').fill('author')
    await field(4, 'type').selectOption('relation')
    await field(4, 'collection').selectOption('authors')
    await field(4, 'on delete').selectOption('cascade')

    // Everyone may list published posts; the server checks the rule as it is typed.
    await page.getByRole('group', { name: 'List rule', exact: true }).getByLabel('Expression').check()
    const rule = page.getByLabel('List rule expression')
    const describedBy = (await rule.getAttribute('aria-describedby'))!.split(' ')[0]
    const verdict = page.locator(`[id="${describedBy}"]`)
    await rule.fill('state = "published"')
    await expect.poll(() => verdict.textContent()).toMatch(/Unknown field 'state'/)
    expect(await rule.getAttribute('aria-invalid')).toBe('true')
    await checkpoint('04-posts-rule-error')
    await rule.fill('status = "published"')
    await expect.poll(() => verdict.textContent()).toMatch(/Valid/)
    expect(await rule.getAttribute('aria-invalid')).toBe('false')
    await page.getByRole('group', { name: 'View rule', exact: true }).getByLabel('Everyone').check()
    await checkpoint('04-new-posts')

    await page.getByRole('button', { name: 'Create collection' }).click()
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/collections/posts`)
    const saved = (await h.server.api('GET', '/api/collections/posts')).body
    const byName = Object.fromEntries(saved.fields.map((f: any) => [f.name, f]))
    expect(Object.keys(byName)).toEqual(['title', 'status', 'cover', 'author'])
    expect(byName.title).toMatchObject({ type: 'text', required: true })
    expect(byName.status).toMatchObject({ type: 'select', options: { values: ['draft', 'published'] } })
    expect(byName.cover).toMatchObject({ type: 'file', options: { bucket: 'covers' } })
    expect(byName.author).toMatchObject({
      type: 'relation',
      options: { collection: 'authors', onDelete: 'cascade' },
    })
    expect(saved.rules).toMatchObject({ list: 'status = "published"', view: '' })
    await checkpoint('04-posts-schema')
  })

  it('5. data: adds an author through the record form', async () => {
    await nav('Data').click()
    await page.getByRole('heading', { name: 'Data', exact: true }).waitFor()
    await page
      .getByRole('list', { name: 'Collections' })
      .getByRole('link', { name: /^authors/ })
      .click()
    await grid('authors').waitFor()
    await expect.poll(() => recordCount().textContent()).toMatch(/^0 records\b/)
    await page.getByRole('button', { name: 'New record' }).click()
    const form = page.getByRole('dialog', { name: 'New authors record' })
    // The required name, refused by the server when missing, in its words.
    await form.getByRole('button', { name: 'Create record' }).click()
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/name/i)
    await form.getByLabel('name *').fill('Ursula K. Le Guin')
    await checkpoint('05-author-form')
    await form.getByRole('button', { name: 'Create record' }).click()
    await form.waitFor({ state: 'detached' })
    await rowWith('Ursula K. Le Guin').waitFor()
    const authors = (await h.server.api('GET', '/api/collections/authors/records')).body.items
    expect(authors.map((a: { name: string }) => a.name)).toEqual(['Ursula K. Le Guin'])
    await checkpoint('05-authors')
  })

  it('6. data: adds posts with the form’s relation picker, and sets one’s status in the grid', async () => {
    await page.getByRole('combobox', { name: 'Collection' }).selectOption('posts')
    await grid('posts').waitFor()
    await expect.poll(() => recordCount().textContent()).toMatch(/^0 records\b/)
    const add = async (title: string, status: string | null, shot?: string) => {
      await page.getByRole('button', { name: 'New record' }).click()
      const form = page.getByRole('dialog', { name: 'New posts record' })
      await form.getByLabel('title *').fill(title)
      if (status) await form.getByLabel('status').selectOption(status)
      await form.getByLabel('Search authors for author').fill('Ursu')
      await form.getByRole('button', { name: 'Ursula K. Le Guin', exact: true }).click()
      await expect.poll(() => form.getByRole('button', { name: 'Remove Ursula K. Le Guin' }).count()).toBe(1)
      if (shot) await checkpoint(shot)
      await form.getByRole('button', { name: 'Create record' }).click()
      await form.waitFor({ state: 'detached' })
      await rowWith(title).waitFor()
    }
    await add('A Wizard of Earthsea', 'published', '06-post-form')
    await add('The Dispossessed', 'draft')
    await add('The Left Hand of Darkness', null)

    // The third one's status, set in the grid: double-click the cell, pick, Enter.
    const left = rowWith('The Left Hand of Darkness')
    await left.locator('td').nth(3).dblclick()
    const editor = page.getByRole('combobox', { name: 'Edit status' })
    await editor.selectOption('draft')
    await editor.press('Enter')
    await expect.poll(() => left.locator('td').nth(3).textContent()).toBe('draft')
    // The cell shows the value at once; the write lands with the record's version.
    const all = async () =>
      (await h.server.api('GET', '/api/collections/posts/records?perPage=50')).body.items
    await expect
      .poll(async () => (await all()).find((p: any) => p.title === 'The Left Hand of Darkness')?.version)
      .toBe(2)

    const author = (await h.server.api('GET', '/api/collections/authors/records')).body.items[0].id
    const posts = await all()
    for (const p of posts) postIds[p.title] = p.id
    expect(
      posts
        .map((p: any) => [p.title, p.status, p.author])
        .sort((a: string[], b: string[]) => a[0]!.localeCompare(b[0]!)),
    ).toEqual([
      ['A Wizard of Earthsea', 'published', author],
      ['The Dispossessed', 'draft', author],
      ['The Left Hand of Darkness', 'draft', author],
    ])
    // The list rule holds for visitors: they list the published post only.
    expect(await visibleTitles('anon')).toEqual(['A Wizard of Earthsea'])
    await checkpoint('06-posts')
  })

  it('7. data: filters the drafts', async () => {
    await applyFilter('status = "draft"')
    await expect.poll(() => recordCount().textContent()).toMatch(/^2 records\b/)
    await expect.poll(() => rowWith('A Wizard of Earthsea').count()).toBe(0)
    await rowWith('The Dispossessed').waitFor()
    await rowWith('The Left Hand of Darkness').waitFor()
    await checkpoint('07-filter')
  })

  it('8. data: an inline edit meets a colleague’s write; the 409 dialog shows both and keeps mine', async () => {
    const id = postIds['The Dispossessed']!
    const title = rowWith('The Dispossessed').locator('td').nth(2)
    await title.dblclick()
    const editor = page.getByRole('textbox', { name: 'Edit title' })
    // Meanwhile, a colleague publishes the post (it leaves this filtered view's live feed).
    const theirs = await h.server.api('PATCH', `/api/collections/posts/records/${id}`, {
      status: 'published',
    })
    expect(theirs.status).toBe(200)
    await editor.fill('The Dispossessed: An Ambiguous Utopia')
    await editor.press('Enter')
    const dialog = page.getByRole('dialog', { name: 'This record changed while you edited it' })
    await dialog.waitFor()
    expect(await dialog.getByTestId('mine-title').textContent()).toBe('The Dispossessed: An Ambiguous Utopia')
    expect(await dialog.getByTestId('server-title').textContent()).toBe('The Dispossessed')
    expect(await dialog.getByTestId('server-status').textContent()).toBe('published')
    await checkpoint('08-conflict')
    await dialog.getByRole('button', { name: 'Keep mine' }).click()
    await dialog.waitFor({ state: 'detached' })
    expect(await getPost(id)).toMatchObject({
      title: 'The Dispossessed: An Ambiguous Utopia',
      status: 'published',
      version: 3,
    })
    await expect.poll(() => title.textContent()).toBe('The Dispossessed: An Ambiguous Utopia')
    await checkpoint('08-conflict-resolved')
  })

  it('9. data: uploads an image into a post’s cover field, with progress', async () => {
    const id = postIds['The Left Hand of Darkness']!
    // A file cell is not edited in place: it opens the record's form.
    await rowWith('The Left Hand of Darkness').locator('td').nth(4).dblclick()
    const form = page.getByRole('dialog', { name: 'Edit record' })
    // The bucket takes images only: a text file is refused, in the server's words, and nothing changes.
    await form.getByLabel('Upload a file for cover').setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('not an image at all'),
    })
    await form.getByRole('button', { name: 'Save changes' }).click()
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/text\/plain/)
    await checkpoint('09-upload-refused')
    expect(await getPost(id)).toMatchObject({ cover: null, version: 2 })
    const png = noisePng(400, 300)
    await form.getByLabel('Upload a file for cover').setInputFiles({
      name: 'left-hand.png',
      mimeType: 'image/png',
      buffer: png,
    })
    await checkpoint('09-upload-form')
    // A slow uplink, so the progress is seen moving.
    const cdp = await h.context.newCDPSession(page)
    await cdp.send('Network.enable')
    const throttle = (uploadThroughput: number) =>
      cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput,
      })
    await throttle(100_000)
    try {
      await form.getByRole('button', { name: 'Save changes' }).click()
      const bar = form.getByRole('progressbar', { name: 'Upload progress' })
      await expect
        .poll(async () => {
          const [v, max] = await Promise.all([bar.getAttribute('value'), bar.getAttribute('max')])
          return Number(v) > 0 && Number(v) < Number(max)
        })
        .toBe(true)
      await h.screenshot('journey-09-upload-progress')
    } finally {
      await throttle(-1)
      await cdp.detach()
    }
    await form.waitFor({ state: 'detached' })
    const rec = await getPost(id)
    expect(rec.cover).toMatch(/left-hand.*\.png$/)
    const file = await h.server.api('GET', `/api/collections/posts/records/${id}/files/cover/${rec.cover}`)
    expect(file.status).toBe(200)
    expect(file.headers.get('content-type')).toMatch(/^image\/png/)
    await expect.poll(() => rowWith('The Left Hand of Darkness').textContent()).toContain('left-hand')
    await checkpoint('09-uploaded')
  })

  it('10. data: a post created over REST appears in the grid live', async () => {
    await applyFilter('')
    await expect.poll(() => recordCount().textContent()).toMatch(/^3 records\b/)
    const created = await h.server.api('POST', '/api/collections/posts/records', {
      title: 'Tehanu',
      status: 'draft',
      author: (await getPost(postIds['A Wizard of Earthsea']!)).author,
    })
    expect(created.status).toBe(201)
    postIds.Tehanu = created.body.id
    const row = rowWith('Tehanu')
    await row.waitFor()
    expect(await row.textContent()).toContain('new')
    await expect.poll(() => recordCount().textContent()).toMatch(/^4 records\b/)
    await checkpoint('10-live')
  })

  it('11. API keys: creates a key; it reads every post, where a visitor sees the published ones only', async () => {
    await nav('API keys').click()
    await page.getByRole('button', { name: 'New key' }).click()
    await page.getByLabel('Name').fill('journey reader')
    await page.getByRole('button', { name: 'Create key' }).click()
    const secret = await page.getByLabel('Secret').inputValue()
    expect(secret).toMatch(/^bst_sk_/)
    await checkpoint('11-key-secret')
    await page.getByRole('button', { name: 'Done' }).click()
    await expect
      .poll(() => page.getByRole('row', { name: /journey reader/ }).textContent())
      .toContain('records:read')
    expect(await visibleTitles(secret)).toEqual([
      'A Wizard of Earthsea',
      'Tehanu',
      'The Dispossessed: An Ambiguous Utopia',
      'The Left Hand of Darkness',
    ])
    expect(await visibleTitles('anon')).toEqual([
      'A Wizard of Earthsea',
      'The Dispossessed: An Ambiguous Utopia',
    ])
    // Read-only: the key cannot change the schema.
    const refused = await h.server.api(
      'POST',
      '/api/collections',
      { name: 'nope', fields: [] },
      { as: secret },
    )
    expect(refused.status).toBe(403)
    await checkpoint('11-keys')
  })

  it('12. users: creates a user, bans them, and their live session stops working', async () => {
    await nav('Users').click()
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'New user' }).click()
    const dialog = page.getByRole('dialog', { name: 'New user' })
    await dialog.getByLabel('Email', { exact: true }).fill(USER.email)
    await dialog.getByLabel('Name').fill('Tenar')
    await dialog.getByLabel('Password').fill(USER.password)
    await checkpoint('12-new-user')
    await dialog.getByRole('button', { name: 'Create user' }).click()
    await page.getByRole('heading', { name: USER.email, level: 1 }).waitFor()
    const userId = page.url().split('/').pop()!

    // The user signs in from their app.
    const signIn = () => h.server.api('POST', '/api/auth/sign-in/email', USER, { as: 'anon' })
    const first = await signIn()
    expect(first.status).toBe(200)
    const token = first.body.token as string
    const session = () => h.server.api('GET', '/api/auth/get-session', undefined, { as: token })
    expect((await session()).body?.user?.id).toBe(userId)

    await page.reload()
    await expect.poll(() => page.getByRole('table', { name: 'Sessions' }).getByRole('row').count()).toBe(2)
    await checkpoint('12-user')
    await page.getByRole('button', { name: 'Ban…' }).click()
    const ban = page.getByRole('dialog', { name: `Ban ${USER.email}` })
    await ban.getByLabel('Reason').fill('journey test')
    await checkpoint('12-ban')
    await ban.getByRole('button', { name: 'Ban user' }).click()
    await page.getByText(/Banned \(journey test\)/).waitFor()
    await page.getByText('No live session.').waitFor()
    const after = await session()
    expect(after.status === 200 && after.body?.user?.id === userId).toBe(false)
    expect((await signIn()).status).toBeGreaterThanOrEqual(400)
    await checkpoint('12-banned')
  })

  it('logged no error and broke no CSP rule anywhere on the way', () => {
    expect(h.problems).toEqual([])
  })
})
