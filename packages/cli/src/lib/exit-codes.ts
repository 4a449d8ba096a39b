/**
 * The exit status of every command, for scripts (documented in docs/cli.md). A command never exits with a code
 * that is not here.
 */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The operation failed: the server refused it, a check found a problem (backup verify), a file is invalid. */
  failed: 1,
  /** Bad usage: unknown command or option, a missing or malformed argument. */
  usage: 2,
  /** No server to talk to: unreachable, no credentials configured, or the credentials were refused (401/403). */
  unreachable: 3,
  /** Refused to go on without confirmation: destructive changes without `--yes`, or `--exit-code` found changes. */
  needsConfirmation: 4,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** An expected failure: printed as a message (or `{"error":…}` with --json), never as a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
    /** A stable code for scripts (`--json`): the server's error code when the server refused. */
    readonly code = 'FAILED',
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
  }
}
