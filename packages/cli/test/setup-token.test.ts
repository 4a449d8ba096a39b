import fs from 'node:fs'
import path from 'node:path'
import { resolveSecret } from '@bastide/server/src/core/auth/secret.ts'
import { setupToken } from '@bastide/server/src/core/auth/setup-token.ts'
import { describe, expect, it } from 'vitest'
import { freePort, spawnCli } from './support/cli-a.ts'
import { runCli, tempDir } from './support/run-cli.ts'

/**
 * `bastide setup-token` prints the token a server logs at start-up while the console has no admin: derived from the
 * server's secret (BASTIDE_SECRET, or the one it keeps in its data folder), found as `bastide serve` finds it.
 */
// The machine's (or CI's) variables must not decide where the secret comes from.
const clean = { BASTIDE_SECRET: undefined, BASTIDE_DATA_DIR: undefined, DATABASE_URL: undefined }

async function project(): Promise<string> {
  const root = path.join(tempDir(), 'app')
  const init = await runCli(['init', root], { env: clean })
  expect(init.code, init.stderr).toBe(0)
  return root
}

describe('bastide setup-token', () => {
  it("prints, alone on stdout, the token of the secret a project's server keeps in .bastide/", async () => {
    const root = await project()
    // What the server does at its first start: make its secret in the project's data folder.
    const secret = await resolveSecret(undefined, path.join(root, '.bastide'))
    const run = await runCli(['setup-token'], { env: clean, cwd: path.join(root, 'bastide') })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(`${setupToken(secret)}\n`)
    expect(run.stderr).toContain('/api/admin/setup')

    const json = await runCli(['setup-token', '--json'], { env: clean, cwd: root })
    expect(json.code, json.stderr).toBe(0)
    expect(json.json()).toEqual({ setupToken: setupToken(secret) })
  })

  it("uses BASTIDE_SECRET from the environment or the project's .env, the environment winning", async () => {
    const root = await project()
    fs.writeFileSync(path.join(root, '.env'), `BASTIDE_SECRET=${'f'.repeat(40)}\n`)
    const fromFile = await runCli(['setup-token'], { env: clean, cwd: root })
    expect(fromFile.stdout.trim()).toBe(setupToken('f'.repeat(40)))
    const fromEnv = await runCli(['setup-token'], {
      env: { ...clean, BASTIDE_SECRET: 'e'.repeat(40) },
      cwd: root,
    })
    expect(fromEnv.stdout.trim()).toBe(setupToken('e'.repeat(40)))
  })

  it('reads the data folder given by --data-dir outside a project', async () => {
    const dataDir = tempDir()
    const secret = await resolveSecret(undefined, dataDir)
    const run = await runCli(['setup-token', '--data-dir', dataDir], { env: clean, cwd: tempDir() })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout.trim()).toBe(setupToken(secret))
  })

  it('never makes a secret up: exit 1 without one; exit 2 for a bad variable', async () => {
    const dataDir = tempDir()
    const none = await runCli(['setup-token', '--data-dir', dataDir], { env: clean, cwd: tempDir() })
    expect(none.code).toBe(1)
    expect(none.stdout).toBe('')
    expect(none.stderr).toContain('BASTIDE_SECRET')
    expect(fs.readdirSync(dataDir)).toEqual([])
    const json = await runCli(['setup-token', '--json', '--data-dir', dataDir], {
      env: clean,
      cwd: tempDir(),
    })
    expect(json.code).toBe(1)
    expect(json.json().error.code).toBe('PRECONDITION_FAILED')

    const short = await runCli(['setup-token'], {
      env: { ...clean, BASTIDE_SECRET: 'short' },
      cwd: tempDir(),
    })
    expect(short.code).toBe(2)
    expect(short.stderr).toContain('BASTIDE_SECRET')
  })
})

describe('bastide setup-token beside `bastide serve`', () => {
  it('prints the token the running server logged, and it creates the first console admin', async () => {
    // PostgreSQL runs as the `postgres` user when tests run as root: it must reach the data folder.
    const base = tempDir()
    fs.chmodSync(base, 0o755)
    const root = path.join(base, 'served')
    expect((await runCli(['init', root], { env: clean })).code).toBe(0)
    const port = await freePort()
    const plain = { ...clean, BASTIDE_CONSOLE_DIR: 'off', BASTIDE_LOG_LEVEL: 'warn' }
    const serve = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: root,
      env: plain,
    })
    try {
      const url = `http://127.0.0.1:${port}`
      await expect
        .poll(() => /bst_setup_[A-Za-z0-9_-]{43}/.exec(serve.output())?.[0], { timeout: 120_000 })
        .toBeTruthy()
      const logged = /bst_setup_[A-Za-z0-9_-]{43}/.exec(serve.output())?.[0]
      expect(serve.output()).toContain('`bastide setup-token` shows it again')
      const run = await runCli(['setup-token'], { env: plain, cwd: root })
      expect(run.code, run.stderr).toBe(0)
      expect(run.stdout.trim()).toBe(logged)
      const setup = await fetch(`${url}/api/admin/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'first@example.com',
          password: 'copper kettle at noon',
          setupToken: logged,
        }),
      })
      expect(setup.status, await setup.clone().text()).toBeLessThan(300)
      serve.child.kill('SIGTERM')
      expect(await serve.exited).toBe(0)
    } finally {
      serve.child.kill('SIGKILL')
    }
  }, 180_000)
})
