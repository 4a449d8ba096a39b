import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/** The Metrics page: this node's facts, the last hour's request charts and the routes that took the most time. */
let h: ConsoleHarness

/** Writes the server's buffered request log rows (twice: a run under way may have taken its batch earlier). */
async function flushed() {
  await h.server.bastide.scheduler.runNow('metrics', 'flush-request-log')
  await h.server.bastide.scheduler.runNow('metrics', 'flush-request-log')
}

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
  const def = { name: 'charted', fields: [{ name: 'n', type: 'number' }], rules: { list: '', view: '' } }
  expect((await h.server.api('POST', '/api/collections', def)).status).toBe(201)
  for (let i = 0; i < 12; i++)
    expect((await h.server.api('GET', '/api/collections/charted/records')).status).toBe(200)
  expect((await h.server.api('GET', '/api/collections/charted/records/missing')).status).toBe(404)
  await flushed()
})
afterAll(async () => {
  await h?.close()
})

describe('metrics page', () => {
  it('shows this node, requests, errors and latency charts, and the busiest routes', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Metrics' }).click()
    await page.getByRole('heading', { name: 'Metrics' }).waitFor()
    const facts = page.getByRole('region', { name: 'This node' })
    await expect.poll(() => facts.textContent()).toContain('Database pool')
    expect(await facts.textContent()).toContain('Realtime connections')
    const requests = page.getByRole('img', { name: /^Requests per minute: requests \d+/ })
    await requests.waitFor()
    const n = Number(/requests (\d+)/.exec((await requests.getAttribute('aria-label')) ?? '')?.[1])
    expect(n).toBeGreaterThanOrEqual(13)
    await page.getByRole('img', { name: /^Errors per minute: 5xx 0, 4xx [1-9]/ }).waitFor()
    // Whatever the values: a busy machine's p99 reads in seconds ("1.2 s"), a quiet one's in milliseconds.
    await page
      .getByRole('img', { name: /^Latency: p50 [\d.]+ m?s, p95 [\d.]+ m?s, p99 [\d.]+ m?s$/ })
      .waitFor()
    await page.getByRole('img', { name: /^Realtime connections \(this node\)/ }).waitFor()
    const routes = page.getByRole('table', { name: 'Routes by time spent' })
    await expect.poll(() => routes.textContent()).toContain('GET /api/collections/:collection/records')
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('metrics')
    // The link to the request log leads there.
    await routes.locator('..').getByRole('link', { name: 'request log' }).click()
    await page.getByRole('heading', { name: 'Request log' }).waitFor()
    expect(h.problems).toEqual([])
  })
})
