import type { CollectionInput, CollectionSchema, FieldSchema, RuleAction } from '@bastide/protocol'
import type { Http } from '../../http.ts'

/** What {@link AdminCollections.checkRule} checks: a rule for one action of a collection as drafted. */
export interface CheckRuleInput {
  /** The collection as it will be saved: its (new) name and its fields, saved or not (ids optional). */
  readonly collection: { readonly name: string; readonly fields: readonly FieldSchema[] }
  readonly action: RuleAction
  /** The expression; `''` (everyone) is always valid. */
  readonly rule: string
}

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

  /**
   * Checks a rule as saving would (same parser, same field checks), against a draft of the collection and the
   * live ones: resolves when it is valid, rejects with a BastideError `INVALID_FILTER` whose
   * `details.position` is the 0-based offset of the problem in `rule`.
   *
   * @example
   * try {
   *   await client.admin.collections.checkRule({ collection: { name: 'posts', fields }, action: 'list', rule })
   * } catch (e) {
   *   if (isBastideError(e, 'INVALID_FILTER')) showErrorAt(e.details?.position as number, e.message)
   * }
   */
  async checkRule(input: CheckRuleInput, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.http.request('/api/collections/check-rule', {
      method: 'POST',
      body: {
        collection: {
          name: input.collection.name,
          // Only what a rule can reach: options other than the relation target and `multiple` stay out.
          fields: input.collection.fields.map((f) => ({
            ...(f.id !== undefined ? { id: f.id } : {}),
            name: f.name,
            type: f.type,
            ...(f.hidden !== undefined ? { hidden: f.hidden } : {}),
            options: {
              ...(f.options?.collection !== undefined ? { collection: f.options.collection } : {}),
              ...(f.options?.multiple !== undefined ? { multiple: f.options.multiple } : {}),
            },
          })),
        },
        action: input.action,
        rule: input.rule,
      },
      signal: opts.signal,
    })
  }
}
