import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * The Webhooks pages: a webhook created with its collection, changes and URL (the secret shown once), its
 * deliveries with status, attempts and response code, a test ping, redelivery. A real receiver on loopback
 * (allow-listed) answers 500 until told otherwise.
 */
let h: ConsoleHarness
let receiver: Server
let base = ''
let status = 500
const got: { event: string; id: string }[] = []

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => {
      raw += c
    })
    req.on('end', () => {
      const body = JSON.parse(raw)
      got.push({ event: body.event, id: body.id })
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'thanks' : 'broken')
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  h = await startConsole({
    env: {
      BASTIDE_WEBHOOKS_ALLOW_HOSTS: '127.0.0.1',
      BASTIDE_WEBHOOKS_RETRIES: '0',
      BASTIDE_WEBHOOKS_RETRY_DELAY_SECONDS: '1',
    },
  })
  await setUpFirstAdmin(h)
  const c = await h.server.api('POST', '/api/collections', {
    name: 'orders',
    fields: [{ name: 'total', type: 'number' }],
  })
  expect(c.status).toBe(201)
})
afterAll(async () => {
  await h?.close()
  receiver?.closeAllConnections()
  await new Promise((resolve) => receiver?.close(resolve))
})

describe('webhooks pages', () => {
  it('creates a webhook and shows its secret once', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Webhooks' }).click()
    await page.getByText('No webhook yet.').waitFor()
    await page.getByRole('button', { name: 'New webhook' }).click()
    const dialog = page.getByRole('dialog', { name: 'New webhook' })
    await dialog.getByLabel('URL').fill(`${base}/orders`)
    await dialog.getByLabel('Collection').selectOption('orders')
    await dialog.getByRole('checkbox', { name: 'record.deleted' }).uncheck()
    await dialog.getByRole('button', { name: 'Create webhook' }).click()
    const created = page.getByRole('dialog', { name: 'Webhook created' })
    const secret = await created.getByLabel('Signing secret').inputValue()
    expect(secret).toMatch(/^whsec_/)
    expect(await axeViolations(page)).toEqual([])
    await created.getByRole('button', { name: 'Done' }).click()
    const table = page.getByRole('table', { name: 'Webhooks' })
    await table.getByRole('link', { name: `${base}/orders` }).waitFor()
    expect(await table.textContent()).toContain('create, update')
    expect(await page.content()).not.toContain(secret)
  })

  it('shows deliveries with their attempts, pings, and redelivers once the receiver recovers', async () => {
    const { page } = h
    expect((await h.server.api('POST', '/api/collections/orders/records', { total: 12 })).status).toBe(201)
    await page.getByRole('link', { name: `${base}/orders` }).click()
    await page.getByRole('heading', { name: 'Webhook' }).waitFor()
    const deliveries = page.getByRole('table', { name: 'Deliveries' })
    const failed = deliveries.locator('tr[data-status="failed"]')
    await failed.waitFor({ timeout: 30_000 })
    expect(await failed.textContent()).toContain('record.created')
    expect(await failed.textContent()).toContain('HTTP 500')
    status = 200
    await failed.getByRole('button', { name: /Redeliver/ }).click()
    await deliveries.locator('tr[data-status="delivered"]').waitFor({ timeout: 30_000 })
    expect(new Set(got.map((g) => g.id)).size).toBe(1)

    await page.getByRole('button', { name: 'Send test ping' }).click()
    await page.getByRole('status').filter({ hasText: 'Test ping delivered' }).waitFor()
    expect(got.at(-1)?.event).toBe('ping')
    expect(await axeViolations(page)).toEqual([])
    expect(h.problems).toEqual([])
  })
})
