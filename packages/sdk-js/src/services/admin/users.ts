import type { Http } from '../../http.ts'

/** An app user as the console sees it (every column, ban state included; never secrets). */
export interface AdminUser {
  readonly id: string
  readonly email: string | null
  readonly name?: string | null
  /** Whether the email address is verified (the users collection's `verified` column). */
  readonly verified?: boolean
  readonly emailVerified?: boolean
  readonly banned?: boolean | null
  readonly banReason?: string | null
  readonly banExpires?: string | null
  readonly created?: string
  readonly [field: string]: unknown
}

export interface AdminUserPage {
  readonly items: AdminUser[]
  readonly page: number
  readonly perPage: number
  readonly totalItems: number
  readonly totalPages: number
}

export interface UserSessionInfo {
  readonly id: string
  readonly createdAt: string
  readonly expiresAt: string
  readonly ipAddress?: string | null
  readonly userAgent?: string | null
  readonly [field: string]: unknown
}

/** One relation field reached by a user's delete (directly, or through records that cascade). */
export interface DeletePreviewRelation {
  readonly collection: string
  readonly field: string
  /** The collection the field points at: `users`, or one whose records cascade. */
  readonly target: string
  readonly onDelete: 'cascade' | 'set_null' | 'restrict'
  readonly multiple: boolean
  /** Records of `collection` affected through this field. */
  readonly records: number
  /** Deleted with the user, field emptied, link removed, or the delete refused. */
  readonly effect: 'delete' | 'set_null' | 'unlink' | 'block'
}

/** What deleting a user would take with them (see {@link AdminUsers.deletePreview}). */
export interface UserDeletePreview {
  readonly user: { readonly id: string; readonly email: string | null }
  readonly relations: DeletePreviewRelation[]
  /** Records deleted with the user, per collection (cascades of cascades included). */
  readonly cascade: Readonly<Record<string, number>>
  /** Records whose relation is emptied or unlinked, per collection. */
  readonly changed: Readonly<Record<string, number>>
  /** Records of `restrict` relations in the way, per collection: the delete would be refused (409). */
  readonly blocking: Readonly<Record<string, number>>
  /** The delete would be refused (`blocking` records, or `tooDeep`). */
  readonly blocked: boolean
  /** The cascade goes deeper than the server follows: the delete would be refused. */
  readonly tooDeep: boolean
  /** Sessions that end. */
  readonly sessions: number
  /** Linked sign-in methods removed (password, OAuth providers). */
  readonly accounts: number
  /** Stored files the user owns: they stay, without an owner (null: storage not set up). */
  readonly files: { readonly count: number; readonly bytes: number } | null
}

const path = (id: string) => `/api/admin/users/${encodeURIComponent(id)}`

/** App users, managed by console admins (every change audited). */
export class AdminUsers {
  constructor(private readonly http: Http) {}

  /**
   * A page of users, newest first; `search` matches email, name or id.
   *
   * @example
   * const { items, totalPages } = await client.admin.users.list({ search: 'ada', page: 1 })
   */
  async list(
    q: { search?: string; page?: number; perPage?: number; signal?: AbortSignal } = {},
  ): Promise<AdminUserPage> {
    const { signal, ...query } = q
    return this.http.request('/api/admin/users', { query: { ...query }, signal })
  }

  /** @example const user = await client.admin.users.get(id) */
  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<AdminUser> {
    return this.http.request(path(id), { signal: opts.signal })
  }

  /**
   * Creates a user with a password.
   *
   * @example
   * await client.admin.users.create({ email: 'ada@example.com', password: 'correct horse', verified: true })
   */
  async create(input: {
    email: string
    password: string
    name?: string
    verified?: boolean
  }): Promise<AdminUser> {
    return this.http.request('/api/admin/users', { method: 'POST', body: input })
  }

  /** Changes profile fields. @example await client.admin.users.update(id, { name: 'Ada' }) */
  async update(id: string, patch: Record<string, unknown>): Promise<AdminUser> {
    return this.http.request(path(id), { method: 'PATCH', body: patch })
  }

  /** Marks the email verified. @example await client.admin.users.verify(id) */
  async verify(id: string): Promise<AdminUser> {
    return this.http.request(`${path(id)}/verify`, { method: 'POST', body: {} })
  }

  /**
   * Bans a user (their sessions end at once), optionally until a time.
   *
   * @example
   * await client.admin.users.ban(id, { reason: 'spam', expiresAt: '2027-01-01T00:00:00Z' })
   */
  async ban(id: string, input: { reason?: string; expiresAt?: string } = {}): Promise<AdminUser> {
    return this.http.request(`${path(id)}/ban`, { method: 'POST', body: input })
  }

  /** @example await client.admin.users.unban(id) */
  async unban(id: string): Promise<AdminUser> {
    return this.http.request(`${path(id)}/unban`, { method: 'POST', body: {} })
  }

  /**
   * Deletes a user and what their relations cascade to.
   *
   * @example
   * await client.admin.users.delete(id)
   */
  async delete(id: string): Promise<void> {
    await this.http.request(path(id), { method: 'DELETE' })
  }

  /**
   * What {@link delete} would take with the user, without deleting anything: per relation to users, how many
   * records cascade, are emptied or unlinked, or block the delete (`restrict`); their sessions, sign-in
   * methods and owned files.
   *
   * @example
   * const p = await client.admin.users.deletePreview(id)
   * if (p.blocked) console.log('first remove', p.blocking)
   * else console.log('deletes', p.cascade, 'and ends', p.sessions, 'sessions')
   */
  async deletePreview(id: string, opts: { signal?: AbortSignal } = {}): Promise<UserDeletePreview> {
    return this.http.request(`${path(id)}/delete-preview`, { signal: opts.signal })
  }

  /** The user's live sessions. @example const sessions = await client.admin.users.sessions(id) */
  async sessions(id: string, opts: { signal?: AbortSignal } = {}): Promise<UserSessionInfo[]> {
    return (
      await this.http.request<{ items: UserSessionInfo[] }>(`${path(id)}/sessions`, { signal: opts.signal })
    ).items
  }

  /** Ends every session of the user. @example await client.admin.users.revokeSessions(id) */
  async revokeSessions(id: string): Promise<{ revoked: number }> {
    return this.http.request(`${path(id)}/sessions`, { method: 'DELETE' })
  }

  /**
   * A short-lived session acting as the user (audited), for reproducing what they see.
   *
   * @example
   * const { token } = await client.admin.users.impersonate(id, { minutes: 15 })
   */
  async impersonate(
    id: string,
    opts: { minutes?: number } = {},
  ): Promise<{ token: string; expiresAt: string; [k: string]: unknown }> {
    return this.http.request(`${path(id)}/impersonate`, { method: 'POST', body: opts })
  }
}
