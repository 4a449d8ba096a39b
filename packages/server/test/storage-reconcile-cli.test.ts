import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from './support/harness.ts'

/**
 * `pnpm storage:reconcile` is meant for scripts: its JSON report is the whole of stdout, whatever the server
 * code it starts logs on the way (better-auth's warnings, errors while shutting down...), which goes to stderr.
 */
const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

let db: { url: string; drop(): Promise<void> }
let dataDir: string
beforeAll(async () => {
  db = await createTestDatabase('bst_reconcile')
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-reconcile-cli-'))
})
afterAll(async () => {
  await db?.drop()
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
})

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/reconcile-storage.ts', ...args], {
      cwd: SERVER_DIR,
      env: {
        ...process.env,
        // As an operator runs it (vitest sets NODE_ENV=test and TEST=true, which silence some of better-auth's warnings).
        NODE_ENV: 'production',
        TEST: '',
        DATABASE_URL: db.url,
        BASTIDE_DATA_DIR: dataDir,
        // Long enough for Bastide, but better-auth warns that it looks low-entropy: a log line on every run.
        BASTIDE_SECRET: 'x'.repeat(40),
        BASTIDE_LOG_LEVEL: 'warn',
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
    proc.once('error', reject)
    proc.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('storage:reconcile CLI', () => {
  it('prints its JSON report alone on stdout, logs on stderr', async () => {
    const r = await runCli(['--grace-ms', '0'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ garbage: 0, orphans: 0, temp: 0, ran: true })
    expect(r.stdout.trim().split('\n')).toHaveLength(1)
    // The warning was logged, where logs belong.
    expect(r.stderr).toMatch(/low-entropy/)
  }, 60_000)
})
