import { type BastideClient, BastideError } from '@bastide/sdk'
import { toCliError } from '../context.ts'
import { CliError } from './exit-codes.ts'
import { type Bundle, bundleFunction, type LocalFunction } from './functions-bundle.ts'
import { describeTriggers } from './functions-format.ts'
import type { Output } from './output.ts'

/** What became of one function in `bastide functions deploy` (and each redeploy of `functions serve`). */
export interface DeployOutcome {
  readonly name: string
  /** `unchanged`: its source is the active version's (same checksum), nothing was sent. */
  readonly status: 'deployed' | 'unchanged' | 'failed'
  readonly version?: number
  readonly triggers?: readonly string[]
  /** Whether npm or relative imports were bundled in (false: the source went as written). */
  readonly bundled?: boolean
  readonly checksum?: string
  readonly error?: { readonly code: string; readonly message: string; readonly details?: unknown }
}

/**
 * Bundles and deploys one function, unless the server's active version has the same source. A failure of this
 * function (it does not bundle, the server refuses it) is its outcome; a failure that would fail every function
 * (the server unreachable, the key refused) is thrown as a CliError (exit 3).
 */
export async function deployFunction(
  client: BastideClient,
  fn: LocalFunction,
  opts: { force?: boolean } = {},
): Promise<{ outcome: DeployOutcome; bundle?: Bundle }> {
  let bundle: Bundle
  try {
    bundle = await bundleFunction(fn)
  } catch (err) {
    if (!(err instanceof CliError)) throw err
    return { outcome: { name: fn.name, status: 'failed', error: { code: err.code, message: err.message } } }
  }
  const common = { name: fn.name, bundled: bundle.bundled, checksum: bundle.checksum }
  try {
    const current = await client.admin.functions.get(fn.name).catch((err: unknown) => {
      if (err instanceof BastideError && err.status === 404) return undefined
      throw err
    })
    const active = current?.versions.find((v) => v.active)
    if (current && !opts.force && (active?.checksum === bundle.checksum || current.source === bundle.source))
      return {
        outcome: {
          ...common,
          status: 'unchanged',
          version: current.version,
          triggers: describeTriggers(current.manifest),
        },
        bundle,
      }
    const deployed = await client.admin.functions.deploy(fn.name, bundle.source)
    return {
      outcome: {
        ...common,
        status: 'deployed',
        version: deployed.version,
        triggers: describeTriggers(deployed.manifest),
      },
      bundle,
    }
  } catch (err) {
    if (!(err instanceof BastideError)) throw err
    // Nothing will work for the next function either: stop here (exit 3).
    if (err.status === 0 || err.status === 401 || err.status === 403) throw toCliError(err)
    return {
      outcome: {
        ...common,
        status: 'failed',
        error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      },
      bundle,
    }
  }
}

/** One line per outcome: `deployed  hello  v3  http, cron(0 * * * *)`. */
export function outcomeLine(out: Output, o: DeployOutcome): string {
  const name = o.name.padEnd(20)
  if (o.status === 'failed') {
    const [first = '', ...rest] = (o.error?.message ?? '').split('\n')
    return [
      `${out.paint('red', 'failed   ')} ${name} ${o.error?.code}: ${first}`,
      ...rest.map((r) => `          ${r}`),
    ].join('\n')
  }
  const what = o.status === 'deployed' ? out.paint('green', 'deployed ') : out.paint('dim', 'unchanged')
  return `${what} ${name} v${String(o.version).padEnd(4)} ${(o.triggers ?? []).join(', ')}`
}
