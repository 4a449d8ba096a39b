import fs from 'node:fs'
import path from 'node:path'
import { ADMIN_KEY } from '@bastide/server/test/support/harness.ts'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliProcess, freePort, spawnCli } from './support/cli-a.ts'
import { tempDir } from './support/run-cli.ts'

// `bastide serve` on embedded PostgreSQL (no DATABASE_URL), started the way a shell starts a foreground command —
// a process group of its own — and stopped the way a terminal's Ctrl-C stops it: SIGINT to the whole group.

/** What must be cleaned up if a test fails halfway: servers (with their groups) and PostgreSQL processes. */
const started: { servers: CliProcess[]; pids: number[] } = { servers: [], pids: [] }
afterEach(() => {
  // Only what still runs as started: a pid or group id that ended may already name another process.
  for (const s of started.servers.splice(0))
    if (s.child.exitCode === null && s.child.signalCode === null) signal(-s.child.pid!, 'SIGKILL')
  for (const p of started.pids.splice(0)) if (isPostgres(p)) signal(p, 'SIGKILL')
})

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {}
}

function isPostgres(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('postgres')
  } catch {
    return false
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** A data directory the `postgres` OS user can enter (the tests may run as root, PostgreSQL never does). */
function dataDir(): string {
  const dir = path.join(tempDir('bastide-serve-int-'), 'data')
  fs.mkdirSync(dir)
  fs.chmodSync(path.dirname(dir), 0o755)
  fs.chmodSync(dir, 0o755)
  return dir
}

/** The pid in the cluster's postmaster.pid, or undefined when there is none (the cluster is stopped). */
function postmasterPid(dir: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0])
  } catch {
    return undefined
  }
}

async function serve(dir: string): Promise<{ p: CliProcess; url: string; pg: number }> {
  const port = await freePort()
  const p = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dir], {
    cwd: tempDir(),
    detached: true,
    env: {
      DATABASE_URL: undefined,
      BASTIDE_EMBEDDED_PG_PORT: undefined,
      BASTIDE_CONSOLE_DIR: 'off',
      BASTIDE_LOG_LEVEL: 'info',
      BASTIDE_LOG_FORMAT: 'json',
      BASTIDE_ADMIN_KEY: ADMIN_KEY,
      BASTIDE_SECRET: 'serve-interrupt-secret-0123456789-abcdefghij',
    },
  })
  started.servers.push(p)
  const url = `http://127.0.0.1:${port}`
  await expect
    .poll(async () => (await fetch(`${url}/api/health`).catch(() => undefined))?.status, {
      timeout: 90_000,
      interval: 250,
    })
    .toBe(200)
  const pg = postmasterPid(dir)
  expect(pg).toBeGreaterThan(0)
  started.pids.push(pg!)
  return { p, url, pg: pg! }
}

/**
 * The JSON log lines at warn level or above (40+), and the lines that are not log lines at all (a stack trace,
 * PostgreSQL's own output) but for the note of a (re)build of the server, which another change may cause.
 */
function problems(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('Building the server'))
    .filter((l) => {
      try {
        return !(JSON.parse(l).level < 40)
      } catch {
        return true
      }
    })
}

/** Everything logged from the shutdown notice on. */
function fromShutdown(output: string): string {
  const at = output.indexOf('shutting down')
  expect(at).toBeGreaterThan(-1)
  return output.slice(output.lastIndexOf('\n', at) + 1)
}

describe('bastide serve on embedded PostgreSQL, interrupted like Ctrl-C in a terminal', () => {
  it('exits 0 without warnings, stops PostgreSQL with it, and starts again on the same data', async () => {
    const dir = dataDir()
    const first = await serve(dir)
    // The first console admin: from now on the server has nothing to warn about at start.
    const setup = await fetch(`${first.url}/api/admin/setup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'first@interrupt.test', password: 'granite lantern over the harbour' }),
    })
    expect(setup.status).toBe(201)
    // Connections in the pools, idle at the moment of the stop.
    const pages = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${first.url}/api/admin/users`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }),
      ),
    )
    expect(pages.map((r) => r.status)).toEqual(pages.map(() => 200))

    process.kill(-first.p.child.pid!, 'SIGINT')
    expect(await first.p.exited).toBe(0)
    expect(problems(fromShutdown(first.p.output()))).toEqual([])
    // Stopped by the server, not left behind: the process is gone and so is its lock file.
    expect(isAlive(first.pg)).toBe(false)
    expect(postmasterPid(dir)).toBeUndefined()

    // A lock file left behind whose pid now names another process (pids start over in a restarted container):
    // not a running cluster, so it does not stop the next start.
    fs.writeFileSync(path.join(dir, 'pg', 'postmaster.pid'), `${process.pid}\n${path.join(dir, 'pg')}\n`)
    const second = await serve(dir)
    const users = await fetch(`${second.url}/api/admin/users`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    })
    expect(users.status).toBe(200)
    process.kill(-second.p.child.pid!, 'SIGINT')
    expect(await second.p.exited).toBe(0)
    expect(problems(second.p.output())).toEqual([])
    expect(isAlive(second.pg)).toBe(false)
  })

  it('a start after the server was killed outright stops the PostgreSQL it left running, then comes up', async () => {
    const dir = dataDir()
    const first = await serve(dir)
    // SIGKILL to the server alone: nothing runs its shutdown, PostgreSQL (in its own group) keeps running.
    first.p.child.kill('SIGKILL')
    expect(await first.p.exited).toBe('SIGKILL')
    expect(isAlive(first.pg)).toBe(true)

    const second = await serve(dir)
    expect(second.pg).not.toBe(first.pg)
    expect(isAlive(first.pg)).toBe(false)
    process.kill(-second.p.child.pid!, 'SIGINT')
    expect(await second.p.exited).toBe(0)
    expect(isAlive(second.pg)).toBe(false)
  })
})
