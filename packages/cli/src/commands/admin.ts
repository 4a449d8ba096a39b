import fs from 'node:fs'
import path from 'node:path'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import { findProject, projectEnv } from '../lib/project.ts'
import { loadServer } from '../lib/server.ts'
import { asCliError } from '../lib/server-errors.ts'
import type { RegisterCommand } from './index.ts'

interface CreateOptions {
  readonly email: string
  readonly password?: string
  readonly name?: string
  readonly dataDir?: string
}

interface ServerCli {
  createConsoleAdmin(
    env: NodeJS.ProcessEnv,
    input: { email: string; password: string; name?: string },
  ): Promise<{ id: string; email: string; name: string }>
}

/**
 * `bastide admin create`: a console admin, written straight into the server's database (the server's own code, from
 * its build), configured as `bastide serve` is here: the environment, the project's .env and data folder. Not
 * through the API: POST /api/admin/admins takes only an admin (a console session or BASTIDE_ADMIN_KEY, never an API
 * key), and the first admin of a fresh server has nobody to ask. Works while the server runs, embedded PostgreSQL
 * included; admins are read from the database at each sign-in, so the running server sees the new one at once.
 */
export const adminCommand: RegisterCommand = (program, ctx) => {
  const admin = program.command('admin').description('Console admins (on the server machine)')
  admin
    .command('create')
    .description("Create a console admin in the server's database (also while it runs)")
    .requiredOption('--email <email>', 'their sign-in address')
    .option(
      '--password <password>',
      'at least 12 characters; `-` reads it from stdin (default: env BASTIDE_ADMIN_PASSWORD)',
    )
    .option('--name <name>', 'their display name')
    .option('--data-dir <dir>', "the server's data folder, for embedded PostgreSQL (env BASTIDE_DATA_DIR)")
    .action(async (opts: CreateOptions) => {
      let password = opts.password ?? ctx.env.BASTIDE_ADMIN_PASSWORD
      // From stdin, the password stays out of the shell's history and of `ps`.
      if (password === '-') password = fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '')
      if (!password)
        throw new CliError(
          'Pass --password (or --password - to read it from stdin, or set BASTIDE_ADMIN_PASSWORD).',
          EXIT.usage,
          'USAGE',
        )
      const env = projectEnv(findProject(ctx.cwd), ctx.env)
      if (opts.dataDir !== undefined) env.BASTIDE_DATA_DIR = path.resolve(ctx.cwd, opts.dataDir)
      const server = await loadServer<ServerCli>('cli/create-console-admin.js')
      let created: { id: string; email: string; name: string }
      try {
        created = await server.createConsoleAdmin(env, {
          email: opts.email,
          password,
          ...(opts.name !== undefined ? { name: opts.name } : {}),
        })
      } catch (err) {
        throw asCliError(err)
      }
      ctx.out.result(created, `Created console admin ${created.email} (${created.id}).`)
    })
}
