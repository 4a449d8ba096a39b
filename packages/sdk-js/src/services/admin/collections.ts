import type { CollectionInput, CollectionSchema } from '@bastide/protocol'
import type { Http } from '../../http.ts'

const path = (name: string) => `/api/collections/${encodeURIComponent(name)}`

/** Collections (schema): console admins and API keys with the `schema` scope. */
export class AdminCollections {
  constructor(private readonly http: Http) {}

  /**
   * Every collection, `users` included.
   *
   * @example
   * const names = (await client.admin.collections.list()).map((c) => c.name)
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<CollectionSchema[]> {
    return (
      await this.http.request<{ items: CollectionSchema[] }>('/api/collections', { signal: opts.signal })
    ).items
  }

  /**
   * One collection.
   *
   * @example
   * const { fields } = await client.admin.collections.get('posts')
   */
  async get(name: string, opts: { signal?: AbortSignal } = {}): Promise<CollectionSchema> {
    return this.http.request(path(name), { signal: opts.signal })
  }

  /**
   * Creates a collection: a real table with its columns, constraints and indexes.
   *
   * @example
   * await client.admin.collections.create({
   *   name: 'posts',
   *   fields: [{ name: 'title', type: 'text', required: true }],
   *   rules: { list: '', view: '' },
   * })
   */
  async create(input: CollectionInput): Promise<CollectionSchema> {
    return this.http.request('/api/collections', { method: 'POST', body: input })
  }

  /**
   * Changes a collection. Fields are matched by `id`: a changed name is a rename (data kept), a missing field a
   * drop, a field without `id` an addition. A type change the data cannot take answers 409 with the reason.
   *
   * @example
   * await client.admin.collections.update('posts', { rules: { ...posts.rules, create: "@request.auth.id != ''" } })
   */
  async update(name: string, patch: Partial<CollectionInput>): Promise<CollectionSchema> {
    return this.http.request(path(name), { method: 'PATCH', body: patch })
  }

  /**
   * Drops a collection and its table (refused while other collections relate to it).
   *
   * @example
   * await client.admin.collections.delete('drafts')
   */
  async delete(name: string): Promise<void> {
    await this.http.request(path(name), { method: 'DELETE' })
  }
}
