import type { FieldOptions, FieldType, RuleAction, SYSTEM_FIELDS } from '@bastide/protocol'

// The wire vocabulary (field types, on-delete actions, options, rule actions, system fields) is declared once, in
// the protocol package the SDK and the console read too; the server's own shapes below are stricter.
export {
  FIELD_TYPES,
  type FieldOptions,
  type FieldType,
  ON_DELETE,
  type OnDelete,
  RULE_ACTIONS,
  type RuleAction,
  SYSTEM_FIELDS,
} from '@bastide/protocol'

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

/** Columns every collection table has, in this order, before its own fields (SYSTEM_FIELDS). */
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
