import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { CliContext } from '../context.ts'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import type { Progress } from '../lib/output.ts'
import { loadServer } from '../lib/server.ts'
import type { RegisterCommand } from './index.ts'

/** What the server's `dist/cli/backup.js` (src/cli/backup.ts) exports, as far as this command uses it. */
interface Engine {
  backupCreate(o: {
    env: NodeJS.ProcessEnv
    file: string
    gzip: boolean
    onProgress?: (p: PhaseProgress) => void
  }): Promise<Manifest>
  backupVerify(
    file: string,
    onBytes?: (read: number, total: number) => void,
    secret?: string,
  ): Promise<{
    ok: boolean
    manifest: Manifest | undefined
    authenticated: boolean
    problems: readonly string[]
  }>
  backupRestore(o: {
    env: NodeJS.ProcessEnv
    file: string
    onProgress?: (p: PhaseProgress) => void
  }): Promise<{ manifest: Manifest; tables: number; rows: number; files: number }>
}

interface PhaseProgress {
  readonly phase: string
  readonly done: number
  readonly total: number
}

/** The parts of manifest.json (docs/backups.md) this command prints. */
interface Manifest {
  readonly created: string
  readonly server: { readonly version: string }
  readonly postgres: { readonly version: string }
  readonly snapshot: { readonly id: string; readonly takenAt: string }
  readonly totals: {
    readonly tables: number
    readonly rows: number
    readonly files: number
    readonly fileBytes: number
    readonly missingFiles: number
  }
}

/**
 * `bastide backup create|verify|restore`: in this process, against the instance the environment describes (as
 * `bastide serve` finds it: DATABASE_URL or the embedded PostgreSQL under BASTIDE_DATA_DIR, BASTIDE_S3_* or the
 * local storage folder, BASTIDE_SECRET), through the server's backup engine (packages/server/src/core/backup).
 */
export const backupCommand: RegisterCommand = (program, ctx) => {
  const backup = program
    .command('backup')
    .description('Back up an instance (database snapshot and stored files), verify an archive, restore it.')
  backup
    .command('create')
    .description('Write a consistent backup of the configured instance to a file (taken while it runs).')
    .option(
      '-o, --out <file>',
      'the archive to write (.tar, or .tar.gz to compress), or s3://bucket/[prefix/]name',
      defaultName(),
    )
    .option(
      '--remote',
      'take it through the server’s API (GET /api/admin/backups/download, the admin key) instead of in this process',
    )
    .action(async (opts: { out: string; remote?: boolean }) => {
      const file = where(ctx, opts.out)
      if (opts.remote && isS3(file))
        throw new CliError(
          '--remote saves to a local file; --out s3://… is for backups taken here.',
          EXIT.usage,
          'USAGE',
        )
      await (opts.remote ? createRemote(ctx, file) : create(ctx, file))
    })
  backup
    .command('list')
    .description('The server’s backup schedule, latest runs and kept archives (through its API).')
    .action(async () => list(ctx))
  backup
    .command('verify')
    .description(
      'Check every entry of an archive against its manifest (exit 1 on any mismatch); with the source’s ' +
        'BASTIDE_SECRET (environment or --secret-file), authenticate the manifest too.',
    )
    .argument('<file>', 'the archive')
    .option('--secret-file <file>', 'a file holding the source instance’s BASTIDE_SECRET')
    .action(async (file: string, opts: { secretFile?: string }) =>
      verify(ctx, path.resolve(ctx.cwd, file), verifySecret(ctx, opts.secretFile)),
    )
  backup
    .command('restore')
    .description('Restore an archive into the configured instance, which must be empty.')
    .argument('<file>', 'the archive (a path, or s3://bucket/[prefix/]name)')
    .action(async (file: string) => restore(ctx, where(ctx, file)))
}

const isS3 = (file: string) => file.startsWith('s3://')
/** A local path is taken from the current folder; an S3 address as it is. */
const where = (ctx: CliContext, file: string) => (isS3(file) ? file : path.resolve(ctx.cwd, file))

