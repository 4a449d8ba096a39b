import type { SyncCollectionSettingsInput, SyncConflictPolicy } from '@bastide/protocol'
import type { BastideClient } from '@bastide/sdk'

export type { SyncCollectionSettings, SyncConflictPolicy, SyncOverview } from '@bastide/protocol'

/**
 * The sync calls the console makes: the SDK's `client.admin.sync`, so that they carry the admin's session and
 * answer errors as BastideError like every other console call.
 */
export function syncApi(client: BastideClient) {
  const sync = client.admin.sync
  return {
    overview: (o: { signal?: AbortSignal } = {}) => sync.overview(o),
    get: (collection: string, o: { signal?: AbortSignal } = {}) => sync.get(collection, o),
    set: (collection: string, input: SyncCollectionSettingsInput) => sync.set(collection, input),
    /** Deployed functions, those with a `sync` trigger first: the merge function's choices. */
    mergeFunctions: async (o: { signal?: AbortSignal } = {}) => {
      const fns = await client.admin.functions.list(o)
      const withSync = (f: (typeof fns)[number]) =>
        (Array.isArray(f.manifest.on) ? f.manifest.on : [f.manifest.on]).some(
          (t: object) => t !== null && typeof t === 'object' && 'sync' in t,
        )
      return {
        sync: fns.filter(withSync).map((f) => f.name),
        other: fns.filter((f) => !withSync(f)).map((f) => f.name),
      }
    },
  }
}

export const syncKey = ['sync'] as const
export const syncCollectionKey = (name: string) => ['sync', 'collections', name] as const

/** The four policies, each with the one sentence the console shows for it. */
export const POLICIES: readonly { policy: SyncConflictPolicy; label: string; explain: string }[] = [
  {
    policy: 'server_wins',
    label: 'Server wins',
    explain: 'The offline edit is dropped and the device takes the server’s record.',
  },
  {
    policy: 'client_wins',
    label: 'Device wins',
    explain: 'The offline edit is written over the server’s record, whatever changed there meanwhile.',
  },
  {
    policy: 'lww_field',
    label: 'Last edit wins, per field',
    explain: 'Fields changed on one side only are merged; a field changed on both keeps the later edit.',
  },
  {
    policy: 'function',
    label: 'Merge function',
    explain: 'A deployed function with a sync trigger receives both versions and returns the record to keep.',
  },
]

/** What to send for the form, or the problem that keeps it from being sent. */
export function settingsInput(form: {
  enabled: boolean
  conflict: SyncConflictPolicy
  mergeFunction: string
}): { input: SyncCollectionSettingsInput } | { problem: string } {
  if (form.conflict !== 'function')
    return { input: { enabled: form.enabled, conflict: form.conflict, mergeFunction: null } }
  if (!form.mergeFunction) return { problem: 'Choose a merge function.' }
  return { input: { enabled: form.enabled, conflict: 'function', mergeFunction: form.mergeFunction } }
}
