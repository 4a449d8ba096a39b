import { BastideClient, BastideError } from '@bastide/sdk'
import { CliError, EXIT } from './lib/exit-codes.ts'
import type { Output } from './lib/output.ts'
import { type Profile, ProfileStore } from './lib/profiles.ts'

/** Options every command takes (before or after the command's name). */
export interface GlobalOptions {
  /** Print results as JSON on stdout. */
  readonly json?: boolean
  /** A saved profile (`bastide login --profile NAME`); default: the default profile. */
  readonly profile?: string
  /** The server's URL; wins over the profile (env: BASTIDE_URL). */
  readonly url?: string
  /** A secret API key; wins over the profile (env: BASTIDE_KEY). */
  readonly key?: string
}

/** A server the command talks to, with an SDK client holding the key. */
export interface Connection extends Profile {
  readonly client: BastideClient
  /** The profile it came from, when it came from one. */
  readonly profile: string | undefined
}

/** What every command receives. */
export interface CliContext {
  readonly out: Output
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
  readonly profiles: ProfileStore
  /** The global options as given. */
  options(): GlobalOptions
  /**
   * The server to talk to: `--url/--key`, else BASTIDE_URL/BASTIDE_KEY, else `--profile`, else the default profile.
   * Throws CliError (exit 3) when there is none.
   */
  connect(): Connection
  /**
   * Runs `work`, turning what the SDK throws into CliErrors: unreachable or refused credentials exit 3, other server
   * refusals exit 1 with the server's code, message and details.
   */
  call<T>(work: () => Promise<T>): Promise<T>
}

export function createContext(init: {
  out: Output
  env: NodeJS.ProcessEnv
  cwd: string
  options: () => GlobalOptions
}): CliContext {
  const profiles = new ProfileStore(init.env)
  let connection: Connection | undefined
  return {
    out: init.out,
    env: init.env,
    cwd: init.cwd,
    profiles,
    options: init.options,
    connect() {
      if (connection) return connection
      const o = init.options()
      const saved = profiles.get(o.profile)
      if (o.profile && !saved)
        throw new CliError(
          `No profile named "${o.profile}": run bastide login --profile ${o.profile}`,
          EXIT.unreachable,
          'NO_PROFILE',
        )
      const url = o.url ?? init.env.BASTIDE_URL ?? saved?.url
      const givenKey = o.key ?? init.env.BASTIDE_KEY
      // A saved key goes only to the server it was saved for: `--url` pointing elsewhere (a typo, a test server, a
      // hostile link in a README) must not receive production's secret.
      if (givenKey === undefined && saved && url && !sameOrigin(url, saved.url))
        throw new CliError(
          `The key of profile "${saved.name}" is for ${saved.url}, not ${url}: pass --key (or BASTIDE_KEY) for that server, or use --profile.`,
          EXIT.unreachable,
          'KEY_FOR_ANOTHER_SERVER',
        )
      const key = givenKey ?? saved?.key
      if (!url || !key)
        throw new CliError(
          'No server configured: run `bastide login --url URL --key bst_sk_…`, or pass --url and --key (or set BASTIDE_URL and BASTIDE_KEY).',
          EXIT.unreachable,
          'NOT_CONFIGURED',
        )
      const client = new BastideClient({ url, apiKey: key, autoRefresh: false })
      connection = { url, key, client, profile: o.url || o.key ? undefined : saved?.name }
      return connection
    },
    async call(work) {
      try {
        return await work()
      } catch (err) {
        throw toCliError(err)
      }
    },
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin
  } catch {
    return false
  }
}

/** What the SDK throws, as the CLI reports it. */
export function toCliError(err: unknown): unknown {
  if (!(err instanceof BastideError)) return err
  if (err.status === 0)
    return new CliError(`Cannot reach the server: ${err.message}`, EXIT.unreachable, err.code)
  if (err.status === 401 || err.status === 403)
    return new CliError(`${err.message} (${err.status} ${err.code})`, EXIT.unreachable, err.code, err.details)
  return new CliError(err.message, EXIT.failed, err.code, { status: err.status, ...err.details })
}
