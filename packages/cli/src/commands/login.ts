import fs from 'node:fs'
import type { ApiKeyInfo } from '@bastide/protocol'
import { BastideClient, BastideError } from '@bastide/sdk'
import type { CliContext } from '../context.ts'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import { findProject } from '../lib/project.ts'
import type { RegisterCommand } from './index.ts'

const DEFAULT_PROFILE = 'default'

interface LoginOptions {
  readonly default?: boolean
}

/** What the server tells about a key: `admin` (BASTIDE_ADMIN_KEY: every scope), its scopes, or nothing. */
type KeyIdentity =
  | { readonly kind: 'admin' }
  | { readonly kind: 'key'; readonly name: string; readonly scopes: readonly string[] }
  | { readonly kind: 'unknown' }

/** `bastide login`, `bastide logout`, `bastide profiles`: servers and keys saved for later commands. */
export const loginCommand: RegisterCommand = (program, ctx) => {
  program
    .command('login')
    .description(
      "Check a server URL and key (--url, default the project's; --key, `--key -` reads it from stdin), then save them as a profile",
    )
    .option('--default', 'make this profile the default one (the first saved one always is)')
    .addHelpText(
      'after',
      '\nExample: bastide login --url https://api.example.com --key - --profile prod < key.txt',
    )
    .action(async (opts: LoginOptions) => {
      const o = ctx.options()
      // Inside a project (bastide init), its development server by default.
      const url = o.url ?? ctx.env.BASTIDE_URL ?? findProject(ctx.cwd)?.config.url
      let key = o.key ?? ctx.env.BASTIDE_KEY
      if (!url || !key)
        throw new CliError(
          'Pass --url URL and --key KEY (or --key - to read it from stdin).',
          EXIT.usage,
          'USAGE',
        )
      // From stdin, the key stays out of the shell's history and of `ps`.
      if (key === '-') key = fs.readFileSync(0, 'utf8').trim()
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
        throw new CliError(`--url must be an http:// or https:// URL, not "${url}".`, EXIT.usage, 'USAGE')
      if (!key.startsWith('bst_sk_'))
        throw new CliError('The key must be a secret API key (bst_sk_…).', EXIT.usage, 'USAGE')
      const name = o.profile ?? DEFAULT_PROFILE
      const client = new BastideClient({ url, apiKey: key, autoRefresh: false })
      const identity = await ctx.call(() => identify(client, key))
      ctx.profiles.save(name, { url: client.url, key }, opts.default === true)
      const isDefault = ctx.profiles.read().default === name
      const scopes =
        identity.kind === 'admin'
          ? 'the admin key: every scope'
          : identity.kind === 'key'
            ? identity.scopes.join(', ')
            : undefined
      ctx.out.result(
        {
          profile: name,
          url: client.url,
          default: isDefault,
          file: ctx.profiles.file,
          key: { prefix: mask(key), ...identity },
        },
        [
          `Logged in to ${client.url} as profile ${name}${isDefault ? ' (default)' : ''}.`,
          scopes
            ? `Key ${mask(key)}${identity.kind === 'key' ? ` "${identity.name}"` : ''}: ${scopes}.`
            : `Key ${mask(key)} accepted (its scopes are visible only to keys with the keys scope).`,
          `Saved in ${ctx.profiles.file}.`,
        ],
      )
    })

  program
    .command('logout')
    .description('Forget a saved profile (--profile NAME; default: the default profile)')
    .action(async () => {
      const name = ctx.options().profile ?? ctx.profiles.read().default
      if (!name || !ctx.profiles.remove(name))
        throw new CliError(
          name ? `No profile named "${name}".` : 'No profile is saved.',
          EXIT.failed,
          'NO_PROFILE',
        )
      const next = ctx.profiles.read().default
      ctx.out.result({ removed: name, default: next ?? null }, [
        `Removed profile ${name}.${next ? ` The default profile is now ${next}.` : ''}`,
      ])
    })

  program
    .command('profiles')
    .description('List saved profiles (keys masked)')
    .action(async () => listProfiles(ctx))
}

function listProfiles(ctx: CliContext): void {
  const file = ctx.profiles.read()
  const rows = Object.entries(file.profiles).map(([name, p]) => ({
    name,
    url: p.url,
    key: mask(p.key),
    default: name === file.default,
  }))
  ctx.out.result({ file: ctx.profiles.file, profiles: rows }, () =>
    rows.length === 0
      ? 'No profile saved: run bastide login --url URL --key KEY.'
      : ctx.out.table(
          rows.map((r) => ({ ...r, default: r.default ? '*' : '' })),
          ['default', 'name', 'url', 'key'],
        ),
  )
}

/** The key's first 12 characters (what the server stores as its prefix), never the secret part. */
export function mask(key: string): string {
  return `${key.slice(0, 12)}…`
}

/**
 * Checks the key with a call every key may make (a request with a refused key is answered 401 whatever the route),
 * then asks who it is: the key list (a key with the `keys` scope, or the admin key) names its scopes, and a key
 * that may list keys yet is not among them is the admin key.
 */
async function identify(client: BastideClient, key: string): Promise<KeyIdentity> {
  await client.http.request('/api/health')
  let keys: ApiKeyInfo[]
  try {
    keys = await client.admin.keys.list()
  } catch (err) {
    if (err instanceof BastideError && err.status === 403) return { kind: 'unknown' }
    throw err
  }
  const mine = keys.filter((k) => key.startsWith(k.prefix))
  if (mine.length === 0) return { kind: 'admin' }
  if (mine.length > 1) return { kind: 'unknown' }
  return { kind: 'key', name: mine[0]!.name, scopes: mine[0]!.scopes }
}
