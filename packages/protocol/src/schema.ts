/** Collection schema on the wire: what `/api/collections` reads and writes (server: core/collections/types.ts). */

export const FIELD_TYPES = [
  'text',
  'number',
  'bool',
  'date',
  'email',
  'url',
  'json',
  'select',
  'relation',
  'file',
] as const
export type FieldType = (typeof FIELD_TYPES)[number]

export const ON_DELETE = ['cascade', 'set_null', 'restrict'] as const
export type OnDelete = (typeof ON_DELETE)[number]

export interface FieldOptions {
  /** text: min/max length; number: min/max value; date: min/max ISO date. */
  readonly min?: number | string
  readonly max?: number | string
  /** text: a regular expression (PostgreSQL POSIX syntax). */
  readonly pattern?: string
  /** number: whole numbers only. */
  readonly integer?: boolean
  /** select: the allowed values. */
  readonly values?: readonly string[]
  /** select, relation, file: an array of values. */
  readonly multiple?: boolean
  /** relation: the target collection's name. */
  readonly collection?: string
  /** relation: what happens to this record when the target is deleted. */
  readonly onDelete?: OnDelete
  /** file: the storage bucket. */
  readonly bucket?: string
}

export interface FieldSchema {
  /** Stable across renames; a PATCH matches fields by it (absent on a field being added). */
  readonly id?: string
  readonly name: string
  readonly type: FieldType
  readonly required?: boolean
  readonly unique?: boolean
  readonly hidden?: boolean
  readonly options?: FieldOptions
  /** Managed by the server (the `users` collection's auth fields). */
  readonly system?: boolean
}

export interface IndexSchema {
  readonly name?: string
  readonly fields: readonly string[]
  readonly unique?: boolean
}

export const RULE_ACTIONS = ['list', 'view', 'create', 'update', 'delete'] as const
export type RuleAction = (typeof RULE_ACTIONS)[number]
/** `null`: locked (admins and keys only); `''`: everyone; otherwise an expression. */
export type CollectionRules = { readonly [A in RuleAction]: string | null }

/** A collection as the server returns it. */
export interface CollectionSchema {
  readonly id: string
  readonly name: string
  readonly fields: readonly (FieldSchema & { readonly id: string })[]
  readonly indexes: readonly IndexSchema[]
  readonly rules: CollectionRules
  /** Built in (`users`): cannot be renamed or deleted. */
  readonly system?: boolean
  readonly created: string
  readonly updated: string
}

/** What `POST /api/collections` takes, and `PATCH` (every part optional there). */
export interface CollectionInput {
  readonly name: string
  readonly fields?: readonly FieldSchema[]
  readonly indexes?: readonly IndexSchema[]
  readonly rules?: Partial<CollectionRules>
}

/** Columns every record has, before the collection's own fields. */
export const SYSTEM_FIELDS = ['id', 'created', 'updated', 'version'] as const

/** API key scopes. */
export const KEY_SCOPES = [
  'schema',
  'records:read',
  'records:write',
  'storage:read',
  'storage:write',
  'keys',
  'metrics',
  'users',
  'functions',
  'push',
] as const
export type KeyScope = (typeof KEY_SCOPES)[number]

export interface ApiKeyInfo {
  readonly id: string
  readonly name: string
  /** The first characters of the secret, to recognise it. */
  readonly prefix: string
  readonly scopes: readonly KeyScope[]
  readonly created: string
  readonly lastUsed: string | null
  readonly expires: string | null
}

/** One admin action (`GET /api/admin/audit`). */
export interface AuditEntry {
  readonly seq: number
  readonly at: string
  readonly actor: string
  readonly action: string
  readonly target: string | null
  readonly details: Record<string, unknown> | null
  readonly diff: { readonly before?: unknown; readonly after?: unknown } | null
}
