import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { BACKUP_LOCK_KEY, BACKUP_RUN_LOCK_CLASS } from '@bastide/server/src/core/backup/backup-lock.ts'
import { verifyBackup } from '@bastide/server/src/core/backup/verify-backup.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { axeViolations, type ConsoleHarness, setUpFirstAdmin, startConsole } from './support/console.ts'

/** The Backups page: schedule in force, runs (followed while they run), a run now, a download, the CLI hint. */
let h: ConsoleHarness
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bastide-console-backups-'))
  h = await startConsole({
    env: { BASTIDE_BACKUP_CRON: '0 3 * * *', BASTIDE_BACKUP_TARGET: dir, BASTIDE_BACKUP_KEEP: '3' },
  })
  await setUpFirstAdmin(h)
  const c = await h.server.api('POST', '/api/collections', {
    name: 'notes',
    fields: [{ name: 'body', type: 'text' }],
  })
  expect(c.status).toBe(201)
  for (let i = 0; i < 5; i++)
    expect((await h.server.api('POST', '/api/collections/notes/records', { body: `n${i}` })).status).toBe(201)
})
afterAll(async () => {
  await h?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

interface PgSession {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  on(event: 'error', listener: () => void): void
  connect(): Promise<void>
  end(): Promise<void>
}
// The server's node-postgres (the console's package does not depend on it).
const pg = createRequire(new URL('../../server/package.json', import.meta.url))('pg') as {
  Client: new (o: { connectionString: string }) => PgSession
}

/** A session of its own on the server's database (another node, or the test holding a lock). */
async function session(): Promise<PgSession> {
  const client = new pg.Client({ connectionString: h.server.dbUrl })
  client.on('error', () => {})
  await client.connect()
  return client
}

describe('backups page', () => {
  it('shows the schedule in force, in words, with the next run and the CLI’s restore hint', async () => {
    const { page } = h
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Backups' }).click()
    const schedule = page.getByRole('definition').filter({ hasText: '0 3 * * *' })
    await expect.poll(() => schedule.textContent()).toBe('Every day at 03:00 UTC 0 3 * * *')
    const next = (await h.server.api('GET', '/api/admin/backups')).body.schedule.next
    expect(next).toMatch(/T03:00:00\.000Z$/)
    expect(await page.locator(`time[datetime="${next}"]`).count()).toBe(1)
    expect(await page.getByText(dir, { exact: true }).count()).toBe(1)
    expect(await page.getByText('the newest 3 archives').count()).toBe(1)
    await page.getByText('No backup has run yet.').waitFor()
    const hint = page.getByRole('region', { name: 'Verifying and restoring' })
    expect(await hint.textContent()).toContain('bastide backup restore <archive>')
    expect(await hint.textContent()).toContain('an empty instance')
    expect(await hint.textContent()).toContain('bastide backup verify <archive>')
    expect(await axeViolations(page)).toEqual([])
  })

  it('backs up now: shows the run in progress, then its result and the archive', async () => {
    const { page } = h
    // Held exclusively here, the garbage collector's lock makes the backup wait before its snapshot: the page's
    // in-progress state can be seen for sure, then the run let go.
    const holder = await session()
    await holder.query('SELECT pg_advisory_lock($1)', [BACKUP_LOCK_KEY])
    let released = false
    try {
      await page.getByRole('button', { name: 'Back up now' }).click()
      await page.getByRole('button', { name: 'Backing up…' }).waitFor()
      await expect
        .poll(() => page.getByRole('status').first().textContent())
        .toContain(`Backing up to ${dir}`)
      // The list follows the run: its row appears as running.
      const runs = page.getByRole('table', { name: 'Backup runs' })
      await expect.poll(() => runs.locator('tbody tr').first().getAttribute('data-status')).toBe('running')
      await h.screenshot('backups-running')
      await holder.query('SELECT pg_advisory_unlock($1)', [BACKUP_LOCK_KEY])
      released = true
    } finally {
      if (!released) await holder.query('SELECT pg_advisory_unlock($1)', [BACKUP_LOCK_KEY]).catch(() => {})
      await holder.end()
    }
    const done = page.locator('.ok-note').filter({ hasText: 'Backup done:' })
    await done.waitFor()
    const [archive] = (await readdir(dir)).filter((f) => f.endsWith('.tar.gz'))
    expect(archive).toBeDefined()
    expect(await done.textContent()).toContain(archive)
    expect(await done.textContent()).toMatch(/\d+ rows, 0 files/)
    const row = page
      .getByRole('table', { name: 'Backup runs' })
      .getByRole('row')
      .filter({ hasText: archive! })
    await expect.poll(() => row.getAttribute('data-status')).toBe('done')
    expect(await row.textContent()).toContain('asked for')
    await expect.poll(() => page.getByRole('table', { name: 'Archives' }).textContent()).toContain(archive)
    expect((await verifyBackup(path.join(dir, archive!))).ok).toBe(true)
  })

  it('shows a run whose node stopped as failed, with the reason', async () => {
    const { page } = h
    // Another node's run, its lock held on that node's session; then the node dies with its session.
    const node = await session()
    const id = randomUUID()
    await node.query('SELECT pg_advisory_lock($1, hashtext($2))', [BACKUP_RUN_LOCK_CLASS, id])
    await node.query(
      `INSERT INTO bastide.backup_runs (id, trigger, node, target, status) VALUES ($1, 'schedule', 'node-b:42', $2, 'running')`,
      [id, dir],
    )
    const pid = (await node.query('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    await page.getByRole('button', { name: 'Refresh' }).click()
    const runs = page.getByRole('table', { name: 'Backup runs' })
    await expect.poll(() => runs.locator('tbody tr').first().getAttribute('data-status')).toBe('running')
    const admin = await session()
    await admin.query('SELECT pg_terminate_backend($1)', [pid])
    await admin.end()
    await node.end().catch(() => {})
    // No click: the page keeps looking while a run is running.
    await expect.poll(() => runs.locator('tbody tr').first().getAttribute('data-status')).toBe('failed')
    expect(await runs.locator('tbody tr').first().textContent()).toContain(
      'The node running it (node-b:42) stopped before it finished.',
    )
  })

  it('downloads a backup taken now, a whole archive', async () => {
    const { page } = h
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download a backup now' }).click(),
    ])
    expect(download.suggestedFilename()).toMatch(/^bastide-backup-\d{8}T\d{6}Z\.tar\.gz$/)
    const file = path.join(dir, `downloaded-${download.suggestedFilename()}`)
    await download.saveAs(file)
    const verified = await verifyBackup(file)
    expect(verified.problems).toEqual([])
    expect(verified.manifest!.collections.map((c) => c.name)).toContain('notes')
    await page.locator('.ok-note').filter({ hasText: 'Downloaded' }).waitFor()
    expect(await axeViolations(page)).toEqual([])
    await h.screenshot('backups')
  })

  it('logged no error and broke no CSP rule', () => {
    expect(h.problems).toEqual([])
  })
})

describe('backups page, when the target cannot be written', () => {
  let f: ConsoleHarness
  let blocked: string
  beforeAll(async () => {
    // A file where the target folder should be: every run fails, as with a full disk or a missing mount.
    blocked = path.join(dir, 'not-a-folder')
    await writeFile(blocked, 'x')
    f = await startConsole({ env: { BASTIDE_BACKUP_TARGET: blocked } })
    await setUpFirstAdmin(f)
  })
  afterAll(async () => {
    await f?.close()
  })

  it('says there is no schedule, and shows a failed run with the server’s reason', async () => {
    const { page } = f
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Backups' }).click()
    await expect
      .poll(() => page.getByRole('region', { name: 'Schedule' }).textContent())
      .toContain(`No scheduled backups: set BASTIDE_BACKUP_CRON`)
    expect(await page.getByRole('region', { name: 'Schedule' }).textContent()).toContain(blocked)
    await page.getByRole('button', { name: 'Back up now' }).click()
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toMatch(/^The backup failed: .*not-a-folder/)
    const first = page.getByRole('table', { name: 'Backup runs' }).locator('tbody tr').first()
    await expect.poll(() => first.getAttribute('data-status')).toBe('failed')
    expect(await first.textContent()).toContain('not-a-folder')
    expect(await page.getByRole('button', { name: 'Back up now' }).isEnabled()).toBe(true)
    expect(await axeViolations(page)).toEqual([])
    await f.screenshot('backups-failed')
    // The failed run's 503 is the one error the page met, and it was shown.
    expect(f.problems.filter((p) => !p.includes('status of 503'))).toEqual([])
  })
})
