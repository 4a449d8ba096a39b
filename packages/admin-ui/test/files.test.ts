import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Locator, Page, Route } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

let h: ConsoleHarness
/** Files handed to the page, removed at the end. */
const tempDirs: string[] = []

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
})
afterAll(async () => {
  await h?.close()
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true })
})

/** Drops a PNG drawn on a canvas in the page onto `target`, as a user dragging a file from the desktop. */
async function dropImage(target: Locator, name: string, size = { width: 64, height: 48 }): Promise<void> {
  await target.evaluate(
    async (el, { name, size }) => {
      const canvas = document.createElement('canvas')
      canvas.width = size.width
      canvas.height = size.height
      const ctx = canvas.getContext('2d')!
      ctx.fillStyle = '#2f5bd3'
      ctx.fillRect(0, 0, size.width, size.height)
      ctx.fillStyle = '#f5b700'
      ctx.fillRect(size.width / 4, size.height / 4, size.width / 2, size.height / 2)
      const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'))
      const dt = new DataTransfer()
      dt.items.add(new File([blob], name, { type: 'image/png' }))
      el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
      el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    },
    { name, size },
  )
}

function upload(page: Page, key: string): Locator {
  return page.getByRole('region', { name: 'Uploads' }).getByRole('listitem').filter({ hasText: key })
}

async function naturalWidth(img: Locator): Promise<number> {
  await img.waitFor()
  await expect
    .poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth))
    .toBeGreaterThan(0)
  return img.evaluate((i: HTMLImageElement) => i.naturalWidth)
}

describe('buckets', () => {
  it('creates a bucket with limits, an image/* allow-list and rules; a bad rule shows the server’s error at its position', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Files' }).click()
    await page.getByRole('heading', { name: 'Files' }).waitFor()
    await page.getByText('No bucket yet').waitFor()
    await page.getByRole('button', { name: 'New bucket' }).click()
    const dialog = page.getByRole('dialog', { name: 'New bucket' })
    await dialog.getByLabel('Name').fill('photos')
    await dialog.getByLabel('Maximum file size').fill('5 MB')
    await dialog.getByRole('button', { name: 'image/*' }).click()
    await expect.poll(() => dialog.getByLabel('Allowed types').inputValue()).toBe('image/*')
    await dialog.getByLabel('Read rule', { exact: true }).selectOption('everyone')
    await dialog.getByLabel('Write rule', { exact: true }).selectOption('rule')
    await dialog.getByLabel('write rule expression').fill('owner = @request.auth.id && sise < 10')
    await dialog.getByRole('button', { name: 'Create bucket' }).click()
    // The server's words, and a caret under the offending name.
    await expect.poll(() => dialog.locator('.files-field-error').first().textContent()).toMatch(/sise/)
    const caret = await dialog.locator('.files-caret').textContent()
    expect(caret?.split('\n')[1]?.indexOf('^')).toBe('owner = @request.auth.id && '.length)
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/rules\.write/)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('files-bucket-rule-error')

    await dialog.getByLabel('write rule expression').fill('owner = @request.auth.id && size < 1000000')
    await dialog.getByRole('button', { name: 'Create bucket' }).click()
    // A new bucket opens.
    await expect.poll(() => page.url()).toBe(`${h.origin}/_/files/photos`)
    const b = (await h.server.api('GET', '/api/storage/buckets/photos')).body
    expect(b).toMatchObject({
      name: 'photos',
      public: false,
      maxFileSize: 5 * 1024 * 1024,
      allowedMimeTypes: ['image/*'],
      rules: { read: '', write: 'owner = @request.auth.id && size < 1000000', delete: null },
    })
  })

  it('lists buckets with their limits and edits their settings', async () => {
    const { page } = h
    await page.getByRole('link', { name: 'All buckets' }).click()
    const row = page.getByRole('row', { name: /photos/ })
    await expect.poll(() => row.textContent()).toMatch(/5\.0 MB.*image\/\*/)
    await page.getByRole('button', { name: 'Settings of photos' }).click()
    const dialog = page.getByRole('dialog', { name: 'Bucket “photos”' })
    expect(await dialog.getByLabel('Maximum file size').inputValue()).toBe('5 MB')
    await dialog.getByLabel('Public').check()
    await dialog.getByLabel('Delete rule', { exact: true }).selectOption('rule')
    await dialog.getByLabel('delete rule expression').fill('owner = @request.auth.id')
    await dialog.getByRole('button', { name: 'Save bucket' }).click()
    await expect.poll(() => row.textContent()).toContain('public')
    expect((await h.server.api('GET', '/api/storage/buckets/photos')).body).toMatchObject({
      public: true,
      rules: { delete: 'owner = @request.auth.id' },
    })
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('files-buckets')
    await page.setViewportSize({ width: 1024, height: 768 })
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1024)
    expect(await page.locator('main').evaluate((m) => m.scrollWidth <= m.clientWidth)).toBe(true)
    await page.setViewportSize({ width: 1280, height: 800 })
  })
})

