import fs from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import { loadConfig } from '../config/load-config.ts'
import { checkNewAdmin, createAdmin, createAdminAuth, type NewAdmin } from '../core/auth/admin-auth.ts'
import { startBastide } from '../server.ts'

export interface CreatedConsoleAdmin {
  readonly id: string
  readonly email: string
  readonly name: string
}

/**
 * Creates a console admin (even when others exist) directly in the database the environment configures, as the
 * server would find it: DATABASE_URL, else the embedded PostgreSQL of BASTIDE_DATA_DIR — the running one when a
 * server holds it (its port is in postmaster.pid), else started for the occasion and stopped after. Works while a
 * server runs: admins are read from the database on every sign-in, nothing caches them. Used by `bastide admin
 * create` and `pnpm --filter @bastide/server admin:create`.
 *
 * Throws ConfigError for a bad variable, AppError (VALIDATION, CONFLICT) for a refused admin.
 */
export async function createConsoleAdmin(
  env: NodeJS.ProcessEnv,
  input: NewAdmin,
): Promise<CreatedConsoleAdmin> {
  // Nothing is served over HTTP here: where the console is not built (a production install), looking for it would
  // only print a warning about it.
  const serverEnv = { ...env, BASTIDE_CONSOLE_DIR: 'off' }
  let config = loadConfig(serverEnv)
  // Refused before anything starts: a weak password costs no database start.
  checkNewAdmin(config, input)
  if (!config.databaseUrl) {
    const running = runningEmbeddedUrl(config.dataDir)
    if (running) config = loadConfig({ ...serverEnv, DATABASE_URL: running })
  }
  // On stderr: stdout is the caller's (`bastide admin create --json` prints one JSON document there).
  const log = pino({ level: 'warn', base: { service: 'bastide-cli' } }, pino.destination(2))
  const bastide = await startBastide(config, { listen: false, jobs: false, log })
  try {
    const adminAuth = createAdminAuth({
      config,
      db: bastide.auth.authDb,
      secret: bastide.auth.secret,
      baseUrl: config.publicUrl ?? `http://localhost:${config.port || 8787}`,
      log,
    })
    const admin = await createAdmin(adminAuth, config, input)
    await bastide.actions.record(bastide.database.db, {
      actor: 'cli',
      action: 'admin.create',
      target: admin.id,
      details: { email: admin.email },
    })
    return admin
  } finally {
    await bastide.close()
  }
}

/**
 * The URL of the embedded PostgreSQL a running server holds in `dataDir`, or undefined when none runs there
 * (starting a second one on the same files would be refused).
 */
export function runningEmbeddedUrl(dataDir: string): string | undefined {
  let lines: string[]
  let password: string
  try {
    lines = fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')
    password = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim()
  } catch {
    return undefined
  }
  const pid = Number(lines[0])
  const port = Number(lines[3])
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return undefined
  try {
    process.kill(pid, 0)
  } catch (err) {
    // EPERM: alive, but another user's (PostgreSQL runs as `postgres` when the server runs as root).
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined
  }
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`
}
