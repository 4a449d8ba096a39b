import path from 'node:path'
import type { SchemaChange, SchemaPlan } from '@bastide/protocol'
import type { CliContext } from '../context.ts'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import { projectDir, readSchemaFiles, writeSchemaFiles } from '../lib/schema-files.ts'
import type { RegisterCommand } from './index.ts'

const DIR_HELP = "the project's bastide/ folder (default: the project's, else ./bastide)"

/** `bastide schema pull|diff|push`: the schema as reviewable files, moved between instances by plans. */
export const schemaCommand: RegisterCommand = (program, ctx) => {
  const schema = program
    .command('schema')
    .description('Schema as code: collections, buckets and channel definitions as files (bastide/schema/)')

  schema
    .command('pull')
    .description("write the server's schema as files, one per collection, bucket and channel definition")
    .option('--dir <path>', DIR_HELP)
    .action(async (opts: { dir?: string }) => {
      const dir = projectDir(ctx.cwd, opts.dir)
      const { client } = ctx.connect()
      const doc = await ctx.call(() => client.admin.schema.export())
      const result = writeSchemaFiles(dir, doc)
      const rel = (f: string) => path.relative(ctx.cwd, path.join(dir, f)) || f
      ctx.out.result({ dir, ...result }, () => [
        ...result.written.map((f) => `${ctx.out.paint('green', 'wrote')}   ${rel(f)}`),
        ...result.removed.map((f) => `${ctx.out.paint('red', 'removed')} ${rel(f)}`),
        result.written.length + result.removed.length === 0
          ? `Up to date: ${result.unchanged} file(s) unchanged in ${path.relative(ctx.cwd, dir) || '.'}/schema.`
          : `${result.written.length} written, ${result.removed.length} removed, ${result.unchanged} unchanged.`,
      ])
    })

  schema
    .command('diff')
    .description('print what pushing the files would change on the server (destructive changes marked)')
    .option('--dir <path>', DIR_HELP)
    .option('--exit-code', 'exit with 4 when there are changes (for CI)')
    .option('--check', 'also try the apply on the server and roll it back: proves it applies, prints its SQL')
    .action(async (opts: { dir?: string; exitCode?: boolean; check?: boolean }) => {
      const doc = readSchemaFiles(projectDir(ctx.cwd, opts.dir))
      const { client } = ctx.connect()
      const plan = await ctx.call(() => client.admin.schema.plan(doc, { check: opts.check === true }))
      ctx.out.result(plan, () => [
        ...planLines(ctx, plan),
        ...(plan.sql && plan.changes.length > 0
          ? [
              '',
              ctx.out.paint('dim', `-- checked: the apply runs (then was rolled back):`),
              ...plan.sql.map((q) => ctx.out.paint('dim', `${q};`)),
            ]
          : []),
      ])
      if (opts.exitCode && plan.changes.length > 0)
        throw new CliError(`${plan.changes.length} change(s) to apply.`, EXIT.needsConfirmation, 'CHANGES')
    })

  schema
    .command('push')
    .description('apply the files to the server in one transaction (destructive changes need --yes)')
    .option('--dir <path>', DIR_HELP)
    .option('--yes', 'also apply destructive changes (drops, lossy retypes)')
    .option('--dry-run', 'print the plan and apply nothing')
    .action(async (opts: { dir?: string; yes?: boolean; dryRun?: boolean }) => {
      const doc = readSchemaFiles(projectDir(ctx.cwd, opts.dir))
      const { client } = ctx.connect()
      const plan = await ctx.call(() => client.admin.schema.plan(doc))
      if (plan.changes.length === 0 || opts.dryRun) {
        ctx.out.result({ ...plan, applied: false }, () => planLines(ctx, plan))
        return
      }
      const destructive = plan.changes.filter((c) => c.destructive)
      if (destructive.length > 0 && !opts.yes) {
        if (!ctx.out.json) ctx.out.note(planLines(ctx, plan).join('\n'))
        throw new CliError(
          `${destructive.length} destructive change(s): nothing was applied. Run again with --yes to apply them.`,
          EXIT.needsConfirmation,
          'DESTRUCTIVE_CHANGES',
          { destructive },
        )
      }
      // expectHash: exactly the plan shown, or nothing (the server changed in between).
      const result = await ctx.call(() =>
        client.admin.schema.apply(doc, { allowDestructive: opts.yes === true, expectHash: plan.hash }),
      )
      ctx.out.result(result, () => [
        ...planLines(ctx, result),
        `Applied ${result.changes.length} change(s) in one transaction.`,
      ])
    })
}

/** One line per change: `+` adds, `-` removes, `~` changes; destructive ones marked (red on a terminal). */
export function planLines(ctx: CliContext, plan: Pick<SchemaPlan, 'changes'>): string[] {
  if (plan.changes.length === 0) return ['No changes: the server matches the files.']
  return plan.changes.map((c) => {
    const line = `${sign(c)} ${c.description}`
    return c.destructive ? ctx.out.paint('red', `${line}  [destructive]`) : line
  })
}

function sign(c: SchemaChange): string {
  if (/\.(create|add)$/.test(c.op)) return '+'
  if (/\.(drop|delete)$/.test(c.op)) return '-'
  return '~'
}