describe('objects', () => {
  it('uploads an image by drag-and-drop with progress, and shows its thumbnail', async () => {
    const { page } = h
    await page.getByRole('link', { name: 'photos', exact: true }).click()
    await page.getByText('This bucket is empty.').waitFor()
    await dropImage(page.getByRole('region', { name: 'Upload files' }), 'cat.png', {
      width: 320,
      height: 240,
    })
    const item = upload(page, 'cat.png')
    await expect.poll(() => item.textContent()).toContain('done')
    expect(await item.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100')
    // The thumbnail is a server-made variant, 80 px wide at most.
    const thumb = page.getByRole('img', { name: 'Preview of cat.png' })
    expect(await naturalWidth(thumb)).toBe(80)
    const listed = (await h.server.api('GET', '/api/storage/buckets/photos/objects')).body.items
    expect(listed.map((o: { key: string; mimeType: string }) => [o.key, o.mimeType])).toEqual([
      ['cat.png', 'image/png'],
    ])
  })

  it('shows the server’s message when the bucket refuses a type', async () => {
    const { page } = h
    await page.getByLabel('Choose files to upload').setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('not an image at all'),
    })
    const item = upload(page, 'notes.txt')
    await expect.poll(() => item.getByRole('alert').textContent()).toMatch(/does not accept text\/plain/)
    expect(await item.textContent()).toContain('failed')
    // Said before sending, from the browser's guess; the refusal above is the server's, from the bytes.
    expect(await item.textContent()).toContain(
      'The browser calls this text/plain, which the bucket does not list',
    )
    expect(await page.getByLabel('Choose files to upload').getAttribute('accept')).toBe('image/*')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('files-upload-refused')
    await page.getByRole('button', { name: 'Clear finished' }).click()
    await expect.poll(() => page.getByRole('region', { name: 'Uploads' }).count()).toBe(0)
  })

  it('browses into a prefix like a folder, with a breadcrumb', async () => {
    const { page } = h
    await page.getByLabel('Folder to open or create').fill('trips/2024')
    await page.getByRole('button', { name: 'Open folder' }).click()
    await expect.poll(() => page.url()).toContain('prefix=trips%2F2024%2F')
    await page.getByText('Nothing in this folder yet').waitFor()
    await dropImage(page.getByRole('region', { name: 'Upload files' }), 'beach.png')
    await expect.poll(() => upload(page, 'trips/2024/beach.png').textContent()).toContain('done')
    await page.getByRole('button', { name: 'beach.png', exact: true }).waitFor()
    // Up to the root through the breadcrumb: the folder stands for what is under it.
    const crumbs = page.getByRole('navigation', { name: 'Folder path' })
    expect(await crumbs.getByRole('link').allTextContents()).toEqual(['photos/', 'trips'])
    await crumbs.getByRole('link', { name: 'photos/' }).click()
    await page.getByRole('link', { name: 'Folder trips' }).click()
    await page.getByRole('link', { name: 'Folder 2024' }).click()
    await page.getByRole('button', { name: 'beach.png', exact: true }).waitFor()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('files-browse-prefix')
    // Usable at 1024 px, in the dark theme too.
    await page.setViewportSize({ width: 1024, height: 768 })
    await page.getByRole('button', { name: 'Switch to the dark theme' }).click()
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1024)
    expect(await page.locator('main').evaluate((m) => m.scrollWidth <= m.clientWidth)).toBe(true)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('files-browse-dark-1024')
    await page.getByRole('button', { name: 'Switch to the light theme' }).click()
    await page.setViewportSize({ width: 1280, height: 800 })
    await crumbs.getByRole('link', { name: 'photos/' }).click()
    await page.getByRole('button', { name: 'cat.png', exact: true }).waitFor()
  })

  it('shows an object’s details and full image, and copies a signed URL that works without credentials', async () => {
    const { page } = h
    await h.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.origin })
    await page.getByRole('button', { name: 'cat.png', exact: true }).click()
    const dialog = page.getByRole('dialog', { name: 'cat.png' })
    expect(await naturalWidth(dialog.getByRole('img', { name: 'Image cat.png' }))).toBe(320)
    const sha = (await h.server.api('GET', '/api/storage/buckets/photos/objects')).body.items[0].sha256
    expect(await dialog.textContent()).toContain(`"${sha}"`)
    await dialog.getByLabel('Expires in').selectOption({ label: '5 minutes' })
    await dialog.getByRole('button', { name: 'Create and copy signed URL' }).click()
    const url = await dialog.getByLabel('Signed URL').inputValue()
    expect(url).toMatch(/\/api\/storage\/buckets\/photos\/objects\/cat\.png\?token=/)
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(url)
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/png')
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('files-object-details')
    await dialog.getByRole('button', { name: 'Close' }).click()
  })

  it('deletes objects after confirmation, one or many', async () => {
    const { page } = h
    await dropImage(page.getByRole('region', { name: 'Upload files' }), 'dog.png')
    await page.getByRole('button', { name: 'dog.png', exact: true }).waitFor()
    await dropImage(page.getByRole('region', { name: 'Upload files' }), 'bird.png')
    await page.getByRole('button', { name: 'bird.png', exact: true }).click()
    await page.getByRole('dialog', { name: 'bird.png' }).getByRole('button', { name: 'Close' }).click()
    await page.getByRole('button', { name: 'Delete bird.png' }).click()
    const one = page.getByRole('dialog', { name: 'Delete “bird.png”?' })
    await one.getByRole('button', { name: 'Delete object' }).click()
    await expect.poll(() => one.getByRole('status').textContent()).toBe('Deleted 1 object.')
    await one.getByRole('button', { name: 'Done' }).click()
    await expect.poll(() => page.getByRole('button', { name: 'bird.png', exact: true }).count()).toBe(0)
    await page.getByLabel('Select cat.png').check()
    await page.getByLabel('Select dog.png').check()
    await page.getByRole('button', { name: 'Delete selected (2)' }).click()
    const confirm = page.getByRole('dialog', { name: 'Delete 2 objects?' })
    expect(await confirm.textContent()).toMatch(/cat\.png.*dog\.png/)
    await confirm.getByRole('button', { name: 'Delete 2 objects' }).click()
    await expect.poll(() => confirm.getByRole('status').textContent()).toBe('Deleted 2 objects.')
    await confirm.getByRole('button', { name: 'Done' }).click()
    await expect.poll(() => page.getByRole('button', { name: 'cat.png', exact: true }).count()).toBe(0)
    await expect.poll(() => page.getByRole('button', { name: 'dog.png', exact: true }).count()).toBe(0)
    const keys = (await h.server.api('GET', '/api/storage/buckets/photos/objects')).body.items.map(
      (o: { key: string }) => o.key,
    )
    expect(keys).toEqual(['trips/2024/beach.png'])
  })

  it('refuses to delete a bucket that holds objects with the server’s 409; emptied by deleting a folder, it goes', async () => {
    const { page } = h
    await page.getByRole('link', { name: 'All buckets' }).click()
    // The listing counts the objects it holds.
    const objects = page
      .getByRole('row', { name: /photos/ })
      .getByRole('cell')
      .nth(2)
    await expect.poll(() => objects.textContent()).toBe('1')
    await page.getByRole('button', { name: 'Delete photos' }).click()
    const confirm = page.getByRole('dialog', { name: 'Delete bucket “photos”?' })
    const button = confirm.getByRole('button', { name: 'Delete bucket' })
    expect(await button.isDisabled()).toBe(true)
    await confirm.getByLabel('Type “photos” to confirm').fill('photos')
    await button.click()
    await expect.poll(() => confirm.getByRole('alert').textContent()).toMatch(/still holds objects.*CONFLICT/)
    await h.screenshot('files-bucket-delete-refused')
    await confirm.getByRole('button', { name: 'Cancel' }).click()

    // Emptied through the console: a folder goes with everything under it, with progress.
    await page.getByRole('link', { name: 'photos', exact: true }).click()
    await page.getByRole('button', { name: 'Delete folder trips' }).click()
    const folder = page.getByRole('dialog', { name: 'Delete folder “trips/”?' })
    const del = folder.getByRole('button', { name: 'Delete folder' })
    expect(await del.isDisabled()).toBe(true)
    await folder.getByLabel('Type “trips” to confirm').fill('trips')
    await del.click()
    await expect.poll(() => folder.getByRole('status').textContent()).toBe('Deleted 1 object.')
    expect(await folder.getByRole('progressbar').getAttribute('aria-valuetext')).toBe('1 deleted')
    await folder.getByRole('button', { name: 'Done' }).click()
    await page.getByText('This bucket is empty.').waitFor()

    await page.getByRole('link', { name: 'All buckets' }).click()
    await page.getByRole('button', { name: 'Delete photos' }).click()
    await confirm.getByLabel('Type “photos” to confirm').fill('photos')
    await button.click()
    await expect.poll(() => confirm.count()).toBe(0)
    await page.getByText('No bucket yet').waitFor()
    expect((await h.server.api('GET', '/api/storage/buckets/photos')).status).toBe(404)
  })
})

