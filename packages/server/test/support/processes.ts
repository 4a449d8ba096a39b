import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../src/db/embedded-postgres.ts'

const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface ChildServer {
  readonly url: string
  readonly port: number
  readonly process: ChildProcess
  /** SIGKILL: a node that dies without saying goodbye. */
  kill(): Promise<void>
  /** SIGTERM and wait. */
  stop(): Promise<void>
}

/** A Bastide server as its own process (`node --import tsx src/main.ts`), ready when /api/health answers. */
export async function startChildServer(env: Record<string, string>): Promise<ChildServer> {
  const port = await freePort()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-test-node-'))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: SERVER_DIR,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      BASTIDE_DATA_DIR: dataDir,
      BASTIDE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before it was ready`)
    try {
      if ((await fetch(`${url}/api/health`)).ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error('server not ready within 60 s')
    await new Promise((r) => setTimeout(r, 150))
  }
  const cleanup = () => fs.rmSync(dataDir, { recursive: true, force: true })
  return {
    url,
    port,
    process: child,
    async kill() {
      child.kill('SIGKILL')
      await exited
      cleanup()
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      cleanup()
    },
  }
}

export interface TestRedis {
  readonly url: string
  readonly port: number
  /** Stops the server (its data goes: it keeps nothing on disk). */
  stop(): Promise<void>
  /** Starts it again on the same port. */
  start(): Promise<void>
}

/** The redis-server binary tests start (Debian's package), REDIS_SERVER_PATH to override. */
export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server'

/**
 * Why the tests that run a Redis of their own cannot run here, or undefined when they can; such suites are
 * skipped, saying so once.
 */
export function redisServerMissing(suite: string): string | undefined {
  if (fs.existsSync(REDIS_SERVER)) return undefined
  const why = `${REDIS_SERVER} not found (apt-get install redis-server, or set REDIS_SERVER_PATH)`
  console.warn(`[${suite}] skipped: ${why}`)
  return why
}

/** A redis-server of the test's own (Debian's /usr/bin/redis-server) on a free port, to stop and restart. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort()
  let proc: ChildProcess | undefined
  const start = async () => {
    proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    )
    const deadline = Date.now() + 10_000
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1')
        s.once('connect', () => {
          s.end()
          resolve(true)
        })
        s.once('error', () => resolve(false))
      })
      if (ok) return
      if (Date.now() > deadline) throw new Error('redis-server did not start')
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      const p = proc
      if (!p || p.exitCode !== null) return
      const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
      p.kill('SIGKILL')
      await exited
    },
    start,
  }
}
