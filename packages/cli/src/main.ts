import { Command, CommanderError } from 'commander'
import { COMMANDS } from './commands/index.ts'
import { createContext, type GlobalOptions, toCliError } from './context.ts'
import { CliError, EXIT } from './lib/exit-codes.ts'
import { Output } from './lib/output.ts'

declare const BASTIDE_CLI_VERSION: string | undefined
const VERSION = typeof BASTIDE_CLI_VERSION === 'string' ? BASTIDE_CLI_VERSION : '0.1.0'

/** Runs the CLI with `argv` (as process.argv) and resolves to its exit status. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const json = argv.includes('--json')
  const out = new Output(json)
  const program = new Command('bastide')
  const ctx = createContext({ out, env, cwd: process.cwd(), options: () => program.opts<GlobalOptions>() })
  program
    .description(
      'Run and manage a Bastide server: serve, schema as code, functions and jobs, backups, keys, users.',
    )
    .version(VERSION, '-v, --version')
    .option('--json', 'print results as JSON on stdout (for scripts)')
    .option('--profile <name>', 'a profile saved by `bastide login` (default: the default profile)')
    .option('--url <url>', 'the server URL (env BASTIDE_URL); wins over the profile')
    .option('--key <key>', 'a secret API key bst_sk_… (env BASTIDE_KEY); wins over the profile')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit status: 0 done, 1 failed, 2 bad usage, 3 no server or credentials refused, 4 confirmation needed (see docs/cli.md).',
    )
  for (const register of COMMANDS) register(program, ctx)
  // Subcommands throw instead of exiting, like the program, so that every exit goes through the mapping below.
  const override = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride()
      override(sub)
    }
  }
  override(program)
  try {
    await program.parseAsync(argv as string[])
    return EXIT.ok
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage
    }
    const e = toCliError(err)
    if (e instanceof CliError) {
      if (json)
        process.stdout.write(
          `${JSON.stringify({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } }, null, 2)}\n`,
        )
      else process.stderr.write(`${out.paint('red', 'error:')} ${e.message}\n`)
      return e.exitCode
    }
    // A bug: say so, with the stack, and fail.
    process.stderr.write(`bastide: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`)
    return EXIT.failed
  }
}
