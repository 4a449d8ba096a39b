import type {
  CollectionInput,
  CollectionRules,
  CollectionSchema,
  FieldOptions,
  FieldSchema,
  FieldType,
} from '@bastide/protocol'

/** A field while it is edited: `key` is local and stable (React keys, index references), `id` the server's. */
export interface DraftField {
  readonly key: string
  readonly id?: string
  readonly name: string
  readonly type: FieldType
  readonly required: boolean
  readonly unique: boolean
  readonly hidden: boolean
  readonly system?: boolean
  readonly options: FieldOptions
}

/** An index while it is edited: its fields are field keys, so renaming a field keeps the index on it. */
export interface DraftIndex {
  readonly key: string
  readonly name?: string
  readonly fields: readonly string[]
  readonly unique: boolean
}

export interface Draft {
  readonly name: string
  readonly fields: readonly DraftField[]
  readonly indexes: readonly DraftIndex[]
  readonly rules: CollectionRules
}

/** Which options each type takes (the server refuses the others). */
export const TYPE_OPTIONS: Record<FieldType, readonly (keyof FieldOptions)[]> = {
  text: ['min', 'max', 'pattern'],
  number: ['min', 'max', 'integer'],
  bool: [],
  date: ['min', 'max'],
  email: [],
  url: [],
  json: [],
  select: ['values', 'multiple'],
  relation: ['collection', 'multiple', 'onDelete'],
  file: ['bucket', 'multiple'],
}

export const TYPE_LABELS: Record<FieldType, string> = {
  text: 'Text',
  number: 'Number',
  bool: 'Yes / no',
  date: 'Date',
  email: 'Email',
  url: 'URL',
  json: 'JSON',
  select: 'Select',
  relation: 'Relation',
  file: 'File',
}

export const LOCKED_RULES: CollectionRules = {
  list: null,
  view: null,
  create: null,
  update: null,
  delete: null,
}

let counter = 0
/** A key unique in this page's life. */
export function localKey(prefix = 'k'): string {
  counter += 1
  return `${prefix}${counter}`
}

export function emptyDraft(): Draft {
  return { name: '', fields: [newField()], indexes: [], rules: LOCKED_RULES }
}

export function newField(type: FieldType = 'text', name = ''): DraftField {
  return { key: localKey('f'), name, type, required: false, unique: false, hidden: false, options: {} }
}

/** A collection's fields with their full type (protocol's `fields` is an intersection of arrays, whose map() loses it). */
export function fieldsOf(
  c: Pick<CollectionSchema, 'fields'>,
): readonly (FieldSchema & { readonly id: string })[] {
  return c.fields as readonly (FieldSchema & { readonly id: string })[]
}

export function fromSchema(c: CollectionSchema): Draft {
  const fields: DraftField[] = fieldsOf(c).map((f) => ({
    key: localKey('f'),
    id: f.id,
    name: f.name,
    type: f.type,
    required: f.required ?? false,
    unique: f.unique ?? false,
    hidden: f.hidden ?? false,
    ...(f.system ? { system: true } : {}),
    options: f.options ?? {},
  }))
  const byName = new Map(fields.map((f) => [f.name, f.key]))
  return {
    name: c.name,
    fields,
    // System columns (id, created…) keep their own name as their key.
    indexes: c.indexes.map((ix) => ({
      key: localKey('i'),
      ...(ix.name !== undefined ? { name: ix.name } : {}),
      fields: ix.fields.map((n) => byName.get(n) ?? `=${n}`),
      unique: ix.unique ?? false,
    })),
    rules: c.rules,
  }
}

/** Only the options that apply to the type, without blanks: what the server will accept. */
export function cleanOptions(type: FieldType, o: FieldOptions): FieldOptions {
  const out: Record<string, unknown> = {}
  for (const k of TYPE_OPTIONS[type]) {
    const v = o[k]
    if (v === undefined || v === '' || (typeof v === 'number' && Number.isNaN(v))) continue
    if (k === 'values' && Array.isArray(v)) {
      out[k] = v.map((s) => s.trim()).filter((s) => s !== '')
      continue
    }
    if ((k === 'multiple' || k === 'integer') && v === false) continue
    out[k] = v
  }
  return out as FieldOptions
}

/** The field as the server takes it. */
export function toFieldInput(f: DraftField): FieldSchema {
  return {
    ...(f.id !== undefined ? { id: f.id } : {}),
    name: f.name.trim(),
    type: f.type,
    required: f.required,
    unique: f.unique,
    hidden: f.hidden,
    // A system field goes back exactly as the server sent it: it compares them, options and all.
    options: f.system ? f.options : cleanOptions(f.type, f.options),
    ...(f.system ? { system: true } : {}),
  }
}

/** The index's field names, following renames in the draft. */
export function indexFieldNames(ix: DraftIndex, fields: readonly DraftField[]): string[] {
  // A field removed from the draft leaves its indexes too.
  return ix.fields.flatMap((k) => {
    if (k.startsWith('=')) return [k.slice(1)]
    const f = fields.find((x) => x.key === k)
    return f ? [f.name.trim()] : []
  })
}

/** The whole draft as a create body or a PATCH (fields and indexes are full lists either way). */
export function toInput(d: Draft): CollectionInput {
  return {
    name: d.name.trim(),
    fields: d.fields.map(toFieldInput),
    indexes: d.indexes
      .map((ix) => ({
        ...(ix.name !== undefined ? { name: ix.name } : {}),
        fields: indexFieldNames(ix, d.fields),
        unique: ix.unique,
      }))
      .filter((ix) => ix.fields.length > 0),
    rules: d.rules,
  }
}

/** Whether two drafts would save the same thing (the Save button's "unsaved changes"). */
export function sameDraft(a: Draft, b: Draft): boolean {
  return JSON.stringify(toInput(a)) === JSON.stringify(toInput(b))
}

/** Moves item `from` to `to` in a new array. */
export function move<T>(items: readonly T[], from: number, to: number): T[] {
  const out = [...items]
  if (to < 0 || to >= out.length) return out
  const [x] = out.splice(from, 1)
  out.splice(to, 0, x as T)
  return out
}
