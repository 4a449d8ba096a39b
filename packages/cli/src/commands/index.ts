import type { Command } from 'commander'
import type { CliContext } from '../context.ts'
import { adminCommand } from './admin.ts'
import { backupCommand } from './backup.ts'
import { functionsCommand } from './functions.ts'
import { initCommand } from './init.ts'
import { jobsCommand } from './jobs.ts'
import { keysCommand } from './keys.ts'
import { loginCommand } from './login.ts'
import { migrationsCommand } from './migrations.ts'
import { pushCommand } from './push.ts'
import { schemaCommand } from './schema.ts'
import { serveCommand } from './serve.ts'
import { setupTokenCommand } from './setup-token.ts'
import { storageCommand } from './storage.ts'
import { syncCommand } from './sync.ts'
import { typegenCommand } from './typegen.ts'
import { usersCommand } from './users.ts'

/** A command file's one export: adds its command (and subcommands) to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void

/** Every command, in the order `bastide --help` lists them: one line each. */
export const COMMANDS: readonly RegisterCommand[] = [
  serveCommand,
  initCommand,
  loginCommand,
  schemaCommand,
  migrationsCommand,
  typegenCommand,
  adminCommand,
  setupTokenCommand,
  keysCommand,
  usersCommand,
  backupCommand,
  storageCommand,
  functionsCommand,
  jobsCommand,
  pushCommand,
  syncCommand,
]
