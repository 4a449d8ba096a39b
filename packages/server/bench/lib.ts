/**
 * What every benchmark needs around its measurements: children that never outlive it, clean-up (children,
 * databases, temp dirs) on success, failure and Ctrl-C, fresh databases, and its result as a Markdown table.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { type EmbeddedPg, startEmbeddedPostgres } from '../src/db/embedded-postgres.ts'

/** packages/server: where the benchmarks start Bastide (`src/main.ts`) from. */
export const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/** This run's admin key and secret: random, so that no benchmark instance is reachable with a known one. */
export const ADMIN_KEY = `bst_sk_bench_${randomBytes(16).toString('hex')}`
export const SECRET = randomBytes(32).toString('hex')
export const MB = 1024 * 1024

/** The first line of a report: the machine and how busy it was, which the numbers depend on. */
export function machineLine(): string {
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
  return `machine: ${os.cpus().length} cores, load average ${load}, Node ${process.version}`
}

/** Clean-up steps, run newest first. */
export const cleanups: (() => Promise<void> | void)[] = []
const children = new Set<ChildProcess>()
let queue: Promise<void> = Promise.resolve()
let cleaning: Promise<void> | undefined

/**
 * Runs the clean-ups registered after `mark` (newest first), or all of them; one run at a time, so that Ctrl-C
 * during a setup's own clean-up does not remove a directory a child still writes to.
 */
export function runCleanups(mark = 0): Promise<void> {
  queue = queue.then(async () => {
    while (cleanups.length > mark) {
      const fn = cleanups.pop()!
      try {
        await fn()
      } catch (err) {
        console.error(`cleanup: ${err instanceof Error ? err.message : err}`)
      }
    }
  })
  return queue
}

/** Every clean-up, once. */
export function cleanup(): Promise<void> {
  cleaning ??= runCleanups()
  return cleaning
}

/** Ctrl-C and SIGTERM clean up first; at exit, children still running are killed. */
export function installCleanupHandlers(onInterrupt?: () => void): void {
  process.on('SIGINT', () => {
    onInterrupt?.()
    console.error('\ninterrupted: cleaning up')
    void cleanup().finally(() => process.exit(130))
  })
  process.on('SIGTERM', () => void cleanup().finally(() => process.exit(143)))
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  })
}

/** Keeps `child` from outliving this process; `stopOnCleanup` also stops it (SIGTERM) in the clean-up. */
export function trackChild(child: ChildProcess, stopOnCleanup = true): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  if (stopOnCleanup) cleanups.push(() => stopChild(child))
  return child
}

/** SIGTERM, then SIGKILL after 15 s; resolves once it has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

/**
 * Runs a benchmark's `main`: an error is printed with its stack and exits 1; either way `beforeCleanup` (closing
 * what is not a clean-up step, an HTTP agent) and every clean-up run first.
 */
export function runMain(main: () => Promise<void>, beforeCleanup?: () => void): void {
  main()
    .catch((err) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err)
      process.exitCode = 1
    })
    .finally(async () => {
      beforeCleanup?.()
      await cleanup()
      process.exit(process.exitCode ?? 0)
    })
}

/** A temp directory removed in the clean-up. */
export function tempDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bastide-bench-${name}-`))
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

let serverUrl: string | undefined = process.env.DATABASE_URL
let starting: Promise<string> | undefined

/**
 * The PostgreSQL benchmarks create their databases on: DATABASE_URL, or an embedded one started on first call
 * and stopped in the clean-up. Call it before registering per-run clean-ups that must not stop it.
 */
export function ensurePostgres(): Promise<string> {
  if (serverUrl) return Promise.resolve(serverUrl)
  starting ??= (async () => {
    const dir = tempDir('pg')
    // Running as root, PostgreSQL runs as the postgres user, which must reach the data dir.
    fs.chmodSync(dir, 0o755)
    process.stdout.write('starting embedded PostgreSQL… ')
    const embedded: EmbeddedPg = await startEmbeddedPostgres({ dataDir: dir, port: 0 })
    cleanups.push(() => embedded.stop())
    console.log(`port ${embedded.port}`)
    serverUrl = embedded.url
    return embedded.url
  })()
  return starting
}

/** A fresh database on {@link ensurePostgres}'s server, dropped (WITH FORCE) in the clean-up; its URL. */
export async function createDatabase(): Promise<string> {
  const admin = await ensurePostgres()
  const name = `bst_bench_${randomBytes(5).toString('hex')}`
  const c = new pg.Client({ connectionString: admin })
  await c.connect()
  await c.query(`CREATE DATABASE "${name}"`)
  await c.end()
  cleanups.push(async () => {
    const d = new pg.Client({ connectionString: admin })
    await d.connect()
    await d.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await d.end()
  })
  const u = new URL(admin)
  u.pathname = `/${name}`
  return u.toString()
}

/**
 * Prints a Markdown table: columns in `left` (by index, default the first) aligned left, the others (numbers)
 * right, the same in the alignment row so that it renders as it reads in a terminal.
 */
export function printTable(
  head: readonly string[],
  body: readonly string[][],
  left: readonly number[] = [0],
): void {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  console.log(line(head))
  console.log(
    `|${widths.map((w, i) => (left.includes(i) ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
  )
  for (const row of body) console.log(line(row))
}

/**
 * Resolves once `url` answers 2xx; rejects as soon as `child` exits, or after `timeoutMs`. `what` names the
 * process in the error.
 */
export async function waitReady(
  url: string,
  child: ChildProcess,
  what = 'Bastide',
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited = child.exitCode !== null || child.signalCode !== null
  child.once('exit', () => (exited = true))
  while (Date.now() < deadline) {
    if (exited)
      throw new Error(
        `${what} exited before it was ready (code ${child.exitCode}, signal ${child.signalCode})`,
      )
    try {
      if ((await fetch(url)).ok) return
    } catch {}
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`${what} was not ready within ${Math.round(timeoutMs / 1000)} s`)
}

/** One JSON call to the server under test with ADMIN_KEY; throws on a non-2xx answer, with its body. */
export async function adminCall(base: string, method: string, p: string, body?: unknown): Promise<any> {
  const r = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await r.text()
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`)
  return text ? JSON.parse(text) : null
}

/**
 * Bastide (`src/main.ts`) as a child process on 127.0.0.1:`port`, with the benchmark's admin key and secret, its
 * request log off (the benchmarks measure their own path, not the log's writes) and `env` on top. Stopped at clean-up.
 */
export function spawnBastide(o: {
  readonly databaseUrl: string
  readonly port: number
  readonly dataDir: string
  readonly env?: Readonly<Record<string, string>>
  readonly nodeArgs?: readonly string[]
}): ChildProcess {
  const child = trackChild(
    spawn(process.execPath, [...(o.nodeArgs ?? []), '--import', 'tsx', 'src/main.ts'], {
      cwd: SERVER_DIR,
      env: {
        ...process.env,
        DATABASE_URL: o.databaseUrl,
        PORT: String(o.port),
        HOST: '127.0.0.1',
        BASTIDE_ADMIN_KEY: ADMIN_KEY,
        BASTIDE_SECRET: SECRET,
        BASTIDE_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        BASTIDE_DATA_DIR: o.dataDir,
        BASTIDE_REQUEST_LOG_RETENTION_HOURS: '0',
        ...o.env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
    false,
  )
  cleanups.push(() => stopChild(child))
  return child
}
