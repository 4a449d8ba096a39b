import { parseArgs } from 'node:util'
import pino from 'pino'
import { startBastide } from '../server.ts'
import { readConfig } from './read-config.ts'

const USAGE = `Usage: pnpm --filter @bastide/server storage:reconcile -- [--grace-ms <ms>]
Brings storage bytes back in line with the database now, instead of waiting for the hourly run: removes the
blobs of replaced and deleted objects, blobs no object points at (uploads cut off by a crash), and temp files
of interrupted writes. Blobs and temp files younger than --grace-ms (default 900000, 15 minutes) are spared,
as they may belong to uploads still in flight on a running node; --grace-ms 0 is safe only when no node is
uploading (after a crash, before traffic resumes). Prints the report as JSON on stdout (logs go to stderr).
Configuration comes from the environment, as for the server. With embedded PostgreSQL (no DATABASE_URL),
stop the server first.`

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
  const config = readConfig(process.env)
  if (!config) return 2
  // stdout carries the report alone (scripts parse it); logs go to stderr, synchronously so that none is
  // lost to process.exit.
  const log = pino(
    { level: 'warn', base: { service: 'bastide-cli' } },
    pino.destination({ dest: 2, sync: true }),
  )
  const bastide = await startBastide(config, { listen: false, jobs: false, log })
  try {
    const report = await bastide.storage.reconcile(graceMs === undefined ? {} : { graceMs })
    console.log(JSON.stringify(report))
    if (!report.ran) {
      console.error('Another node is reconciling right now; nothing was done.')
      return 1
    }
    return 0
  } finally {
    await bastide.close()
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
