import { type ApiKeyInfo, KEY_SCOPES, type KeyScope } from '@bastide/protocol'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import type { RegisterCommand } from './index.ts'

interface CreateOptions {
  readonly name: string
  readonly scope: readonly string[]
  readonly expires?: string
}

const DAY_MS = 86_400_000

/** `bastide keys list|create|revoke`: secret API keys, through the API (the key needs the `keys` scope). */
export const keysCommand: RegisterCommand = (program, ctx) => {
  const keys = program
    .command('keys')
    .description('Secret API keys: list, create, revoke (needs the keys scope)')

  keys
    .command('list')
    .description('List API keys (never their secrets)')
    .action(async () => {
      const { client } = ctx.connect()
      const items = await ctx.call(() => client.admin.keys.list())
      ctx.out.result({ items }, () =>
        items.length === 0
          ? 'No API keys.'
          : ctx.out.table(items.map(row), ['id', 'name', 'prefix', 'scopes', 'expires', 'lastUsed']),
      )
    })

  keys
    .command('create')
    .description('Create an API key; its secret is printed once')
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption(
      '--scope <scopes...>',
      `its scopes, repeated or comma-separated: ${KEY_SCOPES.join(', ')}`,
    )
    .option('--expires <days>', 'days until it stops working (default: never)')
    .action(async (opts: CreateOptions) => {
      const scopes = parseScopes(opts.scope)
      let expires: string | undefined
      if (opts.expires !== undefined) {
        const days = Number(opts.expires)
        if (!Number.isInteger(days) || days < 1 || days > 36_500)
          throw new CliError('--expires must be a whole number of days (1 to 36500).', EXIT.usage, 'USAGE')
        expires = new Date(Date.now() + days * DAY_MS).toISOString()
      }
      const { client } = ctx.connect()
      const created = await ctx.call(() =>
        client.admin.keys.create({ name: opts.name, scopes, ...(expires ? { expires } : {}) }),
      )
      ctx.out.result(created, [
        `Created API key ${created.name} (${created.id}), scopes ${created.scopes.join(', ')}${created.expires ? `, expires ${created.expires}` : ''}.`,
        'Its secret, shown this once (store it now):',
        created.key,
      ])
    })

  keys
    .command('revoke')
    .description('Revoke an API key at once')
    .argument('<id>', "the key's id (bastide keys list)")
    .action(async (id: string) => {
      const { client } = ctx.connect()
      await ctx.call(() => client.admin.keys.revoke(id))
      ctx.out.result({ revoked: id }, `Revoked API key ${id}.`)
    })
}

function row(k: ApiKeyInfo) {
  return { ...k, scopes: k.scopes.join(','), expires: k.expires ?? 'never', lastUsed: k.lastUsed ?? 'never' }
}

/** `--scope a --scope b,c` → [a, b, c], each a known scope (a typo is a usage error, not a server refusal). */
function parseScopes(values: readonly string[]): KeyScope[] {
  const scopes = [
    ...new Set(
      values
        .flatMap((v) => v.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ]
  const unknown = scopes.filter((s) => !(KEY_SCOPES as readonly string[]).includes(s))
  if (unknown.length > 0 || scopes.length === 0)
    throw new CliError(
      `Unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.join(', ') || '(none given)'}: use ${KEY_SCOPES.join(', ')}.`,
      EXIT.usage,
      'USAGE',
    )
  return scopes as KeyScope[]
}
