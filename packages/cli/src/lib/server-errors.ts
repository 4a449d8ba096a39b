import { CliError, EXIT } from './exit-codes.ts'

/**
 * The errors of the server's code run in this process, as the CLI reports them: ConfigError (a bad variable: its
 * `issues`) is bad usage, AppError (a refusal: its `code` and `status`) a failure. Recognised by shape, not class:
 * they come from the server's build, loaded at run time. Anything else is passed on as it is.
 */
export function asCliError(err: unknown): unknown {
  if (!(err instanceof Error)) return err
  const e = err as Error & {
    issues?: unknown
    code?: unknown
    status?: unknown
    details?: Record<string, unknown>
  }
  if (Array.isArray(e.issues)) return new CliError(e.message, EXIT.usage, 'CONFIG', { issues: e.issues })
  if (typeof e.code === 'string' && typeof e.status === 'number')
    return new CliError(
      e.details ? `${e.message} ${JSON.stringify(e.details)}` : e.message,
      EXIT.failed,
      e.code,
      { status: e.status, ...e.details },
    )
  return err
}
