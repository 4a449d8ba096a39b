import path from 'node:path'
import type { SchemaDocument } from '@bastide/protocol'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import { projectDir, readMigrations, readSchemaFiles, writeMigration } from '../lib/schema-files.ts'
import type { RegisterCommand } from './index.ts'
import { planLines } from './schema.ts'

const DIR_HELP = "the project's bastide/ folder (default: the project's, else ./bastide)"

/**
 * `bastide migrations new|status|up`: ordered migration files generated from the schema files, replayed on each
 * instance (dev → staging → prod). A migration holds the whole schema it leads to (and, for review, the changes
 * from the one before); each is applied in its own transaction together with the record of its id.
 */
export const migrationsCommand: RegisterCommand = (program, ctx) => {
  const migrations = program
    .command('migrations')
    .description('Ordered schema migrations (bastide/migrations/), generated from the schema files')

  migrations
    .command('new')
    .description('write the next migration: the changes from the last migration to the schema files')
    .argument('<name>', 'what it does, e.g. add_posts')
    .option('--dir <path>', DIR_HELP)
    .action(async (name: string, opts: { dir?: string }) => {
      const dir = projectDir(ctx.cwd, opts.dir)
      const target = readSchemaFiles(dir)
      const last = readMigrations(dir).at(-1)
      const { client } = ctx.connect()
      // The first migration starts from an empty instance: only its built-in collections (users).
      const base: SchemaDocument =
        last?.schema ??
        (await ctx.call(async () => {
          const live = await client.admin.schema.export()
          return { collections: live.collections.filter((c) => c.system), buckets: [], channels: [] }
        }))
      const plan = await ctx.call(() => client.admin.schema.plan(target, { base }))
      if (plan.changes.length === 0) {
        ctx.out.result(
          { created: null, changes: [] },
          'No changes since the last migration: nothing written.',
        )
        return
      }
      const { id, file } = writeMigration(dir, name, { changes: plan.changes, schema: target })
      ctx.out.result({ created: id, file, changes: plan.changes }, () => [
        ...planLines(ctx, plan),
        `Wrote ${path.relative(ctx.cwd, file)}.`,
      ])
    })

  migrations
    .command('status')
    .description('which migrations the server has applied, which are pending, which files changed since')
    .option('--dir <path>', DIR_HELP)
    .action(async (opts: { dir?: string }) => {
      const rows = await status(opts.dir)
      ctx.out.result({ migrations: rows }, () =>
        rows.length === 0 ? ['No migrations.'] : ctx.out.table(rows, ['id', 'state', 'appliedAt']),
      )
      const bad = rows.filter((r) => r.state === 'checksum mismatch' || r.state === 'edited')
      if (bad.length > 0)
        throw new CliError(
          `${bad.map((r) => r.id).join(', ')}: the file changed after it was written or applied. Restore it and add a new migration instead.`,
          EXIT.failed,
          'CHECKSUM_MISMATCH',
        )
    })

  migrations
    .command('up')
    .description('apply pending migrations in order, each in its own transaction; stops at the first failure')
    .option('--dir <path>', DIR_HELP)
    .option('--yes', 'also apply destructive changes (drops, lossy retypes)')
    .action(async (opts: { dir?: string; yes?: boolean }) => {
      const rows = await status(opts.dir)
      const bad = rows.filter((r) => r.state === 'checksum mismatch' || r.state === 'edited')
      if (bad.length > 0)
        throw new CliError(
          `${bad.map((r) => `${r.id} (${r.state})`).join(', ')}: refusing to apply anything. Run bastide migrations status.`,
          EXIT.failed,
          'CHECKSUM_MISMATCH',
        )
      const files = new Map(readMigrations(projectDir(ctx.cwd, opts.dir)).map((m) => [m.id, m]))
      const pending = rows.filter((r) => r.state === 'pending').map((r) => files.get(r.id)!)
      const { client } = ctx.connect()
      const applied: string[] = []
      const progress = ctx.out.progress('migrations', pending.length)
      for (const m of pending) {
        try {
          await ctx.call(() =>
            client.admin.schema.applyMigration({
              id: m.id,
              checksum: m.checksum,
              schema: m.schema,
              allowDestructive: opts.yes === true,
            }),
          )
        } catch (err) {
          progress.done()
          if (applied.length) ctx.out.note(`Applied: ${applied.join(', ')}.`)
          if (err instanceof CliError && err.details?.reason === 'destructive')
            throw new CliError(
              `${m.id} has destructive changes: nothing of it was applied. Run again with --yes to apply them.`,
              EXIT.needsConfirmation,
              'DESTRUCTIVE_CHANGES',
              { id: m.id, applied, ...err.details },
            )
          if (err instanceof CliError)
            throw new CliError(
              `${m.id} failed, nothing of it was applied: ${err.message}`,
              err.exitCode,
              err.code,
              {
                id: m.id,
                applied,
                ...err.details,
              },
            )
          throw err
        }
        applied.push(m.id)
        progress.tick()
      }
      progress.done()
      ctx.out.result({ applied }, () =>
        applied.length === 0 ? 'Up to date: no pending migrations.' : applied.map((id) => `applied ${id}`),
      )
    })

  /** Every migration, local or applied: `applied`, `pending`, `edited` (file ≠ its checksum), `checksum mismatch`
   * (applied with another checksum), `missing` (applied, no file here). */
  async function status(dirOpt: string | undefined) {
    const local = readMigrations(projectDir(ctx.cwd, dirOpt))
    const { client } = ctx.connect()
    const remote = new Map((await ctx.call(() => client.admin.schema.migrations())).map((m) => [m.id, m]))
    const rows = local.map((m) => {
      const r = remote.get(m.id)
      const state =
        m.actualChecksum !== m.checksum
          ? 'edited'
          : !r
            ? 'pending'
            : r.checksum !== m.checksum
              ? 'checksum mismatch'
              : 'applied'
      return { id: m.id, state, appliedAt: r?.appliedAt ?? null }
    })
    for (const r of remote.values())
      if (!local.some((m) => m.id === r.id)) rows.push({ id: r.id, state: 'missing', appliedAt: r.appliedAt })
    return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }
}
