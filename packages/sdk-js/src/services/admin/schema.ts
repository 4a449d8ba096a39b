import type { AppliedMigration, SchemaApplyResult, SchemaDocument, SchemaPlan } from '@bastide/protocol'
import type { Http } from '../../http.ts'

/**
 * Schema as code (console admins, or API keys with the `schema` scope): the instance's collections, buckets and
 * channel definitions as one canonical document, what a target schema would change, and applying it in one
 * transaction. What `bastide schema pull|diff|push` and `bastide migrations` use.
 */
export class AdminSchema {
  constructor(private readonly http: Http) {}

  /**
   * The instance's schema, canonical: no ids or timestamps, sorted, defaults explicit.
   *
   * @example
   * const { collections, buckets, channels } = await client.admin.schema.export()
   */
  async export(opts: { signal?: AbortSignal } = {}): Promise<SchemaDocument> {
    return this.http.request('/api/admin/schema', { signal: opts.signal })
  }

  /**
   * What applying `schema` would change, one entry per change (destructive ones flagged), and the plan's hash.
   * With `base`, the plan goes from that schema instead of the instance's (e.g. the last migration's). With
   * `check`, the server also tries the apply in a transaction it rolls back: what would fail fails now, and `sql`
   * lists the statements (it takes the schema lock and runs the DDL: as costly as the apply).
   *
   * @example
   * const { changes, hash } = await client.admin.schema.plan(schema)
   * for (const c of changes) console.log(c.destructive ? '!' : ' ', c.description)
   */
  async plan(
    schema: SchemaDocument,
    opts: { base?: SchemaDocument; check?: boolean } = {},
  ): Promise<SchemaPlan> {
    return this.http.request('/api/admin/schema/plan', { method: 'POST', body: { schema, ...opts } })
  }

  /**
   * Applies `schema` in one transaction: every change or none. Destructive changes need `allowDestructive`;
   * `expectHash` (a plan's hash) refuses the apply when the instance changed since that plan (409 either way).
   *
   * @example
   * const plan = await client.admin.schema.plan(schema)
   * await client.admin.schema.apply(schema, { expectHash: plan.hash })
   */
  async apply(
    schema: SchemaDocument,
    opts: { allowDestructive?: boolean; expectHash?: string } = {},
  ): Promise<SchemaApplyResult> {
    // Not retried blindly: a lost answer may hide a committed apply (expectHash then makes a retry safe).
    return this.http.request('/api/admin/schema/apply', {
      method: 'POST',
      body: { schema, ...opts },
      retry: false,
    })
  }

  /**
   * The migrations applied to this instance, by id.
   *
   * @example
   * const applied = await client.admin.schema.migrations()
   */
  async migrations(opts: { signal?: AbortSignal } = {}): Promise<AppliedMigration[]> {
    return (
      await this.http.request<{ items: AppliedMigration[] }>('/api/admin/schema/migrations', {
        signal: opts.signal,
      })
    ).items
  }

  /**
   * Applies a migration's schema and records its id and checksum in the same transaction. Already applied with
   * this checksum: `applied: false`; with another: 409 (`details.reason` = `checksum_mismatch`).
   *
   * @example
   * await client.admin.schema.applyMigration({ id: '0002_add_posts', checksum, schema })
   */
  async applyMigration(input: {
    id: string
    checksum: string
    schema: SchemaDocument
    allowDestructive?: boolean
  }): Promise<SchemaApplyResult> {
    return this.http.request('/api/admin/schema/migrations', { method: 'POST', body: input, retry: false })
  }
}
