import type { AuditEntry } from '@bastide/protocol'
import type { Http } from '../../http.ts'

export interface AuditQuery {
  /** `admin:<id>`, `admin`, `key:<id>`, `cli`. */
  readonly actor?: string
  /** Exact (`user.ban`) or a prefix (`collection.*`). */
  readonly action?: string
  /** A collection, key id, user id, bucket or channel. */
  readonly target?: string
  /** ISO 8601. */
  readonly since?: string
  readonly until?: string
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string
  readonly perPage?: number
  readonly signal?: AbortSignal
}

export interface AuditPage {
  readonly items: AuditEntry[]
  readonly nextCursor: string | null
}

/** The audit log of admin actions, newest first. */
export class AdminAudit {
  constructor(private readonly http: Http) {}

  /**
   * One page of the audit log; pass `nextCursor` back as `cursor` for the next.
   *
   * @example
   * const { items } = await client.admin.audit.list({ action: 'collection.*', target: 'posts' })
   */
  async list(q: AuditQuery = {}): Promise<AuditPage> {
    const { signal, ...query } = q
    return this.http.request('/api/admin/audit', { query: { ...query }, signal })
  }
}
