import {
  SYNC_CONFLICT_POLICIES,
  type SyncCollectionSettings,
  type SyncCollectionSettingsInput,
  type SyncConflictPolicy,
  type SyncOverview,
} from '@bastide/protocol'
import type { CliContext } from '../context.ts'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import type { RegisterCommand } from './index.ts'

const usage = (message: string) => new CliError(message, EXIT.usage, 'USAGE')

const POLICY_HELP = `
Conflict policies (an offline edit made on a record that changed on the server since):
  server_wins  the edit is dropped; the device takes the server's record
  client_wins  the edit is written over the server's record
  lww_field    fields changed on one side only are merged; a field both changed keeps the later edit
  function     the merge function (a deployed function with the trigger { sync: 'merge' }) returns the record`

/**
 * `bastide sync status|enable|disable`: which collections offline clients may sync and how their conflicts resolve
 * (the key needs the `schema` scope, or is the admin key).
 */
export const syncCommand: RegisterCommand = (program, ctx) => {
  const sync = program
    .command('sync')
    .description('Offline sync: which collections sync, their conflict policy, the change log (schema scope)')

  sync
    .command('status')
    .description("Every collection's sync settings, and the change log's retention and size")
    .action(async () => {
      const { client } = ctx.connect()
      const overview = await ctx.call(() => client.admin.sync.overview())
      ctx.out.result(overview, () => statusLines(ctx, overview))
    })

  sync
    .command('enable')
    .description(
      'Let offline clients sync a collection (its changes are logged from now on), or change its conflict policy',
    )
    .argument('<collection>', "the collection's name")
    .option(
      '--conflict <policy>',
      'how a conflicting offline edit resolves (below); default: the current one, server_wins at first',
    )
    .option('--merge-function <name>', 'with --conflict function: the deployed function that merges')
    .addHelpText('after', POLICY_HELP)
    .action(async (collection: string, opts: { conflict?: string; mergeFunction?: string }) => {
      if (
        opts.conflict !== undefined &&
        !(SYNC_CONFLICT_POLICIES as readonly string[]).includes(opts.conflict)
      )
        throw usage(`--conflict must be one of ${SYNC_CONFLICT_POLICIES.join(', ')}.`)
      const given = opts.conflict as SyncConflictPolicy | undefined
      if (opts.mergeFunction !== undefined && given !== undefined && given !== 'function')
        throw usage('--merge-function goes with --conflict function.')
      const { client } = ctx.connect()
      const current = await ctx.call(() => client.admin.sync.get(collection))
      const input = enableInput(current, given, opts.mergeFunction)
      const after = await ctx.call(() => client.admin.sync.set(collection, input))
      ctx.out.result(after, `Sync enabled for ${after.collection} (${policyOf(after)}).`)
    })

  sync
    .command('disable')
    .description(
      'Stop syncing a collection: its pulls answer SYNC_DISABLED, queued offline edits are refused',
    )
    .argument('<collection>', "the collection's name")
    .action(async (collection: string) => {
      const { client } = ctx.connect()
      const current = await ctx.call(() => client.admin.sync.get(collection))
      // The policy is kept, for when it is enabled again.
      const after = await ctx.call(() =>
        client.admin.sync.set(collection, {
          enabled: false,
          conflict: current.conflict,
          mergeFunction: current.mergeFunction,
        }),
      )
      ctx.out.result(after, `Sync disabled for ${after.collection}.`)
    })
}

/**
 * What `sync enable` sends: the policy given, else the current one; `--merge-function` alone means `function`, and
 * `function` without a name keeps the current merge function (none: a usage error before asking the server).
 */
export function enableInput(
  current: SyncCollectionSettings,
  conflict: SyncConflictPolicy | undefined,
  mergeFunction: string | undefined,
): SyncCollectionSettingsInput {
  const policy = conflict ?? (mergeFunction !== undefined ? 'function' : current.conflict)
  if (policy !== 'function') return { enabled: true, conflict: policy, mergeFunction: null }
  const fn = mergeFunction ?? current.mergeFunction
  if (!fn)
    throw usage('--conflict function needs --merge-function NAME (a deployed function with a sync trigger).')
  return { enabled: true, conflict: 'function', mergeFunction: fn }
}

function policyOf(s: SyncCollectionSettings): string {
  return s.conflict === 'function' ? `function ${s.mergeFunction}` : s.conflict
}

function statusLines(ctx: CliContext, o: SyncOverview): string[] {
  const log = `Change log: ${o.log.entries} ${o.log.entries === 1 ? 'entry' : 'entries'}${o.log.oldest ? `, oldest ${o.log.oldest}` : ''}; kept ${o.retentionDays} days (BASTIDE_SYNC_RETENTION_DAYS).`
  const rows = [...o.collections].sort((a, b) => a.collection.localeCompare(b.collection))
  return [
    ...(rows.length === 0
      ? ['No collection syncs: bastide sync enable <collection>.']
      : ctx.out.table(
          rows.map((s) => ({
            collection: s.collection,
            enabled: s.enabled ? 'yes' : 'no',
            conflict: s.conflict,
            mergeFunction: s.mergeFunction ?? '',
          })),
          ['collection', 'enabled', 'conflict', 'mergeFunction'],
        )),
    '',
    log,
  ]
}
