import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type FunctionSummary,
  type Invocation,
  type InvocationStatus,
  TRIGGER_KINDS,
  type TriggerKind,
} from '@bastide/protocol'
import { type CliContext, toCliError } from '../context.ts'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import { FUNCTION_NAME, findFunctions, functionsDir } from '../lib/functions-bundle.ts'
import { type DeployOutcome, deployFunction, outcomeLine } from '../lib/functions-deploy.ts'
import { describeTriggers, duration, invocationLines } from '../lib/functions-format.ts'
import { readSecretValue } from '../lib/functions-secret-input.ts'
import { functionTemplate, TEMPLATE_TRIGGERS, type TemplateTrigger } from '../lib/functions-templates.ts'
import { untilInterrupted, watchFunctions } from '../lib/functions-watch.ts'
import type { RegisterCommand } from './index.ts'

const DIR_HELP =
  "the project's bastide/ folder (default: the project's, else ./bastide); functions live in its functions/"
const STATUSES: readonly InvocationStatus[] = ['ok', 'error', 'timeout', 'killed']

/**
 * `bastide functions new|deploy|list|rollback|delete|logs|secrets|serve`: functions as files in the project
 * (`bastide/functions/<name>/index.ts`), bundled here and deployed through the API (the key needs the `functions`
 * scope, or is the admin key).
 */
