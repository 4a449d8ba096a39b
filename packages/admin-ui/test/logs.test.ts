import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/** The request log page: every API request, filters, a bad filter's message, jump to one request, live tail. */
let h: ConsoleHarness

async function flushed() {
  await h.server.bastide.scheduler.runNow('metrics', 'flush-request-log')
  await h.server.bastide.scheduler.runNow('metrics', 'flush-request-log')
}

/** A request under a known X-Request-Id, as the admin key. */
const call = (method: string, path: string, id: string, body?: unknown) =>
  h.server.api(method, path, body, { headers: { 'x-request-id': id } })

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
  const def = { name: 'probe', fields: [{ name: 'n', type: 'number' }] }
  expect((await call('POST', '/api/collections', 'make-probe', def)).status).toBe(201)
  expect((await call('GET', '/api/collections/probe/records', 'list-probe')).status).toBe(200)
  expect((await call('POST', '/api/collections/probe/records', 'write-probe', { n: 1 })).status).toBe(201)
  expect((await call('GET', '/api/collections/probe/records/missing', 'miss-probe')).status).toBe(404)
  await flushed()
})
afterAll(async () => {
  await h?.close()
})

describe('request log page', () => {
  const rows = () => h.page.getByRole('table', { name: 'Requests' }).getByRole('row')

  it('lists requests newest first and filters them by path, status and method', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Request log' }).click()
    await page.getByRole('heading', { name: 'Request log' }).waitFor()
    await page.getByLabel('Path prefix').fill('/api/collections/probe')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => rows().count()).toBe(4) // the header and three requests
    const text = await rows().allTextContents()
    expect(text[1]).toContain('/api/collections/probe/records/missing')
    expect(text[1]).toContain('404')
    expect(text[3]).toContain('GET/api/collections/probe/records')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('request-log')

    await page.getByLabel('Status').fill('4xx')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => rows().count()).toBe(2)
    await page.getByLabel('Status').fill('')
    await page.getByLabel('Method').selectOption('POST')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect
      .poll(async () => (await rows().allTextContents()).slice(1))
      .toEqual([expect.stringContaining('POST/api/collections/probe/records201')])
  })

  it('shows the server’s message for a bad filter, and narrows to one request from its id', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByLabel('Status').fill('teapot')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/status/i)
    await page.getByLabel('Status').fill('')
    await page.getByLabel('Path prefix').fill('/api/collections/probe')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => rows().count()).toBe(4)
    await page.getByRole('button', { name: 'miss-pro' }).click()
    expect(await page.getByLabel('Request id').inputValue()).toBe('miss-probe')
    await expect.poll(() => rows().count()).toBe(2)
  })

  it('tails new requests live', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByLabel('Path prefix').fill('/api/collections/probe')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await expect.poll(() => rows().count()).toBe(4)
    await page.getByLabel('Live tail').check()
    expect((await call('DELETE', '/api/collections/probe', 'drop-probe')).status).toBe(204)
    await flushed()
    await expect
      .poll(async () => (await rows().allTextContents())[1])
      .toContain('DELETE/api/collections/probe')
    expect(h.problems).toEqual([])
  })
})
