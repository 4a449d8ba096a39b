import { type BastideClient, createClient } from '@bastide/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * The realtime inspector against a real server: REST-created records appear in the live stream (filtered when
 * asked), pause holds them back, and a channel joined from the console shows an app user's presence live.
 */
let h: ConsoleHarness
let user: BastideClient | undefined

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
  for (const name of ['notes', 'tasks']) {
    const r = await h.server.api('POST', '/api/collections', {
      name,
      fields: [{ name: 'title', type: 'text' }],
      rules: { list: '', view: '', create: '', update: '', delete: '' },
    })
    expect(r.status).toBe(201)
  }
})
afterAll(async () => {
  user?.close()
  await h?.close()
})

const create = async (collection: string, title: string) => {
  const r = await h.server.api('POST', `/api/collections/${collection}/records`, { title })
  expect(r.status).toBe(201)
  return r.body as { id: string }
}

describe('change stream', () => {
  it('shows a REST-created, updated and deleted record as it happens', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Realtime' }).click()
    await page.getByRole('heading', { name: 'Realtime', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Start listening' }).click()
    const status = page.getByText(/^Listening to /)
    await expect.poll(() => status.textContent()).toMatch(/\((\d+)\/\1 ready\)/)
    const rec = await create('notes', 'hello from REST')
    const events = page.getByRole('list', { name: 'Change events' }).getByRole('listitem')
    await expect.poll(() => events.first().textContent()).toMatch(new RegExp(`create.*notes.*${rec.id}`))
    expect(
      (await h.server.api('PATCH', `/api/collections/notes/records/${rec.id}`, { title: 'edited' })).status,
    ).toBe(200)
    expect((await h.server.api('DELETE', `/api/collections/notes/records/${rec.id}`)).status).toBe(204)
    await expect
      .poll(async () => (await events.locator('.realtime-action').allTextContents()).slice(0, 3))
      .toEqual(['delete', 'update', 'create'])
    // The record itself, expanded.
    await events.nth(1).getByRole('button').click()
    await expect.poll(() => events.nth(1).textContent()).toContain('"title": "edited"')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('realtime-stream')
  })

  it('narrows to picked collections and a filter; pause holds events back, clear empties the list', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByLabel('All collections').uncheck()
    await page.getByLabel('tasks').check()
    await page.getByLabel('Filter').fill("title ~ 'urgent'")
    await page.getByRole('button', { name: 'Apply' }).click()
    await expect
      .poll(() => page.getByText(/^Listening to /).textContent())
      .toMatch(/tasks where .*\(1\/1 ready\)/)
    await create('notes', 'urgent but in notes')
    await create('tasks', 'not that one')
    const wanted = await create('tasks', 'urgent: ship it')
    const events = page.getByRole('list', { name: 'Change events' }).getByRole('listitem')
    await expect.poll(() => events.count()).toBe(1)
    expect(await events.first().textContent()).toContain(wanted.id)

    await page.getByRole('button', { name: 'Pause' }).click()
    const held = await create('tasks', 'urgent, while paused')
    await page.getByRole('button', { name: 'Resume (1 waiting)' }).waitFor()
    expect(await events.count()).toBe(1)
    await page.getByRole('button', { name: 'Resume (1 waiting)' }).click()
    await expect.poll(() => events.first().textContent()).toContain(held.id)
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByText('Waiting for changes…').waitFor()
  })

  it('shows the server’s message for a filter it refuses', async () => {
    const { page } = h
    await page.getByLabel('Filter').fill('nosuchfield = 1')
    await page.getByRole('button', { name: 'Apply' }).click()
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/nosuchfield/)
  })
})

describe('channels', () => {
  it('lists channel definitions and shows a channel’s presence live as members join and leave', async () => {
    const { page } = h
    const def = await h.server.api('POST', '/api/realtime/channels', {
      pattern: 'room:*',
      rules: { join: "@request.auth.id != ''", send: null },
    })
    expect(def.status).toBe(201)
    const signUp = await h.server.api(
      'POST',
      '/api/auth/sign-up/email',
      { email: 'grace@example.com', password: 'compiler pioneer 1952', name: 'Grace' },
      { as: 'anon' },
    )
    expect(signUp.status).toBe(200)

    await page.getByRole('tab', { name: 'Channels' }).click()
    const defs = page.getByRole('table', { name: 'Channel definitions' })
    await expect.poll(() => defs.textContent()).toContain('room:*')
    await defs.getByRole('button', { name: 'Inspect a channel of room:*' }).click()
    expect(await page.getByLabel('Channel name').inputValue()).toBe('room:')
    await page.getByLabel('Channel name').fill('room:42')
    await page.getByRole('button', { name: 'Join and watch' }).click()
    const presence = page.getByRole('table', { name: 'Presence' })
    // The console watches without a presence state of its own.
    await page.getByText('Nobody has published a presence state here.').waitFor()
    expect(await presence.getByRole('row').count()).toBe(1)

    user = createClient({ url: h.origin })
    await user.auth.signInWithPassword({ email: 'grace@example.com', password: 'compiler pioneer 1952' })
    const room = user.realtime.channel<{ typing: boolean }>('room:42')
    await room.join()
    await room.track({ typing: true })
    await expect.poll(() => presence.getByRole('row').count()).toBe(2)
    await expect.poll(() => presence.textContent()).toContain(signUp.body.user.id)
    await expect.poll(() => presence.textContent()).toContain('{"typing":true}')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('realtime-presence')

    await room.leave()
    await expect.poll(() => presence.getByRole('row').count()).toBe(1)
    await page.getByRole('button', { name: 'Leave' }).click()
    expect(await presence.count()).toBe(0)
  })

  it('logged no error and broke no CSP rule', () => {
    expect(h.problems).toEqual([])
  })
})