describe('pagination', () => {
  it('pages through a bucket 50 entries at a time, a big folder shown once', async () => {
    const { page } = h
    expect((await h.server.api('POST', '/api/storage/buckets', { name: 'docs' })).status).toBe(201)
    const put = (key: string) =>
      h.server.api('PUT', `/api/storage/buckets/docs/objects/${key}`, `text of ${key}`, {
        headers: { 'content-type': 'text/plain' },
      })
    const pad = (i: number) => String(i).padStart(3, '0')
    for (let i = 0; i < 60; i++) expect((await put(`logs/${pad(i)}.txt`)).status).toBe(201)
    for (let i = 0; i < 70; i++) expect((await put(`n${pad(i)}.txt`)).status).toBe(201)
    await page.goto(`${h.origin}/_/files/docs`)
    const names = () =>
      page
        .locator('table tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.querySelector('td:nth-child(3)')?.textContent?.trim()))
    await page.getByRole('link', { name: 'Folder logs' }).waitFor()
    const first = await names()
    expect(first).toEqual(['logs/', ...Array.from({ length: 49 }, (_, i) => `n${pad(i)}.txt`)])
    const pager = page.getByRole('navigation', { name: 'Object pages' })
    await pager.getByRole('button', { name: 'Next' }).click()
    await expect.poll(names).toEqual(Array.from({ length: 21 }, (_, i) => `n${pad(i + 49)}.txt`))
    expect(await pager.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true)
    await pager.getByRole('button', { name: 'Previous' }).click()
    await expect.poll(names).toEqual(first)
  })
})

describe('large files', () => {
  it('uploads a large file through tus with progress, pause and resume', async () => {
    const { page } = h
    expect((await h.server.api('POST', '/api/storage/buckets', { name: 'videos' })).status).toBe(201)
    await page.goto(`${h.origin}/_/files/videos`)
    await page.getByText('This bucket is empty.').waitFor()
    // The second chunk waits until the test lets it go: progress is seen mid-way, and pause lands mid-way.
    let held: Route | undefined
    let release: () => void = () => {}
    const heldOnce = new Promise<void>((resolve) => {
      void page.route('**/api/storage/uploads/**', async (route) => {
        const req = route.request()
        if (req.method() === 'PATCH' && req.headers()['upload-offset'] !== '0' && !held) {
          held = route
          resolve()
          await new Promise<void>((r) => {
            release = r
          })
          await route.abort().catch(() => {})
          return
        }
        await route.continue()
      })
    })
    const size = 12 * 1024 * 1024 + 123
    const bytes = Buffer.alloc(size)
    for (let i = 0; i < size; i += 4096) bytes[i] = i % 251
    // From a file, not a buffer: Chromium reads a path itself, while 12 MiB of buffer cross the DevTools protocol as
    // base64 (over 15 s on a loaded machine).
    // The page reads the file as it uploads it: it is removed after all tests.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-upload-'))
    tempDirs.push(dir)
    const file = path.join(dir, 'clip.bin')
    fs.writeFileSync(file, bytes)
    await page.getByLabel('Choose files to upload').setInputFiles(file)
    const item = upload(page, 'clip.bin')
    await heldOnce
    expect(await item.textContent()).toContain('resumable')
    const bar = item.getByRole('progressbar')
    await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow'))).toBeGreaterThanOrEqual(60)
    const mid = Number(await bar.getAttribute('aria-valuenow'))
    expect(mid).toBeLessThan(100)
    await h.screenshot('files-upload-resumable')
    await item.getByRole('button', { name: 'Pause clip.bin' }).click()
    await expect.poll(() => item.textContent()).toContain('paused')
    release()
    await page.unroute('**/api/storage/uploads/**')
    // The server kept the first chunk: resuming continues from there.
    await item.getByRole('button', { name: 'Resume clip.bin' }).click()
    await expect.poll(() => item.textContent()).toContain('done')
    expect(await bar.getAttribute('aria-valuenow')).toBe('100')
    await page.getByRole('button', { name: 'clip.bin', exact: true }).waitFor()
    const [obj] = (await h.server.api('GET', '/api/storage/buckets/videos/objects')).body.items
    expect(obj).toMatchObject({ key: 'clip.bin', size })
    const { createHash } = await import('node:crypto')
    expect(obj.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
  })

  it('continues an upload cut by a reload when the same file is chosen again', async () => {
    const { page } = h
    const fs = await import('node:fs')
    const os = await import('node:os')
    const path = await import('node:path')
    const size = 10 * 1024 * 1024 + 7
    const bytes = Buffer.alloc(size, 7)
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-files-')), 'reload.bin')
    fs.writeFileSync(file, bytes)
    let held = false
    let reached: () => void = () => {}
    const heldOnce = new Promise<void>((r) => {
      reached = r
    })
    await page.route('**/api/storage/uploads/**', async (route) => {
      if (
        route.request().method() === 'PATCH' &&
        route.request().headers()['upload-offset'] !== '0' &&
        !held
      ) {
        held = true
        reached()
        return // never answered: the reload cuts it
      }
      await route.continue()
    })
    await page.getByLabel('Choose files to upload').setInputFiles(file)
    await heldOnce
    // Leaving with an upload running asks first (when the browser shows it): the test says leave.
    const leave = (d: import('playwright-core').Dialog) => void d.accept()
    page.on('dialog', leave)
    await page.reload()
    page.off('dialog', leave)
    await page.unrouteAll({ behavior: 'ignoreErrors' })
    const seen: string[] = []
    page.on('request', (r) => {
      if (r.url().includes('/api/storage/uploads'))
        seen.push(`${r.method()} ${r.headers()['upload-offset'] ?? ''}`.trim())
    })
    await page.getByLabel('Choose files to upload').setInputFiles(file)
    await expect.poll(() => upload(page, 'reload.bin').textContent()).toContain('done')
    // No new upload was created: it asked where the server stood and sent the rest.
    expect(seen).toEqual(['HEAD', `PATCH ${8 * 1024 * 1024}`])
    const obj = (await h.server.api('GET', '/api/storage/buckets/videos/objects?prefix=reload.bin')).body
      .items[0]
    const { createHash } = await import('node:crypto')
    expect(obj).toMatchObject({ key: 'reload.bin', size })
    expect(obj.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
  })

  it('logged no error and broke no CSP rule on any page', () => {
    expect(h.problems).toEqual([])
  })
})
