import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../src/db/embedded-postgres.ts'
import { createTestDatabase } from './support/harness.ts'

/**
 * `pnpm start` as the README runs it: the root `start` script, through `sh -c` as pnpm runs scripts, serves
 * the JavaScript build (built first only when the sources changed: never at a start where nothing did),
 * and Ctrl-C (SIGINT to the whole process group, as a terminal sends it) ends it quietly with exit code 0.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const START = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).scripts.start as string

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly output: string
  readonly readyMs: number
}

/**
 * Runs the start script until /api/health answers, then `whileUp` (requests to the running server), then presses
 * Ctrl-C and waits for the exit.
 */
async function startAndInterrupt(
  env: Record<string, string>,
  whileUp?: (base: string) => Promise<void>,
): Promise<Run> {
  const port = await freePort()
  const t0 = performance.now()
  const child = spawn('sh', ['-c', START], {
    cwd: REPO,
    // Its own process group, like a terminal's foreground job: SIGINT goes to every process in it.
    detached: true,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', BASTIDE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')))
  child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let readyMs: number | undefined
  // A first start may build (a few seconds, more on a busy machine).
  const deadline = Date.now() + 120_000
  while (readyMs === undefined && child.exitCode === null && Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/health`)).ok) readyMs = performance.now() - t0
    } catch {}
    if (readyMs === undefined) await new Promise((r) => setTimeout(r, 50))
  }
  try {
    if (readyMs === undefined) throw new Error(`the server did not answer /api/health:\n${output}`)
    await whileUp?.(`http://127.0.0.1:${port}`)
  } finally {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT')
  }
  return { ...(await exited), output, readyMs }
}

/** What must not show when Ctrl-C stops the server. */
function noise(output: string): string[] {
  return output
    .split('\n')
    .filter(
      (l) =>
        /ELIFECYCLE|Command failed|ERR_PNPM/.test(l) ||
        /^\s+at .+:\d+:\d+\)?$/.test(l) ||
        /"level":(50|60)/.test(l),
    )
}

const dirs: string[] = []
const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  // Reachable by the postgres OS user, which runs embedded PostgreSQL when tests run as root.
  fs.chmodSync(dir, 0o755)
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

describe('pnpm start', () => {
  it('runs node on the build, compiles nothing when nothing changed, and stops on Ctrl-C with exit code 0', async () => {
    // `bastide serve` (packages/cli), which runs the server's scripts/start.mjs in its own process.
    expect(START).toMatch(/\bnode\b.*bin\/bastide\.mjs serve/)
    const db = await createTestDatabase('bst_start')
    try {
      const env = { DATABASE_URL: db.url, BASTIDE_DATA_DIR: tempDir('bastide-start-') }
      const first = await startAndInterrupt(env)
      expect({ code: first.code, signal: first.signal }, first.output).toEqual({ code: 0, signal: null })
      expect(noise(first.output), first.output).toEqual([])
      expect(first.output).toMatch(/shutting down/)

      // The build runs functions too: the sandbox's runner and the SDK bundle behind ctx.client are found from dist/.
      const adminKey = `bst_sk_start_${'0'.repeat(32)}`
      let answer: { status: number; body: string } | undefined
      const second = await startAndInterrupt({ ...env, BASTIDE_ADMIN_KEY: adminKey }, async (base) => {
        const auth = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }
        const source = `export default {
          on: { http: true },
          privileged: true,
          async handler(event, ctx) {
            const { items } = await ctx.client.collection('users').list()
            return Response.json({ users: items.length })
          },
        }`
        const deployed = await fetch(`${base}/api/admin/functions/probe`, {
          method: 'PUT',
          headers: auth,
          body: JSON.stringify({ source }),
        })
        expect(deployed.status, await deployed.clone().text()).toBeLessThan(300)
        const r = await fetch(`${base}/api/functions/probe`)
        answer = { status: r.status, body: await r.text() }
      })
      expect(answer).toEqual({ status: 200, body: '{"users":0}' })
      expect({ code: second.code, signal: second.signal }, second.output).toEqual({ code: 0, signal: null })
      expect(noise(second.output), second.output).toEqual([])
      // Nothing changed in between: no compilation, neither the build's nor tsx's.
      expect(second.output).not.toMatch(/Building/)
      console.log(
        `[start] /api/health answered ${first.readyMs.toFixed(0)} ms after the command (first), ` +
          `${second.readyMs.toFixed(0)} ms (second, from the existing build)`,
      )
    } finally {
      await db.drop()
    }
  }, 300_000)

  it('stops embedded PostgreSQL with it on Ctrl-C, quietly', async () => {
    const run = await startAndInterrupt({
      DATABASE_URL: '',
      BASTIDE_DATA_DIR: tempDir('bastide-start-embedded-'),
    })
    expect({ code: run.code, signal: run.signal }, run.output).toEqual({ code: 0, signal: null })
    expect(noise(run.output), run.output).toEqual([])
    expect(run.output).toMatch(/starting embedded PostgreSQL/)
  }, 300_000)
})
