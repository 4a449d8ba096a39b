import { parseArgs } from 'node:util'
import { ConfigError } from '../config/load-config.ts'
import { runStorageReconcile } from './run-storage-reconcile.ts'

const USAGE = `Usage: pnpm --filter @bastide/server storage:reconcile -- [--grace-ms <ms>]   (the same as \`bastide storage reconcile\`)
Brings storage bytes back in line with the database now, instead of waiting for the hourly run: removes the
blobs of replaced and deleted objects, blobs no object points at (uploads cut off by a crash), and temp files
of interrupted writes. Blobs and temp files younger than --grace-ms (default 900000, 15 minutes) are spared,
as they may belong to uploads still in flight on a running node; --grace-ms 0 is safe only when no node is
uploading (after a crash, before traffic resumes). Prints the report as JSON on stdout (logs go to stderr).
Configuration comes from the environment, as for the server; with embedded PostgreSQL (no DATABASE_URL) it
uses the one a running server holds in BASTIDE_DATA_DIR.`

/** Runs the storage reconciler once, from the command line, against the configured database and store. */
async function main(): Promise<number> {
  let values: { 'grace-ms'?: string; help?: boolean }
  try {
    ;({ values } = parseArgs({
      args: process.argv.slice(2).filter((a) => a !== '--'),
      options: { 'grace-ms': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }))
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const graceMs = values['grace-ms'] === undefined ? undefined : Number(values['grace-ms'])
  if (graceMs !== undefined && !(Number.isInteger(graceMs) && graceMs >= 0)) {
    console.error(`--grace-ms must be a whole number of milliseconds ≥ 0\n\n${USAGE}`)
    return 2
  }
  let report: Awaited<ReturnType<typeof runStorageReconcile>>
  try {
    report = await runStorageReconcile(process.env, graceMs === undefined ? {} : { graceMs })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    return 2
  }
  // stdout carries the report alone: scripts parse it.
  console.log(JSON.stringify(report))
  if (!report.ran) {
    console.error('Another node is reconciling right now; nothing was done.')
    return 1
  }
  return 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
