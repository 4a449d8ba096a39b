import fs from 'node:fs'
import path from 'node:path'
import { createTestDatabase } from '@bastide/server/test/support/harness.ts'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, spawnCli } from './support/cli-a.ts'
import { runCli, tempDir } from './support/run-cli.ts'

/**
 * `bastide storage reconcile` runs the storage reconciler once, in its own process, against the instance a project
 * describes (.env, .bastide/), and prints its JSON report alone on stdout for scripts.
 */
let db: { url: string; drop(): Promise<void> }
let root: string
let blobs: string
let tmp: string
// The project's .env says where the database is: the environment must not.
const env = { DATABASE_URL: undefined, BASTIDE_DATA_DIR: undefined, BASTIDE_SECRET: undefined }

beforeAll(async () => {
  db = await createTestDatabase('bst_cli_reconcile')
  root = path.join(tempDir(), 'app')
  const init = await runCli(['init', root], { env })
  expect(init.code, init.stderr).toBe(0)
  fs.writeFileSync(
    path.join(root, '.env'),
    `DATABASE_URL=${db.url}\nBASTIDE_SECRET=${'s'.repeat(40)}\nBASTIDE_LOG_LEVEL=warn\nPORT=0\n`,
  )
  blobs = path.join(root, '.bastide', 'storage', 'blobs')
  tmp = path.join(root, '.bastide', 'storage', 'tmp')
}, 120_000)
afterAll(async () => {
  await db?.drop()
})

/** A file the database knows nothing about, as a crash mid-upload leaves one, and a temp file of a cut write. */
function leftovers(): { orphan: string; part: string } {
  fs.mkdirSync(path.join(blobs, 'lost'), { recursive: true })
  fs.mkdirSync(tmp, { recursive: true })
  const orphan = path.join(blobs, 'lost', 'upload-1')
  const part = path.join(tmp, 'cut.part')
  fs.writeFileSync(orphan, 'bytes nobody points at')
  fs.writeFileSync(part, 'half a write')
  return { orphan, part }
}

describe('bastide storage reconcile', () => {
  it('spares fresh leftovers by default, removes them with --grace-ms 0; the JSON report alone on stdout', async () => {
    const { orphan, part } = leftovers()
    const spared = await runCli(['storage', 'reconcile'], { env, cwd: root })
    expect(spared.code, spared.stderr).toBe(0)
    expect(JSON.parse(spared.stdout)).toEqual({ garbage: 0, orphans: 0, temp: 0, ran: true })
    expect(spared.stdout.trim().split('\n')).toHaveLength(1)
    expect(fs.existsSync(orphan) && fs.existsSync(part)).toBe(true)

    const run = await runCli(['storage', 'reconcile', '--grace-ms', '0'], {
      env,
      cwd: path.join(root, 'bastide'),
    })
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({ garbage: 0, orphans: 1, temp: 1, ran: true })
    expect(run.stdout.trim().split('\n')).toHaveLength(1)
    expect(fs.existsSync(orphan) || fs.existsSync(part)).toBe(false)

    const json = await runCli(['storage', 'reconcile', '--json'], { env, cwd: root })
    expect(json.code, json.stderr).toBe(0)
    expect(json.json()).toEqual({ garbage: 0, orphans: 0, temp: 0, ran: true })
  }, 120_000)

  it('exits 1 and does nothing while another node reconciles', async () => {
    const { orphan } = leftovers()
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    try {
      // The reconciler's advisory lock (RECONCILE_LOCK in packages/server/src/core/files/reconcile.ts).
      await holder.query('SELECT pg_advisory_lock(7261536845)')
      const busy = await runCli(['storage', 'reconcile', '--grace-ms', '0'], { env, cwd: root })
      expect(busy.code).toBe(1)
      expect(JSON.parse(busy.stdout)).toEqual({ garbage: 0, orphans: 0, temp: 0, ran: false })
      expect(busy.stderr).toContain('Another node is reconciling')
      const json = await runCli(['storage', 'reconcile', '--grace-ms', '0', '--json'], { env, cwd: root })
      expect(json.code).toBe(1)
      expect(json.json().error).toMatchObject({ code: 'BUSY', details: { report: { ran: false } } })
      expect(fs.existsSync(orphan)).toBe(true)
    } finally {
      await holder.end()
    }
  }, 120_000)

  it('refuses a bad --grace-ms (exit 2) before touching anything', async () => {
    for (const bad of ['-1', '1.5', 'soon', '']) {
      const run = await runCli(['storage', 'reconcile', '--grace-ms', bad], { env, cwd: root })
      expect(run.code, bad).toBe(2)
      expect(run.stderr).toContain('--grace-ms')
    }
  })
})

describe('bastide storage reconcile beside `bastide serve` on embedded PostgreSQL', () => {
  it("uses the running server's embedded PostgreSQL, found in the project's data folder", async () => {
    // PostgreSQL runs as the `postgres` user when tests run as root: it must reach the data folder.
    const base = tempDir()
    fs.chmodSync(base, 0o755)
    const app = path.join(base, 'embedded')
    expect((await runCli(['init', app], { env })).code).toBe(0)
    const port = await freePort()
    const plain = { ...env, BASTIDE_CONSOLE_DIR: 'off', BASTIDE_LOG_LEVEL: 'warn' }
    const serve = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1'], { cwd: app, env: plain })
    try {
      const url = `http://127.0.0.1:${port}`
      await expect
        .poll(async () => (await fetch(`${url}/api/health`).catch(() => undefined))?.status, {
          timeout: 120_000,
          interval: 250,
        })
        .toBe(200)
      const orphan = path.join(app, '.bastide', 'storage', 'blobs', 'lost', 'upload-2')
      fs.mkdirSync(path.dirname(orphan), { recursive: true })
      fs.writeFileSync(orphan, 'bytes nobody points at')
      const run = await runCli(['storage', 'reconcile', '--grace-ms', '0'], { env: plain, cwd: app })
      expect(run.code, run.stderr).toBe(0)
      expect(JSON.parse(run.stdout)).toMatchObject({ orphans: 1, ran: true })
      expect(fs.existsSync(orphan)).toBe(false)
      // The server was not disturbed: it still answers, and stops cleanly.
      expect((await fetch(`${url}/api/health/ready`)).status).toBe(200)
      serve.child.kill('SIGTERM')
      expect(await serve.exited).toBe(0)
    } finally {
      serve.child.kill('SIGKILL')
    }
  }, 180_000)
})