function defaultName(): string {
  return `bastide-backup-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z')}.tar.gz`
}

async function create(ctx: CliContext, file: string): Promise<void> {
  const engine = await loadServer<Engine>('cli/backup.js')
  const bars = phases(ctx)
  const manifest = await engine
    .backupCreate({ env: ctx.env, file, gzip: /\.(gz|tgz)$/.test(file), onProgress: bars.tick })
    .catch(mapError)
    .finally(bars.done)
  const t = manifest.totals
  if (t.missingFiles > 0)
    ctx.out.warn(
      `${t.missingFiles} file(s) were deleted after the snapshot and are listed as missing in the manifest.`,
    )
  ctx.out.result({ file, created: manifest.created, snapshot: manifest.snapshot, totals: t }, [
    `Backup written to ${file}`,
    `  snapshot ${manifest.created}: ${t.tables} tables, ${t.rows} rows, ${t.files} files (${t.fileBytes} bytes)`,
  ])
}

/**
 * Saves the archive the server streams (gzipped) under a temporary name, renames it once complete, then
 * verifies it here: what is on disk is checked, not only what was sent.
 */
async function createRemote(ctx: CliContext, file: string): Promise<void> {
  const { client } = ctx.connect()
  const res = await ctx.call(() => client.admin.backups.download())
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.partial-${randomBytes(4).toString('hex')}`,
  )
  const size = Number(res.headers.get('content-length')) || undefined
  const bar = ctx.out.progress('download', size)
  try {
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bar.tick(chunk.length)
        cb(null, chunk)
      },
    })
    await pipeline(
      Readable.fromWeb(res.body as WebReadableStream),
      count,
      fs.createWriteStream(temp, { mode: 0o600 }),
    )
    await rename(temp, file)
  } catch (err) {
    await rm(temp, { force: true })
    throw new CliError(`The download failed: ${(err as Error).message}`, EXIT.failed, 'DOWNLOAD_FAILED')
  } finally {
    bar.done()
  }
  const engine = await loadServer<Engine>('cli/backup.js')
  const r = await engine.backupVerify(file, undefined, ctx.env.BASTIDE_SECRET || undefined)
  if (!r.ok)
    throw new CliError(
      `The downloaded backup does not match its manifest:\n  ${r.problems.join('\n  ')}`,
      EXIT.failed,
      'BACKUP_DAMAGED',
      {
        problems: r.problems,
      },
    )
  const m = r.manifest!
  const t = m.totals
  if (t.missingFiles > 0)
    ctx.out.warn(
      `${t.missingFiles} file(s) were deleted after the snapshot and are listed as missing in the manifest.`,
    )
  ctx.out.result({ file, created: m.created, snapshot: m.snapshot, totals: t }, [
    `Backup downloaded to ${file} (verified)`,
    `  snapshot ${m.created}: ${t.tables} tables, ${t.rows} rows, ${t.files} files (${t.fileBytes} bytes)`,
  ])
}

async function list(ctx: CliContext): Promise<void> {
  const { client } = ctx.connect()
  const o = await ctx.call(() => client.admin.backups.list())
  ctx.out.result(o, () => [
    o.schedule.cron
      ? `Scheduled: ${o.schedule.cron} (UTC) to ${o.schedule.target}, keeping ${o.schedule.keep}; next ${o.schedule.next ?? 'never'}`
      : 'No scheduled backups (BASTIDE_BACKUP_CRON is unset).',
    '',
    ...(o.runs.length
      ? ctx.out.table(
          o.runs.map((r) => ({ ...r, rows: r.totals?.rows, files: r.totals?.files, error: r.error ?? '' })),
          ['started', 'trigger', 'status', 'archive', 'size', 'rows', 'files', 'error'],
        )
      : ['No runs yet.']),
  ])
}

/** --secret-file's content (trimmed, as the data directory's secret file is read), else BASTIDE_SECRET. */
function verifySecret(ctx: CliContext, file: string | undefined): string | undefined {
  if (file === undefined) return ctx.env.BASTIDE_SECRET || undefined
  try {
    return fs.readFileSync(path.resolve(ctx.cwd, file), 'utf8').trim()
  } catch (err) {
    throw new CliError(`Cannot read --secret-file: ${(err as Error).message}`, EXIT.usage, 'USAGE')
  }
}

async function verify(ctx: CliContext, file: string, secret: string | undefined): Promise<void> {
  const engine = await loadServer<Engine>('cli/backup.js')
  const bars = phases(ctx)
  const r = await engine
    .backupVerify(file, (done, total) => bars.tick({ phase: 'verify', done, total }), secret)
    .catch(mapError)
    .finally(bars.done)
  if (!r.ok)
    throw new CliError(
      `The backup does not match its manifest:\n  ${r.problems.join('\n  ')}`,
      EXIT.failed,
      'BACKUP_DAMAGED',
      { problems: r.problems },
    )
  const m = r.manifest!
  if (!r.authenticated)
    ctx.out.warn(
      'The manifest is unauthenticated: entries match it, but anyone could have written it. Give the source’s ' +
        'BASTIDE_SECRET (environment or --secret-file) to check its HMAC.',
    )
  ctx.out.result(
    {
      ok: true,
      authenticated: r.authenticated,
      file,
      created: m.created,
      server: m.server,
      totals: m.totals,
    },
    [
      `OK: ${file}`,
      `  taken ${m.created} by Bastide ${m.server.version} on PostgreSQL ${m.postgres.version}`,
      `  ${m.totals.tables} tables, ${m.totals.rows} rows, ${m.totals.files} files: every checksum matches`,
      r.authenticated
        ? '  manifest authenticated (HMAC under this BASTIDE_SECRET)'
        : '  manifest unauthenticated',
    ],
  )
}

async function restore(ctx: CliContext, file: string): Promise<void> {
  const engine = await loadServer<Engine>('cli/backup.js')
  const bars = phases(ctx)
  const r = await engine
    .backupRestore({ env: ctx.env, file, onProgress: bars.tick })
    .catch(mapError)
    .finally(bars.done)
  ctx.out.result({ file, created: r.manifest.created, tables: r.tables, rows: r.rows, files: r.files }, [
    `Restored ${file} (snapshot ${r.manifest.created}): ${r.tables} tables, ${r.rows} rows, ${r.files} files.`,
    'Start (or restart) the server on this instance.',
  ])
}

/** One progress bar per phase (tables, files...), each replacing the last. */
function phases(ctx: CliContext) {
  let current: { phase: string; bar: Progress; done: number } | undefined
  return {
    tick: (p: PhaseProgress) => {
      if (current?.phase !== p.phase) {
        current?.bar.done()
        current = { phase: p.phase, bar: ctx.out.progress(p.phase, p.total), done: 0 }
      }
      current.bar.tick(p.done - current.done)
      current.done = p.done
    },
    done: () => current?.bar.done(),
  }
}

/** The engine's expected failures as CLI errors; anything else is a bug and stays as is. */
function mapError(err: unknown): never {
  const e = err as { name?: string; message?: string; code?: string; details?: Record<string, unknown> }
  if (e?.name === 'BackupError') throw new CliError(e.message!, EXIT.failed, e.code, e.details)
  if (e?.name === 'ConfigError' || e?.constructor?.name === 'ConfigError')
    throw new CliError(e.message!, EXIT.usage, 'INVALID_CONFIG')
  if (
    typeof e?.code === 'string' &&
    /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|28P01|28000|3D000)$/.test(e.code)
  )
    throw new CliError(`Cannot reach the database: ${e.message}`, EXIT.unreachable, 'DATABASE_UNREACHABLE')
  if (e?.message === 'timeout expired' || e?.message === 'Connection terminated due to connection timeout')
    throw new CliError(`Cannot reach the database: ${e.message}`, EXIT.unreachable, 'DATABASE_UNREACHABLE')
  if (typeof e?.code === 'string' && /^(ENOENT|EACCES|EISDIR|ENOTDIR)$/.test(e.code))
    throw new CliError(e.message!, EXIT.failed, e.code)
  throw err
}
