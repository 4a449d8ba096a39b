import fs from 'node:fs'
import path from 'node:path'
import { ADMIN_KEY, createTestDatabase } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, spawnCli } from './support/cli-a.ts'
import { runCli, tempDir } from './support/run-cli.ts'

let db: Awaited<ReturnType<typeof createTestDatabase>>

beforeAll(async () => {
  db = await createTestDatabase('bst_cli_serve')
})
afterAll(async () => {
  await db?.drop()
})

describe('bastide serve', () => {
  it('serves a project made by init, with its .env, and stops gracefully on SIGTERM with exit 0', async () => {
    const root = path.join(tempDir(), 'app')
    expect((await runCli(['init', root])).code).toBe(0)
    // From the project's .env: the admin key (the real environment does not set it).
    fs.writeFileSync(path.join(root, '.env'), `BASTIDE_ADMIN_KEY=${ADMIN_KEY}\nPORT=1\n`)
    const sub = path.join(root, 'web')
    fs.mkdirSync(sub)
    const port = await freePort()
    const serve = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: sub,
      env: {
        DATABASE_URL: db.url,
        BASTIDE_CONSOLE_DIR: 'off',
        BASTIDE_LOG_LEVEL: 'warn',
        BASTIDE_SECRET: 'serve-test-secret-0123456789-abcdefghijklmnop',
        BASTIDE_ADMIN_KEY: undefined,
      },
    })
    try {
      const url = `http://127.0.0.1:${port}`
      await expect
        .poll(
          async () => {
            const r = await fetch(`${url}/api/health`).catch(() => undefined)
            return r?.status
          },
          { timeout: 90_000, interval: 250 },
        )
        .toBe(200)
      expect(serve.output()).toContain(`Project app (${root})`)
      const keys = await fetch(`${url}/api/admin/keys`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      expect(keys.status).toBe(200)
      serve.child.kill('SIGTERM')
      expect(await serve.exited).toBe(0)
      await expect(fetch(`${url}/api/health`)).rejects.toThrow()
    } finally {
      serve.child.kill('SIGKILL')
    }
  })

  it('exits 2 when a variable is bad, naming it', async () => {
    const serve = spawnCli(['serve', '--port', 'eighty'], {
      cwd: tempDir(),
      env: { DATABASE_URL: db.url, BASTIDE_CONSOLE_DIR: 'off' },
    })
    expect(await serve.exited).toBe(2)
    expect(serve.output()).toContain('PORT')
  })
})
