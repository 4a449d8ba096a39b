import { generateKeyPairSync, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createClient } from '@bastide/sdk'
import { createCollection } from '@bastide/server/test/support/harness.ts'
import { type ApnsPeer, startApnsPeer } from '@bastide/server/test/support/push-peers/apns-peer.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * Issue 16's "done when", end to end: an admin stores APNs credentials in the console, an app registers its device
 * through the SDK, a record created in `messages` makes a function send a notification, which reaches the APNs peer
 * (HTTP/2, the ES256 provider token checked with the .p8's public key) and shows as sent in the console's delivery log.
 */
const TEAM = 'TEAM123456'
const KEY_ID = 'KEYID12345'
const BUNDLE = 'com.example.chat'

const NOTIFY = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({
  on: { record: { collection: 'messages', actions: ['create'] } },
  async handler(event, ctx) {
    const m = event.event.record
    await ctx.push.send({ to: { users: [m.to] }, title: 'New message', body: m.text, data: { message: m.id } })
  },
})
`

let h: ConsoleHarness
let apns: ApnsPeer
let caDir = ''
/** The .p8 the developer downloaded from Apple (PEM). */
let p8 = ''

beforeAll(async () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  apns = await startApnsPeer({ publicKey: key.publicKey, keyId: KEY_ID, teamId: TEAM, topics: [BUNDLE] })
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-push-ca-'))
  fs.writeFileSync(path.join(caDir, 'ca.pem'), apns.ca)
  h = await startConsole({
    env: { BASTIDE_PUSH_APNS_ORIGIN: apns.origin, BASTIDE_PUSH_CA_FILE: path.join(caDir, 'ca.pem') },
  })
  await setUpFirstAdmin(h)
  p8 = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}, 60_000)
afterAll(async () => {
  await h?.close()
  await apns?.close()
  if (caDir) fs.rmSync(caDir, { recursive: true, force: true })
})

describe('push, from the console to a device', () => {
  it('stores APNs credentials in the console, registers through the SDK, and a new message record is delivered', async () => {
    const { page } = h
    // 1. The developer stores the APNs key in the console.
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Push' }).click()
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Credentials' }).click()
    const card = page.getByRole('region', { name: 'APNs' })
    await card.getByLabel('Team id').fill(TEAM)
    await card.getByLabel('Key id').fill(KEY_ID)
    await card.getByLabel('Bundle id').fill(BUNDLE)
    await card.getByRole('textbox', { name: 'Private key (.p8)' }).fill(p8)
    await card.getByRole('button', { name: 'Save APNs' }).click()
    await card.getByText('APNs credentials saved.').waitFor()

    // The chat app's schema and its function (as `bastide functions deploy` would put them).
    await createCollection(h.server, {
      name: 'messages',
      fields: [
        { name: 'to', type: 'text', required: true },
        { name: 'text', type: 'text' },
      ],
      rules: { create: '@request.auth.id != ""' },
    })
    const deployed = await h.server.api('PUT', '/api/admin/functions/notify', { source: NOTIFY })
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201)

    // 2. Ana's phone registers its APNs token through the SDK.
    const ana = createClient({ url: h.origin })
    const { user } = await ana.auth.signUp({
      email: 'ana@example.com',
      password: 'a long enough password 1',
      name: 'Ana',
    })
    const token = randomBytes(32).toString('hex')
    const device = await ana.push.register({ provider: 'apns', token, appId: BUNDLE, locale: 'en' })
    expect(device).toMatchObject({ provider: 'apns', userId: user.id, environment: 'production' })

    // 3. Bob writes to Ana: the function sends her a notification.
    const bob = createClient({ url: h.origin })
    await bob.auth.signUp({ email: 'bob@example.com', password: 'a long enough password 2', name: 'Bob' })
    await bob.collection('messages').create({ to: user.id, text: 'Lunch at noon?' })
    await expect
      .poll(() => apns.accepted.filter((n) => n.token === token).length, { timeout: 60_000, interval: 100 })
      .toBe(1)
    const got = apns.accepted.find((n) => n.token === token)!
    expect(got.headers['apns-topic']).toBe(BUNDLE)
    expect(got.payload).toMatchObject({ aps: { alert: { title: 'New message', body: 'Lunch at noon?' } } })

    // 4. Visible as delivered in the console.
    await page.getByRole('navigation', { name: 'Push' }).getByRole('link', { name: 'Messages' }).click()
    const row = page.getByRole('table', { name: 'Messages' }).locator('tr[data-status="done"]')
    await row.waitFor({ timeout: 30_000 })
    expect(await row.textContent()).toContain('1 sent')
    expect(await row.textContent()).toContain('function:notify')
    await row.getByRole('link').first().click()
    const deliveries = page.getByRole('table', { name: 'Deliveries' })
    await deliveries.locator('tr[data-status="sent"]').waitFor()
    expect(await deliveries.textContent()).toContain(device.id)
    await h.screenshot('push-journey')
    expect(h.problems).toEqual([])
  })
})
