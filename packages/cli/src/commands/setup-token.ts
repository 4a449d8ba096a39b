import path from 'node:path'
import { findProject, projectEnv } from '../lib/project.ts'
import { loadServer } from '../lib/server.ts'
import { asCliError } from '../lib/server-errors.ts'
import type { RegisterCommand } from './index.ts'

interface ServerSetupToken {
  consoleSetupToken(env: NodeJS.ProcessEnv): Promise<string>
  readonly SETUP_TOKEN_HINT: string
}

/**
 * `bastide setup-token`: the one-time console setup token the server logs at start-up while no console admin exists,
 * derived as the server derives it (the server's own code) from the environment `bastide serve` would have here: the
 * environment, the project's .env and data folder. It needs only the secret (BASTIDE_SECRET, or the one the server
 * keeps in its data folder), no database, so it works beside a running server.
 */
export const setupTokenCommand: RegisterCommand = (program, ctx) => {
  program
    .command('setup-token')
    .description(
      'Print the one-time token that creates the first console admin (TOKEN=$(bastide setup-token) keeps it alone).',
    )
    .option('--data-dir <dir>', "the server's data folder, where it keeps its secret (env BASTIDE_DATA_DIR)")
    .action(async (opts: { dataDir?: string }) => {
      const env = projectEnv(findProject(ctx.cwd), ctx.env)
      if (opts.dataDir !== undefined) env.BASTIDE_DATA_DIR = path.resolve(ctx.cwd, opts.dataDir)
      const server = await loadServer<ServerSetupToken>('cli/console-setup-token.js')
      let token: string
      try {
        token = await server.consoleSetupToken(env)
      } catch (err) {
        throw asCliError(err)
      }
      // The token alone on stdout, for `$(…)`; what to do with it on stderr.
      ctx.out.result({ setupToken: token }, token)
      ctx.out.note(server.SETUP_TOKEN_HINT)
    })
}
