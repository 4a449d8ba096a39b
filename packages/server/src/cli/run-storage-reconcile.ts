import pino from 'pino'
import { loadConfig } from '../config/load-config.ts'
import type { ReconcileReport } from '../core/files/reconcile.ts'
import { startBastide } from '../server.ts'
import { runningEmbeddedUrl } from './create-console-admin.ts'

/**
 * Runs the storage reconciler once against the database and store `env` configures, as the server would find them:
 * DATABASE_URL, else the embedded PostgreSQL of BASTIDE_DATA_DIR — the running one when a server holds it, else
 * started for the occasion and stopped after. Safe beside running nodes: the reconciler takes the same lock as their
 * hourly run (`ran: false` when another holds it), and spares blobs and temp files younger than `graceMs`. Logs go
 * to stderr, synchronously (none lost to process.exit), so that stdout can carry the report alone. Used by
 * `bastide storage reconcile` and `pnpm --filter @bastide/server storage:reconcile`.
 *
 * Throws ConfigError for a bad variable.
 */
export async function runStorageReconcile(
  env: NodeJS.ProcessEnv,
  options: { graceMs?: number } = {},
): Promise<ReconcileReport> {
  const serverEnv = { ...env, BASTIDE_CONSOLE_DIR: 'off' }
  let config = loadConfig(serverEnv)
  if (!config.databaseUrl) {
    const running = runningEmbeddedUrl(config.dataDir)
    if (running) config = loadConfig({ ...serverEnv, DATABASE_URL: running })
  }
  const log = pino(
    { level: 'warn', base: { service: 'bastide-cli' } },
    pino.destination({ dest: 2, sync: true }),
  )
  const bastide = await startBastide(config, { listen: false, jobs: false, log })
  try {
    return await bastide.storage.reconcile(options.graceMs === undefined ? {} : { graceMs: options.graceMs })
  } finally {
    await bastide.close()
  }
}
