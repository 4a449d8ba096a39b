import path from 'node:path'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import { findProject, projectEnv } from '../lib/project.ts'
import { loadServer } from '../lib/server.ts'
import { asCliError } from '../lib/server-errors.ts'
import type { RegisterCommand } from './index.ts'

interface ReconcileReport {
  readonly garbage: number
  readonly orphans: number
  readonly temp: number
  readonly ran: boolean
}

interface ServerReconcile {
  runStorageReconcile(env: NodeJS.ProcessEnv, options?: { graceMs?: number }): Promise<ReconcileReport>
}

/**
 * `bastide storage reconcile`: the storage reconciler's hourly run, now, in this process (the server's own code,
 * without its background jobs) against the instance `bastide serve` would find here: DATABASE_URL or the embedded
 * PostgreSQL of the data folder (the running server's, when one runs), the S3 bucket or the local storage folder.
 * Its report is JSON on stdout with or without --json, as scripts read it.
 */
export const storageCommand: RegisterCommand = (program, ctx) => {
  const storage = program.command('storage').description('Stored files (on the server machine)')
  storage
    .command('reconcile')
    .description(
      'Remove the bytes of replaced and deleted files, orphan blobs and interrupted writes now; prints a JSON report.',
    )
    .option(
      '--grace-ms <ms>',
      'spare blobs and temp files younger than this, uploads possibly in flight (default 900000; 0 only when nothing uploads)',
    )
    .option('--data-dir <dir>', "the server's data folder (env BASTIDE_DATA_DIR)")
    .action(async (opts: { graceMs?: string; dataDir?: string }) => {
      const graceMs = opts.graceMs === undefined ? undefined : Number(opts.graceMs)
      if (graceMs !== undefined && !(opts.graceMs?.trim() && Number.isInteger(graceMs) && graceMs >= 0))
        throw new CliError('--grace-ms must be a whole number of milliseconds ≥ 0', EXIT.usage, 'USAGE')
      const env = projectEnv(findProject(ctx.cwd), ctx.env)
      if (opts.dataDir !== undefined) env.BASTIDE_DATA_DIR = path.resolve(ctx.cwd, opts.dataDir)
      const server = await loadServer<ServerReconcile>('cli/run-storage-reconcile.js')
      let report: ReconcileReport
      try {
        report = await server.runStorageReconcile(env, graceMs === undefined ? {} : { graceMs })
      } catch (err) {
        throw asCliError(err)
      }
      if (!report.ran) {
        // With --json the error document is stdout's one document, the report in its details.
        if (!ctx.options().json) ctx.out.result(report, JSON.stringify(report))
        throw new CliError('Another node is reconciling right now; nothing was done.', EXIT.failed, 'BUSY', {
          report,
        })
      }
      ctx.out.result(report, JSON.stringify(report))
    })
}
