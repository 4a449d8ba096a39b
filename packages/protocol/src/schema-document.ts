/**
 * Schema as code (`/api/admin/schema`, `bastide schema pull|diff|push`): the user-owned schema of an instance in a
 * canonical form — no ids, timestamps or generated names, keys in a stable order — so that two instances with the
 * same schema export the same document, byte for byte.
 */
import type { CollectionRules, FieldOptions, FieldType } from './schema.ts'

export interface SchemaField {
  readonly name: string
  /** A rename hint (files only): the field's current name; its data is kept. Ignored once nothing has that name. */
  readonly renamedFrom?: string
  readonly type: FieldType
  readonly required: boolean
  readonly unique: boolean
  readonly hidden: boolean
  readonly options: FieldOptions
  /** A built-in field (the `users` collection's auth fields): shown for the record's shape, never changed. */
  readonly system?: boolean
}

export interface SchemaIndex {
  readonly fields: readonly string[]
  readonly unique: boolean
}

export interface SchemaCollection {
  readonly name: string
  /** A rename hint (files only): the collection's current name; its records are kept. */
  readonly renamedFrom?: string
  readonly fields: readonly SchemaField[]
  readonly indexes: readonly SchemaIndex[]
  readonly rules: CollectionRules
  /** Built in (`users`): never created or dropped by a push; its own fields and rules are. */
  readonly system?: boolean
}

export interface SchemaBucket {
  readonly name: string
  readonly public: boolean
  readonly maxFileSize: number | null
  readonly allowedMimeTypes: readonly string[]
  /** `null`: locked; `""`: everyone; otherwise an expression over the object. */
  readonly rules: {
    readonly read: string | null
    readonly write: string | null
    readonly delete: string | null
  }
}

export interface SchemaChannel {
  /** Identifies the definition (a channel name, or a prefix ending in `*`). */
  readonly pattern: string
  readonly presence: boolean
  readonly rules: { readonly join: string | null; readonly send: string | null }
}

/** `GET /api/admin/schema`; what `plan` and `apply` take. Lists sorted by name (channels by pattern). */
export interface SchemaDocument {
  readonly collections: readonly SchemaCollection[]
  readonly buckets: readonly SchemaBucket[]
  readonly channels: readonly SchemaChannel[]
}

export const SCHEMA_CHANGE_OPS = [
  'collection.create',
  'collection.rename',
  'collection.drop',
  'field.add',
  'field.rename',
  'field.update',
  'field.drop',
  'index.add',
  'index.drop',
  'rules.update',
  'bucket.create',
  'bucket.update',
  'bucket.delete',
  'channel.create',
  'channel.update',
  'channel.delete',
] as const
export type SchemaChangeOp = (typeof SCHEMA_CHANGE_OPS)[number]

/** One change of a plan. */
export interface SchemaChange {
  readonly op: SchemaChangeOp
  /** `posts`, `posts.title`, a bucket's name or a channel's pattern. */
  readonly target: string
  readonly description: string
  /** It can lose data (a dropped collection, field or bucket, a lossy retype, select values removed). */
  readonly destructive: boolean
}

/** `POST /api/admin/schema/plan`. */
export interface SchemaPlan {
  readonly changes: readonly SchemaChange[]
  /** Of the instance's schema and the target: pass it to apply as `expectHash` to apply exactly this plan. */
  readonly hash: string
  /**
   * With `check`: the SQL the apply runs, in order, from a trial apply that was rolled back (so the plan is known to
   * apply as things stand).
   */
  readonly sql?: readonly string[]
}

/** `POST /api/admin/schema/apply` and `/migrations`. */
export interface SchemaApplyResult extends SchemaPlan {
  /** false: nothing to do (no changes, or a migration already applied with this checksum). */
  readonly applied: boolean
}

/** A migration applied to an instance (`GET /api/admin/schema/migrations`). */
export interface AppliedMigration {
  readonly id: string
  readonly checksum: string
  readonly appliedAt: string
  readonly appliedBy: string
}

/**
 * The same JSON for the same value, whatever the key order, `undefined` members left out. What schema checksums are
 * taken of, by the server and by the CLI alike: one implementation, so a migration file's checksum is the server's.
 */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  return JSON.stringify(v)
}
