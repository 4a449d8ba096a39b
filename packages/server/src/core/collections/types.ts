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
  /** text: a regular expression (PostgreSQL POSIX syntax, checked in JavaScript too). */
  readonly pattern?: string
  /** number: whole numbers only (a bigint column). */
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

export interface Field {
  /** Stable across renames; a PATCH matches fields by it. */
  readonly id: string
  readonly name: string
  readonly type: FieldType
  readonly required: boolean
  readonly unique: boolean
  readonly hidden: boolean
  readonly options: FieldOptions
  /** Managed by the server (the `users` collection's auth fields): fixed shape, never written by the records API. */
  readonly system?: boolean
}

export interface Index {
  readonly name: string
  readonly fields: readonly string[]
  readonly unique: boolean
}

export const RULE_ACTIONS = ['list', 'view', 'create', 'update', 'delete'] as const
export type RuleAction = (typeof RULE_ACTIONS)[number]
/** `null`: locked (admins and keys only); `''`: everyone; otherwise an expression. */
export type Rules = { readonly [A in RuleAction]: string | null }

export interface Collection {
  readonly id: string
  readonly name: string
  readonly fields: readonly Field[]
  readonly indexes: readonly Index[]
  readonly rules: Rules
  /** Built in (`users`): cannot be renamed or deleted, and its records are created by auth, not the records API. */
  readonly system?: boolean
  readonly created: string
  readonly updated: string
}

/** Columns every collection table has, in this order, before its own fields. */
export const SYSTEM_FIELDS = ['id', 'created', 'updated', 'version'] as const
export type SystemField = (typeof SYSTEM_FIELDS)[number]

export function isMultiple(f: Field): boolean {
  return (f.type === 'select' || f.type === 'relation' || f.type === 'file') && f.options.multiple === true
}

/** Multiple relations live in a join table, not in a column of the collection's table. */
export function hasColumn(f: Field): boolean {
  return !(f.type === 'relation' && f.options.multiple === true)
}

export function joinTableName(f: Field): string {
  return `_rel_${f.id}`
}
