import fs from 'node:fs'
import path from 'node:path'
import { ADMIN_KEY, startTestServer, type TestServer } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, spawnCli } from './support/cli-a.ts'
import { runCli, tempDir } from './support/run-cli.ts'

let s: TestServer
let env: Record<string, string>
let metricsPort: number

beforeAll(async () => {
  metricsPort = await freePort()
  // The running server holds its metrics port, as in compose or k8s: the CLI is started with the same variable.
  s = await startTestServer({ listen: true, env: { BASTIDE_METRICS_PORT: String(metricsPort) } })
  // The same database and secret as the running server: `admin create` works beside it.
  env = {
    BASTIDE_METRICS_PORT: String(metricsPort),
    DATABASE_URL: s.dbUrl,
    BASTIDE_SECRET: s.config.secret ?? '',
    BASTIDE_DATA_DIR: s.config.dataDir,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    BASTIDE_CONSOLE_DIR: 'off',
    BASTIDE_LOG_LEVEL: 'silent',
  }
})
afterAll(async () => {
  await s?.close()
})

async function signIn(email: string, password: string, url = s.bastide.url) {
  const r = await fetch(`${url}/api/admin/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  return r.status
}

describe('bastide admin create', () => {
  it('creates a console admin while the server runs; they can sign in to it at once', async () => {
    const run = await runCli(
      [
        'admin',
        'create',
        '--email',
        'Ops@Example.com',
        '--password',
        'lantern harbour at dawn',
        '--name',
        'Ops',
        '--json',
      ],
      { env, cwd: tempDir() },
    )
    expect(run.code, run.stderr).toBe(0)
    expect(run.json()).toEqual({ id: expect.any(String), email: 'ops@example.com', name: 'Ops' })
    expect(await signIn('ops@example.com', 'lantern harbour at dawn')).toBe(200)
    const admins = await s.api('GET', '/api/admin/admins')
    expect(admins.body.items.map((a: { email: string }) => a.email)).toContain('ops@example.com')
    const audit = await s.api('GET', `/api/admin/audit?target=${run.json().id}`)
    expect(audit.body.items[0]).toMatchObject({ actor: 'cli', action: 'admin.create' })
    // The CLI did not try to serve the running server's metrics port, which still answers.
    const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(scrape.status).toBe(200)
    expect(await scrape.text()).toContain('bastide_request_log_dropped_total')
  })

  it('reads the password from stdin with --password -', async () => {
    const run = await runCli(['admin', 'create', '--email', 'piped@example.com', '--password', '-'], {
      env,
      cwd: tempDir(),
      input: 'quiet meadow under snow\n',
    })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('Created console admin piped@example.com')
    expect(await signIn('piped@example.com', 'quiet meadow under snow')).toBe(200)
  })

  it('exits 1 for a taken email or a weak password, 2 without a password or with a bad variable', async () => {
    const taken = await runCli(
      ['admin', 'create', '--email', 'ops@example.com', '--password', 'another long passphrase', '--json'],
      { env, cwd: tempDir() },
    )
    expect(taken.code).toBe(1)
    expect(taken.json().error.code).toBe('CONFLICT')
    const weak = await runCli(
      ['admin', 'create', '--email', 'w@example.com', '--password', 'short', '--json'],
      {
        env,
        cwd: tempDir(),
      },
    )
    expect(weak.code).toBe(1)
    expect(weak.json().error.code).toBe('VALIDATION_FAILED')
    const none = await runCli(['admin', 'create', '--email', 'n@example.com'], {
      env: { ...env, BASTIDE_ADMIN_PASSWORD: undefined },
      cwd: tempDir(),
    })
    expect(none.code).toBe(2)
    const badVar = await runCli(
      ['admin', 'create', '--email', 'v@example.com', '--password', 'lantern harbour at dawn', '--json'],
      { env: { ...env, DATABASE_URL: 'mysql://nope' }, cwd: tempDir() },
    )
    expect(badVar.code).toBe(2)
    expect(badVar.json().error.message).toContain('DATABASE_URL')
    expect((await runCli(['admin', 'create'], { env })).code).toBe(2)
  })
})

describe('bastide admin create beside `bastide serve` on embedded PostgreSQL', () => {
  it("uses the running server's embedded PostgreSQL (found in the project's data folder)", async () => {
    // PostgreSQL runs as the `postgres` user when tests run as root: it must reach the data folder.
    const base = tempDir()
    fs.chmodSync(base, 0o755)
    const root = path.join(base, 'embedded')
    expect((await runCli(['init', root])).code).toBe(0)
    const port = await freePort()
    const plain = { DATABASE_URL: undefined, BASTIDE_CONSOLE_DIR: 'off', BASTIDE_LOG_LEVEL: 'warn' }
    const serve = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: root,
      env: plain,
    })
    try {
      const url = `http://127.0.0.1:${port}`
      await expect
        .poll(async () => (await fetch(`${url}/api/health`).catch(() => undefined))?.status, {
          timeout: 120_000,
          interval: 250,
        })
        .toBe(200)
      const run = await runCli(
        ['admin', 'create', '--email', 'embedded@example.com', '--password', '-', '--json'],
        {
          cwd: root,
          env: plain,
          input: 'river stones in autumn light',
        },
      )
      expect(run.code, run.stderr).toBe(0)
      expect(await signIn('embedded@example.com', 'river stones in autumn light', url)).toBe(200)
      serve.child.kill('SIGTERM')
      expect(await serve.exited).toBe(0)
    } finally {
      serve.child.kill('SIGKILL')
    }
  })
})
