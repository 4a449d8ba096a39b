import { generateKeyPairSync, randomBytes } from 'node:crypto'
import {
  startUnifiedPushReceiver,
  type UnifiedPushReceiver,
} from '@bastide/server/test/support/push-peers/unifiedpush-receiver.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * The Push pages against a real server: credentials (write-only secrets, the server's 400 at its field), topics,
 * devices, a test send delivered to a real UnifiedPush endpoint on loopback (allow-listed) and watched in the
 * delivery log, a scheduled message canceled, a device revoked.
 */
let h: ConsoleHarness
let up: UnifiedPushReceiver
let deviceId = ''

beforeAll(async () => {
  up = await startUnifiedPushReceiver()
  h = await startConsole({
    env: { BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1', BASTIDE_PUSH_RETRIES: '0' },
  })
  await setUpFirstAdmin(h)
  deviceId = `console-${randomBytes(8).toString('hex')}`
  const r = await h.server.api(
    'POST',
    '/api/push/devices',
    {
      id: deviceId,
      provider: 'unifiedpush',
      token: up.endpoint('phone'),
      appId: 'com.example.app',
      locale: 'fr',
    },
    { as: 'anon' },
  )
  expect(r.status, JSON.stringify(r.body)).toBe(201)
})
afterAll(async () => {
  await h?.close()
  await up?.close()
})

describe('push pages', () => {
  it('saves credentials, keeps secrets write-only, and shows the server’s problem at its field', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Push' }).click()
    await page.getByRole('heading', { name: 'Push messages' }).waitFor()
    await page.getByText('No message yet').waitFor()
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Credentials' }).click()

    const web = page.getByRole('region', { name: 'Web Push' })
    await web.getByLabel('Subject').fill('mailto:ops@example.com')
    await web.getByRole('button', { name: 'Save Web Push' }).click()
    await web.getByText('configured', { exact: true }).waitFor()
    expect(await web.getByLabel('VAPID public key').inputValue()).toMatch(/^[A-Za-z0-9_-]{80,}$/)

    const apns = page.getByRole('region', { name: 'APNs' })
    await apns.getByLabel('Team id').fill('ABCDE12345')
    await apns.getByLabel('Key id').fill('KEY1234567')
    await apns.getByLabel('Bundle id').fill('com.example.app')
    const key = apns.getByRole('textbox', { name: 'Private key (.p8)' })
    await key.fill('not a key')
    await apns.getByRole('button', { name: 'Save APNs' }).click()
    await expect.poll(() => key.getAttribute('aria-invalid')).toBe('true')
    const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
    await key.fill(pem)
    await apns.getByRole('button', { name: 'Save APNs' }).click()
    await apns.getByText('APNs credentials saved.').waitFor()
    expect(await key.inputValue()).toBe('')
    expect(await key.getAttribute('placeholder')).toContain('Stored')
    expect(await page.content()).not.toContain('BEGIN PRIVATE KEY-----\nMI')
    const status = await h.server.api('GET', '/api/admin/push/credentials')
    expect(status.body.apns).toMatchObject({ teamId: 'ABCDE12345', keyId: 'KEY1234567' })

    await apns.getByRole('button', { name: 'Remove APNs' }).click()
    await page
      .getByRole('dialog', { name: 'Remove the APNs credentials?' })
      .getByRole('button', { name: 'Remove APNs' })
      .click()
    await apns.getByText('not configured').waitFor()
    await h.screenshot('push-credentials')
    expect(await axeViolations(page)).toEqual([])
  })

  it('creates and edits a topic, and lists the device with it', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Topics' }).click()
    await page.getByText('No topic yet.').waitFor()
    await page.getByRole('button', { name: 'New topic' }).click()
    const dialog = page.getByRole('dialog', { name: 'New topic' })
    await dialog.getByLabel('Name').fill('news')
    await dialog.getByLabel('Description').fill('Breaking news')
    await dialog.getByLabel('Anyone, anonymous devices included').check()
    await dialog.getByRole('button', { name: 'Create topic' }).click()
    const row = page.getByRole('table', { name: 'Topics' }).locator('tr[data-topic="news"]')
    await row.getByText('anyone').waitFor()

    await row.getByRole('button', { name: 'Edit news' }).click()
    const edit = page.getByRole('dialog', { name: 'Edit topic news' })
    await edit.getByLabel('Signed-in users matching a rule').check()
    await edit.getByLabel('Subscribe rule').fill('verified = true')
    await edit.getByRole('button', { name: 'Save' }).click()
    await row.getByText('verified = true').waitFor()

    const sub = await h.server.api('POST', '/api/admin/push/topics/news/subscriptions', {
      devices: [deviceId],
    })
    expect(sub.status, JSON.stringify(sub.body)).toBe(200)
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Devices' }).click()
    const device = page.getByRole('table', { name: 'Devices' }).locator(`tr[data-device="${deviceId}"]`)
    await device.waitFor()
    const text = await device.textContent()
    expect(text).toContain('unifiedpush')
    expect(text).toContain('com.example.app')
    expect(text).toContain('news')
    expect(text).toContain('anonymous')
    expect(await axeViolations(page)).toEqual([])
  })

  it('sends to a topic and follows the message until its delivery is sent', async () => {
    const { page } = h
    // A ruled topic reaches only devices whose user passes its rule at send time: open it to the anonymous device.
    const open = await h.server.api('PATCH', '/api/admin/push/topics/news', { subscribeRule: '' })
    expect(open.status, JSON.stringify(open.body)).toBe(200)
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Send' }).click()
    const form = page.getByRole('form', { name: 'Send a push' })
    await form.getByLabel('Topic subscribers').check()
    await form.getByRole('button', { name: 'Send message' }).click()
    // Checked before asking the server: no topic, no title or body.
    await form.getByText('Choose a topic.').waitFor()
    await h.screenshot('push-send')
    await form.getByLabel('Topic', { exact: true }).fill('news')
    await form.getByLabel('Title').fill('Hello')
    await form.getByLabel('Body').fill('From the console')
    await form.getByRole('button', { name: 'Add data' }).click()
    await form.getByLabel('Key 1').fill('order')
    await form.getByLabel('Value 1').fill('42')
    await form.getByRole('button', { name: 'Send message' }).click()

    await page.getByRole('heading', { name: 'Push message' }).waitFor()
    const deliveries = page.getByRole('table', { name: 'Deliveries' })
    await deliveries.locator('tr[data-status="sent"]').waitFor({ timeout: 30_000 })
    expect(await deliveries.textContent()).toContain(deviceId)
    await expect.poll(() => page.locator('dd[data-count="Sent"]').textContent()).toBe('1')
    const got = up.received.filter((r) => r.endpoint === 'phone')
    expect(got).toHaveLength(1)
    expect(got[0]!.body).toMatchObject({ title: 'Hello', body: 'From the console', data: { order: '42' } })
    await h.screenshot('push-message')

    await page.getByRole('link', { name: 'All messages' }).click()
    const row = page.getByRole('table', { name: 'Messages' }).locator('tr[data-status="done"]')
    await row.waitFor({ timeout: 30_000 })
    expect(await row.textContent()).toContain('1 sent')
    expect(await row.textContent()).toContain('topic news')
    await h.screenshot('push-messages')
    expect(await axeViolations(page)).toEqual([])
  })

  it('schedules a message and cancels it', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Send' }).click()
    const form = page.getByRole('form', { name: 'Send a push' })
    // The server's 400 lands at the field it names (to.users.0).
    const users = form.getByLabel('User ids')
    await users.fill('not-a-user')
    await form.getByLabel('Title').fill('Nobody')
    await form.getByRole('button', { name: 'Send message' }).click()
    await form.getByText('must be a user id').waitFor()
    expect(await users.getAttribute('aria-invalid')).toBe('true')
    await form.getByLabel('Every device').check()
    await form.getByLabel('Title').fill('Later')
    const tomorrow = new Date(Date.now() + 86_400_000)
    const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000)
      .toISOString()
      .slice(0, 16)
    await form.getByLabel('Send at').fill(local)
    await form.getByRole('button', { name: 'Schedule message' }).click()
    await page.getByRole('heading', { name: 'Push message' }).waitFor()
    await page.getByRole('region', { name: /Later/ }).getByText('scheduled').waitFor()
    await page.getByRole('button', { name: 'Cancel message' }).click()
    await page
      .getByRole('dialog', { name: 'Cancel this message?' })
      .getByRole('button', { name: 'Cancel message' })
      .click()
    await page.getByRole('region', { name: /Later/ }).getByText('canceled').waitFor()
    expect(await axeViolations(page)).toEqual([])
  })

  it('revokes a device', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Devices' }).click()
    const table = page.getByRole('table', { name: 'Devices' })
    await table.getByRole('button', { name: `Revoke ${deviceId}` }).click()
    await page
      .getByRole('dialog', { name: 'Revoke this device?' })
      .getByRole('button', { name: 'Revoke device' })
      .click()
    await page.getByText(`Device ${deviceId} revoked.`).waitFor()
    await page.getByText('No device yet').waitFor()
    expect((await h.server.api('GET', `/api/admin/push/devices/${deviceId}`)).status).toBe(404)
    expect(h.problems).toEqual([])
  })
})
