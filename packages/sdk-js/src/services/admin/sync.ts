import type {
  SyncCollectionSettings,
  SyncCollectionSettingsInput,
  SyncConflictPolicy,
  SyncOverview,
} from '@bastide/protocol'
import type { Http } from '../../http.ts'

export type { SyncCollectionSettings, SyncCollectionSettingsInput, SyncConflictPolicy, SyncOverview }

type Signal = { signal?: AbortSignal }
const path = (collection: string) => `/api/admin/sync/collections/${encodeURIComponent(collection)}`

/**
 * Offline sync, the managing side: which collections devices may sync, and how a conflicting offline write is
 * resolved. Console admins, the admin key, or API keys with the `schema` scope.
 */
export class AdminSync {
  constructor(private readonly http: Http) {}

  /**
   * Every collection's sync settings, with the change log's retention and size.
   *
   * @example
   * const { retentionDays, collections, log } = await client.admin.sync.overview()
   */
  overview(opts: Signal = {}): Promise<SyncOverview> {
    return this.http.request('/api/admin/sync', { signal: opts.signal })
  }

  /**
   * One collection's sync settings (disabled, `server_wins`, when never set). Rejects with `NOT_FOUND` for an
   * unknown collection.
   *
   * @example
   * const { enabled, conflict } = await client.admin.sync.get('notes')
   */
  get(collection: string, opts: Signal = {}): Promise<SyncCollectionSettings> {
    return this.http.request(path(collection), { signal: opts.signal })
  }

  /**
   * Sets a collection's sync settings. Enabling starts its change log (clients pull it from then on); disabling
   * stops it, and `/changes` answers `SYNC_DISABLED`. `conflict: 'function'` needs `mergeFunction`, a deployed
   * function with a `{ sync: 'merge' }` trigger.
   *
   * @example
   * await client.admin.sync.set('notes', { enabled: true, conflict: 'lww_field' })
   * await client.admin.sync.set('orders', { enabled: true, conflict: 'function', mergeFunction: 'merge-orders' })
   */
  set(collection: string, input: SyncCollectionSettingsInput): Promise<SyncCollectionSettings> {
    return this.http.request(path(collection), { method: 'PUT', body: input })
  }
}
