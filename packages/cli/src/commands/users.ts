import type { AdminUser } from '@bastide/sdk'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import type { RegisterCommand } from './index.ts'

interface ListOptions {
  readonly search?: string
  readonly limit: string
}

interface BanOptions {
  readonly reason?: string
  readonly until?: string
}

/**
 * `bastide users list|ban|unban`: app users, through the API. The key needs the `users` scope (or is the admin
 * key); bans end the user's sessions at once, as from the console.
 */
export const usersCommand: RegisterCommand = (program, ctx) => {
  const users = program.command('users').description('App users: list, ban, unban (needs the users scope)')

  users
    .command('list')
    .description('List users, newest first')
    .option('--search <text>', 'only users whose email or name contains this')
    .option('--limit <n>', 'at most this many (1 to 200)', '50')
    .action(async (opts: ListOptions) => {
      const limit = Number(opts.limit)
      if (!Number.isInteger(limit) || limit < 1 || limit > 200)
        throw new CliError('--limit must be a whole number from 1 to 200.', EXIT.usage, 'USAGE')
      const { client } = ctx.connect()
      const page = await ctx.call(() =>
        client.admin.users.list({ perPage: limit, ...(opts.search ? { search: opts.search } : {}) }),
      )
      ctx.out.result(page, () => {
        if (page.items.length === 0) return 'No users.'
        const lines = ctx.out.table(page.items.map(row), [
          'id',
          'email',
          'name',
          'verified',
          'banned',
          'created',
        ])
        if (page.totalItems > page.items.length)
          lines.push(`(${page.items.length} of ${page.totalItems}: narrow with --search or raise --limit)`)
        return lines
      })
    })

  users
    .command('ban')
    .description('Ban a user: they cannot sign in, and their sessions end')
    .argument('<id>', "the user's id")
    .option('--reason <text>', 'why (shown to admins)')
    .option('--until <date>', 'when the ban ends (an ISO date or date-time; default: never)')
    .action(async (id: string, opts: BanOptions) => {
      let expiresAt: string | undefined
      if (opts.until !== undefined) {
        const t = Date.parse(opts.until)
        if (Number.isNaN(t))
          throw new CliError(`--until must be a date, not "${opts.until}".`, EXIT.usage, 'USAGE')
        if (t <= Date.now()) throw new CliError('--until must be in the future.', EXIT.usage, 'USAGE')
        expiresAt = new Date(t).toISOString()
      }
      const { client } = ctx.connect()
      const user = await ctx.call(() =>
        client.admin.users.ban(id, {
          ...(opts.reason ? { reason: opts.reason } : {}),
          ...(expiresAt ? { expiresAt } : {}),
        }),
      )
      ctx.out.result(user, `Banned ${user.email ?? user.id}${expiresAt ? ` until ${expiresAt}` : ''}.`)
    })

  users
    .command('unban')
    .description('Lift a ban')
    .argument('<id>', "the user's id")
    .action(async (id: string) => {
      const { client } = ctx.connect()
      const user = await ctx.call(() => client.admin.users.unban(id))
      ctx.out.result(user, `Unbanned ${user.email ?? user.id}.`)
    })
}

function row(u: AdminUser) {
  return {
    id: u.id,
    email: u.email ?? '',
    name: u.name ?? '',
    verified: (u.verified ?? u.emailVerified) ? 'yes' : 'no',
    banned: u.banned ? (u.banExpires ? `until ${u.banExpires}` : 'yes') : '',
    created: u.created ?? '',
  }
}
