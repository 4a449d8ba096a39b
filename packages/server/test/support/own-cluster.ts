import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { loadConfig } from '../../src/config/load-config.ts'
import { type EmbeddedPg, freePort, startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts'
import { type Bastide, startBastide } from '../../src/server.ts'
import { ADMIN_KEY } from './harness.ts'

/** Bastide on `databaseUrl`, on a free loopback port, logging nothing; `env` adds or overrides variables. */
export function startQuietBastide(databaseUrl: string, env: Record<string, string> = {}): Promise<Bastide> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    PORT: '0',
    HOST: '127.0.0.1',
    BASTIDE_LOG_LEVEL: 'silent',
    BASTIDE_SHUTDOWN_TIMEOUT_MS: '2000',
    ...env,
  })
  return startBastide(config, { log: pino({ level: 'silent' }) })
}

/**
 * A PostgreSQL cluster of the test's own, with Bastide on it: for tests that stop or freeze the database,
 * which would stall every other test file on the shared one.
 */
export interface OwnCluster {
  readonly dataDir: string
  /** Fixed, so that a restarted cluster comes back where the pool expects it. */
  readonly port: number
  /** The running PostgreSQL; the test sets it to undefined while stopped, and back once restarted. */
  pg: EmbeddedPg | undefined
  readonly bastide: Bastide
}

/** Starts the cluster in a fresh data dir and Bastide on it; undoes what it started if either fails. */
export async function startOwnCluster(prefix: string, env: Record<string, string> = {}): Promise<OwnCluster> {
  // Tests may run as root, where the cluster runs as the `postgres` OS user: it must reach the dir.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dataDir, 0o755)
  let pg: EmbeddedPg | undefined
  try {
    const port = await freePort()
    pg = await startEmbeddedPostgres({ dataDir, port })
    const bastide = await startQuietBastide(pg.url, env)
    return { dataDir, port, pg, bastide }
  } catch (err) {
    await pg?.stop().catch(() => {})
    fs.rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
}

/** Bastide, then its PostgreSQL, then the data dir: each step on its own, so one failure leaves none undone. */
export async function closeOwnCluster(c: OwnCluster | undefined): Promise<void> {
  if (!c) return
  try {
    await c.bastide.close()
  } catch (e) {
    console.error('[own-cluster] bastide.close failed', e)
  }
  try {
    await c.pg?.stop()
  } catch (e) {
    console.error('[own-cluster] pg.stop failed', e)
  }
  fs.rmSync(c.dataDir, { recursive: true, force: true })
}

/**
 * Uncaught exceptions while `listen()`ing. A pg client that loses its server while checked out of the pool
 * emits 'error'; without a listener that is an uncaught exception, which kills a production process.
 */
export function uncaughtExceptions() {
  const seen: unknown[] = []
  const on = (err: unknown) => void seen.push(err)
  return {
    listen: () => void process.on('uncaughtException', on),
    stop: () => void process.off('uncaughtException', on),
    /** Each as `message (code)`, for an assertion that reads well when it fails. */
    described: () =>
      seen.map((e) => `${(e as Error)?.message} (${(e as { code?: string })?.code ?? 'no code'})`),
  }
}
