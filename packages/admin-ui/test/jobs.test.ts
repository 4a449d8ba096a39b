import { createJobs, type JobsRuntime } from '@bastide/server/src/core/jobs/create-jobs.ts'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/**
 * The Jobs page: every queue's counts, a queue's dead letters with their error and attempts, replay and delete
 * (each confirmed). The jobs come from a second node of the job queue on the server's database, whose worker
 * fails every job of `probe` while `failing` is set.
 */
let h: ConsoleHarness
let node: JobsRuntime
let failing = true
const seen: { id: string; attempt: number; n: number }[] = []

beforeAll(async () => {
  h = await startConsole()
  await setUpFirstAdmin(h)
  node = await createJobs({
    databaseUrl: h.server.dbUrl,
    db: h.server.bastide.database.db,
    log: h.server.bastide.log,
    runsJobs: true,
    concurrency: 1,
    retentionDays: 1,
    shutdownMs: 2000,
    pollingIntervalSeconds: 1,
  })
  await node.work<{ n: number }>(
    'probe',
    { retryLimit: 1, retryDelaySeconds: 1, retryBackoff: false },
    async (job) => {
      seen.push({ id: job.id, attempt: job.attempt, n: job.data.n })
      if (failing) throw new Error(`probe ${job.data.n} refused`)
    },
  )
  for (const n of [1, 2]) await node.send('probe', { n })
  // Both out of retries (two attempts each), then in the dead-letter queue.
  await vi.waitFor(
    async () => {
      const dead = await h.server.api('GET', '/api/admin/jobs/probe.dead')
      expect(dead.body?.items?.length).toBe(2)
    },
    { timeout: 30_000, interval: 200 },
  )
})
afterAll(async () => {
  await node?.close()
  await h?.close()
})

describe('jobs page', () => {
  it('shows every queue with its counts, dead-letter queues under the queue feeding them', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Jobs' }).click()
    await page.getByRole('heading', { name: 'Jobs' }).waitFor()
    const queues = page.getByRole('table', { name: 'Queues' })
    const probe = queues.locator('tr[data-queue="probe"]')
    await probe.waitFor()
    const names = await queues
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-queue')))
    expect(names.indexOf('probe.dead')).toBe(names.indexOf('probe') + 1)
    const cells = await probe.locator('td').allTextContents()
    // Queue, queued, active, failed, completed, dead letters to.
    expect(cells.slice(0, 6)).toEqual(['probe', '0', '0', '2', '0', 'probe.dead'])
    expect(await queues.locator('tr[data-queue="probe.dead"]').textContent()).toContain('dead letters')
    expect(await axeViolations(page)).toEqual([])
  })

  it('lists a queue’s dead letters with their error and attempts', async () => {
    const { page } = h
    await page.getByRole('button', { name: 'Jobs of probe', exact: true }).click()
    const dead = page.getByRole('table', { name: 'Dead letters of probe' })
    const rows = dead.locator('tbody tr[data-job]')
    await expect.poll(() => rows.count()).toBe(2)
    for (const text of await rows.allTextContents()) {
      expect(text).toMatch(/probe [12] refused/)
      expect(text).toContain('2 of 2')
      expect(text).toContain('dead letter')
    }
    await rows
      .first()
      .getByRole('button', { name: /^[0-9a-f]{8}$/ })
      .click()
    await expect.poll(() => page.locator('[data-part="job-data"]').textContent()).toMatch(/"n": [12]/)
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('jobs')
    // The queue's own failed jobs are a view away.
    await page.getByLabel('Show').selectOption('failed')
    await expect
      .poll(() => page.getByRole('table', { name: 'Jobs of probe' }).locator('tbody tr[data-job]').count())
      .toBe(2)
    await page.getByLabel('Show').selectOption('dead')
    await expect.poll(() => rows.count()).toBe(2)
  })

  it('replays a dead letter after confirmation: it runs again, and succeeds', async () => {
    const { page } = h
    failing = false
    const rows = page.getByRole('table', { name: 'Dead letters of probe' }).locator('tbody tr[data-job]')
    const id = await rows.first().getAttribute('data-job')
    const n = Number((await rows.first().textContent())?.match(/probe (\d) refused/)?.[1])
    await rows.first().getByRole('button', { name: 'Replay' }).click()
    const dialog = page.getByRole('dialog', { name: 'Replay this job?' })
    expect(await dialog.textContent()).toContain(id!)
    expect(await axeViolations(page)).toEqual([])
    await dialog.getByRole('button', { name: 'Replay job' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `Job ${id} is queued again` })
      .waitFor()
    // The worker gets it again (a fresh delivery), and it completes this time.
    await expect
      .poll(() => seen.some((s) => s.n === n && s.attempt === 1 && seen.indexOf(s) >= 4), { timeout: 30_000 })
      .toBe(true)
    await expect
      .poll(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click()
        return page.locator('tr[data-queue="probe"] td').nth(4).textContent()
      })
      .toBe('1')
    await expect.poll(() => rows.count()).toBe(1)
  })

  it('deletes a dead letter after confirmation', async () => {
    const { page } = h
    const rows = page.getByRole('table', { name: 'Dead letters of probe' }).locator('tbody tr[data-job]')
    const id = await rows.first().getAttribute('data-job')
    await rows.first().getByRole('button', { name: 'Delete' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete this job?' })
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    expect(await rows.count()).toBe(1)
    await rows.first().getByRole('button', { name: 'Delete' }).click()
    await dialog.getByRole('button', { name: 'Delete job' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: `Job ${id} deleted.` })
      .waitFor()
    await page.getByText('No dead letter: every job ended well or is still retrying.').waitFor()
    expect((await h.server.api('GET', `/api/admin/jobs/probe.dead/${id}`)).status).toBe(404)
  })

  it('logged no error and broke no CSP rule', () => {
    expect(h.problems).toEqual([])
  })
})
