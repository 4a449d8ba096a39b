import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { findProject, projectEnv } from '../lib/project.ts'
import { serverDir } from '../lib/server.ts'
import type { RegisterCommand } from './index.ts'

interface ServeOptions {
  readonly port?: string
  readonly host?: string
  readonly dataDir?: string
}

/**
 * `bastide serve`: the server, from its JavaScript build, in this very process — what `pnpm start` runs. It goes
 * through the server's own start script (scripts/start.mjs: builds the console and the server when their sources
 * changed, then runs dist/main.js), so that there is one way to start a server and Ctrl-C/SIGTERM reach its
 * graceful shutdown directly, with no parent process to turn the signal into a failure.
 */
export const serveCommand: RegisterCommand = (program, ctx) => {
  program
    .command('serve')
    .description(
      'Run the server (embedded PostgreSQL unless DATABASE_URL is set). In a project folder (bastide init): data in .bastide/, env from .env.',
    )
    .option('--port <port>', 'the HTTP port (env PORT; default 8787; 0 picks a free one)')
    .option('--host <host>', 'the address to listen on (env HOST; default 0.0.0.0)')
    .option('--data-dir <dir>', 'where embedded PostgreSQL and local files live (env BASTIDE_DATA_DIR)')
    .action(async (opts: ServeOptions) => {
      const project = findProject(ctx.cwd)
      const env = projectEnv(project, ctx.env)
      if (opts.port !== undefined) env.PORT = opts.port
      if (opts.host !== undefined) env.HOST = opts.host
      if (opts.dataDir !== undefined) env.BASTIDE_DATA_DIR = path.resolve(ctx.cwd, opts.dataDir)
      if (project)
        ctx.out.note(
          `Project ${project.config.name} (${project.root})${env.DATABASE_URL ? '' : `: data in ${env.BASTIDE_DATA_DIR}`}`,
        )
      // The server reads its configuration from process.env, once, when dist/main.js is imported.
      for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v
      await import(pathToFileURL(path.join(serverDir(), 'scripts/start.mjs')).href)
      // dist/main.js owns the process from here: it exits (0 after a graceful stop on SIGINT/SIGTERM, 1 on a failed
      // start, 2 on a bad variable). Resolving would let our main return and report success while the server runs.
      await new Promise<never>(() => {})
    })
}
