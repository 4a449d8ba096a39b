import type { Command } from 'commander'
import type { CliContext } from '../context.ts'

/** A command file's one export: adds its command (and subcommands) to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void

/** Every command, in the order `bastide --help` lists them: one line each. */
export const COMMANDS: readonly RegisterCommand[] = []
