import type { ApiKeyInfo, KeyScope } from '@bastide/protocol'
import type { Http } from '../../http.ts'

/** A key just created: the only time its secret is shown. */
export interface CreatedApiKey extends ApiKeyInfo {
  readonly key: string
}

/** Secret API keys (`bst_sk_…`): the admin key, console admins, or keys with the `keys` scope. */
export class AdminKeys {
  constructor(private readonly http: Http) {}

  /**
   * Every key (no secrets: only their prefixes).
   *
   * @example
   * const keys = await client.admin.keys.list()
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<ApiKeyInfo[]> {
    return (await this.http.request<{ items: ApiKeyInfo[] }>('/api/admin/keys', { signal: opts.signal }))
      .items
  }

  /**
   * Creates a key; `key` in the answer is the secret, shown this once.
   *
   * @example
   * const { key } = await client.admin.keys.create({ name: 'ci', scopes: ['schema'], expires: '2027-01-01T00:00:00Z' })
   */
  async create(input: {
    name: string
    scopes: readonly KeyScope[]
    expires?: string
  }): Promise<CreatedApiKey> {
    return this.http.request('/api/admin/keys', { method: 'POST', body: input })
  }

  /**
   * Revokes a key: requests carrying it fail from now on.
   *
   * @example
   * await client.admin.keys.revoke(key.id)
   */
  async revoke(id: string): Promise<void> {
    await this.http.request(`/api/admin/keys/${encodeURIComponent(id)}`, { method: 'DELETE' })
  }
}