export const functionsCommand: RegisterCommand = (program, ctx) => {
  const functions = program
    .command('functions')
    .description(
      'Functions: scaffold, bundle and deploy, versions, logs, secrets, a watch loop (needs the functions scope)',
    )

  functions
    .command('new')
    .description('Create bastide/functions/<name>/index.ts from a template')
    .argument('<name>', 'lowercase letters, digits and -, starting with a letter')
    .option('--trigger <kind>', `what it answers to: ${TEMPLATE_TRIGGERS.join(', ')}`, 'http')
    .option('--dir <path>', DIR_HELP)
    .action(async (name: string, opts: { trigger: string; dir?: string }) => {
      checkName(name)
      if (!(TEMPLATE_TRIGGERS as readonly string[]).includes(opts.trigger))
        throw new CliError(
          `--trigger must be one of ${TEMPLATE_TRIGGERS.join(', ')}, not "${opts.trigger}".`,
          EXIT.usage,
          'USAGE',
        )
      const dir = functionsDir(ctx.cwd, opts.dir)
      const folder = path.join(dir, name)
      if (findFunctions(dir).some((f) => f.name === name))
        throw new CliError(`${folder} already holds the function ${name}.`, EXIT.failed, 'FUNCTION_EXISTS')
      const file = path.join(folder, 'index.ts')
      fs.mkdirSync(folder, { recursive: true })
      fs.writeFileSync(file, functionTemplate(name, opts.trigger as TemplateTrigger), { flag: 'wx' })
      const rel = path.relative(ctx.cwd, file) || file
      const root = path.dirname(path.dirname(dir))
      const typed = fs.existsSync(path.join(root, 'node_modules', '@bastide', 'sdk'))
      ctx.out.result({ name, trigger: opts.trigger, file }, [
        `Created ${rel} (${opts.trigger} trigger).`,
        `Deploy it: bastide functions deploy ${name}   (or keep \`bastide functions serve\` running)`,
        ...(typed ? [] : ['For types in your editor: npm install --save-dev @bastide/sdk']),
      ])
    })

  functions
    .command('deploy')
    .description(
      'Bundle each function (or the ones named) with esbuild and deploy it; unchanged ones are skipped',
    )
    .argument('[names...]', 'the functions to deploy (default: every folder under bastide/functions/)')
    .option('--dir <path>', DIR_HELP)
    .option('--force', 'deploy a new version even when the source matches the active one')
    .action(async (names: string[], opts: { dir?: string; force?: boolean }) => {
      const dir = functionsDir(ctx.cwd, opts.dir)
      const local = findFunctions(dir)
      const unknown = names.filter((n) => !local.some((f) => f.name === n))
      if (unknown.length > 0)
        throw new CliError(
          `No function folder ${unknown.map((n) => path.join(dir, n)).join(', ')} (with an index.ts).`,
          EXIT.usage,
          'USAGE',
        )
      const chosen = names.length > 0 ? local.filter((f) => names.includes(f.name)) : local
      if (chosen.length === 0)
        throw new CliError(
          `No functions in ${dir}: create one with \`bastide functions new <name>\`.`,
          EXIT.failed,
          'NO_FUNCTIONS',
        )
      const { client } = ctx.connect()
      const results: DeployOutcome[] = []
      for (const fn of chosen) {
        const { outcome } = await deployFunction(client, fn, { force: opts.force === true })
        results.push(outcome)
        if (!ctx.out.json) ctx.out.result(null, outcomeLine(ctx.out, outcome))
      }
      const failed = results.filter((r) => r.status === 'failed')
      if (failed.length > 0)
        throw new CliError(
          `${failed.length} of ${results.length} function(s) failed to deploy: ${failed.map((f) => f.name).join(', ')}.`,
          EXIT.failed,
          'DEPLOY_FAILED',
          { results },
        )
      const deployed = results.filter((r) => r.status === 'deployed').length
      ctx.out.result({ results }, `${deployed} deployed, ${results.length - deployed} unchanged.`)
    })

  functions
    .command('list')
    .description('The deployed functions: active version, triggers, last invocation')
    .action(async () => {
      const { client } = ctx.connect()
      const items = await ctx.call(() => client.admin.functions.list())
      ctx.out.result({ items }, () =>
        items.length === 0
          ? 'No functions.'
          : ctx.out.table(items.map(row), ['name', 'version', 'triggers', 'deployed', 'last']),
      )
    })

  functions
    .command('rollback')
    .description('Make an earlier version the active one')
    .argument('<name>')
    .argument('<version>', 'a version number (bastide functions list, or the console)')
    .action(async (name: string, v: string) => {
      checkName(name)
      const version = Number(v)
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(version) || version < 1)
        throw new CliError(`<version> must be a version number (1, 2, …), not "${v}".`, EXIT.usage, 'USAGE')
      const { client } = ctx.connect()
      const fn = await ctx.call(() => client.admin.functions.rollback(name, version))
      ctx.out.result(
        fn,
        `${name}: version ${fn.version} is active (${describeTriggers(fn.manifest).join(', ')}).`,
      )
    })

  functions
    .command('delete')
    .description('Delete a function: every version, its secrets, triggers and logs (needs --yes)')
    .argument('<name>')
    .option('--yes', 'delete without asking')
    .action(async (name: string, opts: { yes?: boolean }) => {
      checkName(name)
      const { client } = ctx.connect()
      const fn = await ctx.call(() => client.admin.functions.get(name))
      if (!opts.yes)
        throw new CliError(
          `Deleting ${name} removes its ${fn.versions.length} version(s), ${fn.secrets.length} secret(s) and its triggers: nothing was deleted. Run again with --yes.`,
          EXIT.needsConfirmation,
          'CONFIRMATION_NEEDED',
        )
      await ctx.call(() => client.admin.functions.remove(name))
      ctx.out.result({ deleted: name }, `Deleted the function ${name}.`)
    })

  functions
    .command('logs')
    .description("A function's invocations with their log lines, oldest first; --follow polls for new ones")
    .argument('<name>')
    .option(
      '-f, --follow',
      'keep printing new invocations (every second) until Ctrl-C; with --json, one JSON line each',
    )
    .option('--status <status>', `only these: ${STATUSES.join(', ')}`)
    .option('--trigger <kind>', `only these: ${TRIGGER_KINDS.join(', ')}`)
    .option('--limit <n>', 'the latest n (1 to 200)', '20')
    .action(async (name: string, opts: LogsOptions) => logs(ctx, name, opts))

  const secrets = functions
    .command('secrets')
    .description("A function's secrets (ctx.secrets): names only are ever shown")
  secrets
    .command('list')
    .description('The names of the secrets of a function')
    .argument('<name>')
    .action(async (name: string) => {
      checkName(name)
      const { client } = ctx.connect()
      const fn = await ctx.call(() => client.admin.functions.get(name))
      ctx.out.result({ items: fn.secrets }, () =>
        fn.secrets.length === 0
          ? `${name} has no secrets.`
          : ctx.out.table(
              fn.secrets.map((s) => ({ name: s.name, updated: s.updatedAt })),
              ['name', 'updated'],
            ),
      )
    })
  secrets
    .command('set')
    .description(
      'Set a secret; its value from --value, or stdin (`--value -`, or no --value: asked for without echo at a terminal)',
    )
    .argument('<name>')
    .argument('<key>', 'the name the function reads: ctx.secrets.KEY')
    .option('--value <value>', 'the value, or - to read it from stdin')
    .action(async (name: string, key: string, opts: { value?: string }) => {
      checkName(name)
      checkSecretName(key)
      const value = await readSecretValue(opts.value, `Value of ${key} for ${name}`)
      const { client } = ctx.connect()
      await ctx.call(() => client.admin.functions.setSecret(name, key, value))
      ctx.out.result(
        { function: name, secret: key, set: true },
        `Set ${key} for ${name} (from its next invocation).`,
      )
    })
  secrets
    .command('unset')
    .description('Remove a secret')
    .argument('<name>')
    .argument('<key>')
    .action(async (name: string, key: string) => {
      checkName(name)
      checkSecretName(key)
      const { client } = ctx.connect()
      await ctx.call(() => client.admin.functions.deleteSecret(name, key))
      ctx.out.result({ function: name, secret: key, set: false }, `Removed ${key} from ${name}.`)
    })

  functions
    .command('serve')
    .description(
      "Deploy every function, then redeploy each one when its files change (to the profile's server, normally a local `bastide serve`); Ctrl-C stops",
    )
    .option('--dir <path>', DIR_HELP)
    .action(async (opts: { dir?: string }) => {
      const dir = functionsDir(ctx.cwd, opts.dir)
      const { client, url } = ctx.connect()
      const stop = untilInterrupted()
      let first = true
      ctx.out.note(`Watching ${path.relative(ctx.cwd, dir) || '.'} → ${url} (Ctrl-C stops)`)
      try {
        await watchFunctions({
          dir,
          client,
          signal: stop.signal,
          onOutcome: (o) => {
            if (ctx.out.json)
              process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...o })}\n`)
            else ctx.out.result(null, `${time()} ${outcomeLine(ctx.out, o)}`)
          },
          onProblem: (message) => ctx.out.warn(message),
          onIdle: () => {
            if (first) ctx.out.note(`${time()} ready: watching for changes`)
            first = false
          },
        })
      } finally {
        stop.dispose()
      }
      ctx.out.note('Stopped.')
    })
}

interface LogsOptions {
  readonly follow?: boolean
  readonly status?: string
  readonly trigger?: string
  readonly limit: string
}

async function logs(ctx: CliContext, name: string, opts: LogsOptions): Promise<void> {
  checkName(name)
  const limit = Number(opts.limit)
  if (!/^\d+$/.test(opts.limit) || limit < 1 || limit > 200)
    throw new CliError('--limit must be a whole number from 1 to 200.', EXIT.usage, 'USAGE')
  if (opts.status !== undefined && !(STATUSES as readonly string[]).includes(opts.status))
    throw new CliError(`--status must be one of ${STATUSES.join(', ')}.`, EXIT.usage, 'USAGE')
  if (opts.trigger !== undefined && !(TRIGGER_KINDS as readonly string[]).includes(opts.trigger))
    throw new CliError(`--trigger must be one of ${TRIGGER_KINDS.join(', ')}.`, EXIT.usage, 'USAGE')
  const filters = {
    ...(opts.status ? { status: opts.status as InvocationStatus } : {}),
    ...(opts.trigger ? { trigger: opts.trigger as TriggerKind } : {}),
  }
  const { client } = ctx.connect()
  const page = await ctx.call(() => client.admin.functions.invocations(name, { ...filters, limit }))
  const print = (items: readonly Invocation[]) => {
    // Newest first from the server; oldest first on a terminal, as logs read.
    for (const inv of [...items].reverse()) {
      if (ctx.out.json) process.stdout.write(`${JSON.stringify(inv)}\n`)
      else ctx.out.result(null, invocationLines(ctx.out, inv))
    }
  }
  if (!opts.follow) {
    ctx.out.result(page, () =>
      page.items.length === 0
        ? `No invocations of ${name}${opts.status || opts.trigger ? ' matching the filters' : ''}.`
        : [...page.items].reverse().flatMap((inv) => invocationLines(ctx.out, inv)),
    )
    return
  }
  print(page.items)
  const seen = new Set(page.items.map((i) => i.id))
  const stop = untilInterrupted()
  let failing = false
  try {
    while (!stop.signal.aborted) {
      try {
        await sleep(1000, undefined, { signal: stop.signal })
      } catch {
        break
      }
      let fresh: Invocation[]
      try {
        // The newest page, whole: invocation rows are written in batches, so one may land after a newer one.
        fresh = (await client.admin.functions.invocations(name, { ...filters, limit: 200 })).items.filter(
          (i) => !seen.has(i.id),
        )
        failing = false
      } catch (err) {
        const e = err as { status?: number; message?: string }
        // The server restarting (a dev loop): say so once, keep polling. Anything else ends the follow.
        if (e.status !== 0 && e.status !== 503) throw toCliError(err)
        if (!failing) ctx.out.warn(`${e.message} (still trying)`)
        failing = true
        continue
      }
      print(fresh)
      for (const i of fresh) seen.add(i.id)
      // Bounded: ids older than a few pages never come back.
      if (seen.size > 2000) for (const id of [...seen].slice(0, seen.size - 1000)) seen.delete(id)
    }
  } finally {
    stop.dispose()
  }
}

function checkName(name: string): void {
  if (!FUNCTION_NAME.test(name))
    throw new CliError(
      `"${name}" is not a function name: lowercase letters, digits and -, starting with a letter (at most 63).`,
      EXIT.usage,
      'USAGE',
    )
}

function checkSecretName(key: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key))
    throw new CliError(
      `"${key}" is not a secret name: letters, digits and _, not starting with a digit (at most 64).`,
      EXIT.usage,
      'USAGE',
    )
}

function row(f: FunctionSummary) {
  const last = f.lastInvocation
  return {
    name: f.name,
    version: f.version,
    triggers: describeTriggers(f.manifest).join(', '),
    deployed: f.deployedAt,
    last: last ? `${last.status} ${duration(last.durationMs)} ${last.at}` : 'never',
  }
}

const time = () => new Date().toISOString().slice(11, 19)
