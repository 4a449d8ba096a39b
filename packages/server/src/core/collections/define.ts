import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { errors } from '../../errors/index.ts'
import { nameProblem } from './names.ts'
import {
  type Collection,
  FIELD_TYPES,
  type Field,
  type FieldOptions,
  type Index,
  isMultiple,
  ON_DELETE,
  RULE_ACTIONS,
  type Rules,
  SYSTEM_FIELDS,
} from './types.ts'

export const optionsSchema = z
  .object({
    min: z
      .union([z.number(), z.string()])
      .optional()
      .describe('text: min length; number: min value; date: min date.'),
    max: z
      .union([z.number(), z.string()])
      .optional()
      .describe('text: max length; number: max value; date: max date.'),
    pattern: z.string().max(500).optional().describe('text: a regular expression.'),
    integer: z.boolean().optional().describe('number: whole numbers only.'),
    values: z.array(z.string().min(1).max(200)).max(500).optional().describe('select: the allowed values.'),
    multiple: z.boolean().optional().describe('select, relation, file: an array of values.'),
    collection: z.string().optional().describe("relation: the target collection's name."),
    onDelete: z.enum(ON_DELETE).optional().describe('relation: what happens when the target is deleted.'),
    bucket: z.string().max(100).optional().describe('file: the storage bucket.'),
  })
  .strict()

const fieldInput = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9]{10}$/, 'must be an id the server returned')
      .optional(),
    name: z
      .string()
      .describe('Starts with a letter; letters, digits and underscores, at most 50 characters.'),
    type: z.enum(FIELD_TYPES),
    required: z.boolean().default(false),
    unique: z.boolean().default(false),
    hidden: z.boolean().default(false),
    options: optionsSchema.default({}),
    /** Echoed back from a GET; whether a field is a system field is the server's to say. */
    system: z.boolean().optional(),
  })
  .strict()
  .describe('A field as sent: without `id` it is new; with `id` it is matched, so a new name renames.')

const indexInput = z
  .object({
    name: z
      .string()
      .regex(/^ix_[a-z0-9]{10}$/)
      .optional(),
    fields: z.array(z.string()).min(1).max(8),
    unique: z.boolean().default(false),
  })
  .strict()

const rulesInput = z
  .object(Object.fromEntries(RULE_ACTIONS.map((a) => [a, z.string().max(4096).nullable().optional()])))
  .strict()
  .describe(
    'Per action: null = locked (admins and API keys only), "" = everyone, else an expression. Left out: null.',
  )

const collectionShape = {
  name: z.string().describe('Starts with a letter; letters, digits and underscores, at most 50 characters.'),
  fields: z.array(fieldInput).max(200),
  indexes: z.array(indexInput).max(50),
  rules: rulesInput,
}

export const collectionInput = z
  .object(collectionShape)
  .partial({ fields: true, indexes: true, rules: true })
  .strict()

/** No defaults here: a key left out of a PATCH keeps its current value (zod 4 applies defaults even to optional keys). */
export const collectionPatch = z
  .object(collectionShape)
  .partial()
  .strict()
  .describe('Only what is sent changes. `fields` is the full new list: a field left out is dropped.')

export type CollectionInput = z.input<typeof collectionInput>
export type CollectionPatch = z.input<typeof collectionPatch>

type Issue = { path: string; message: string }

export function newId(): string {
  // 10 base-36 characters: stable field ids that fit in constraint names.
  return [...randomBytes(10)].map((b) => (b % 36).toString(36)).join('')
}

export interface DefineContext {
  /** Other collections by name (a relation may also point at the collection being defined). */
  readonly lookup: (name: string) => Collection | undefined
  /** Validates a rule against the would-be collection; returns a message when it is invalid. */
  readonly checkRule: (rule: string, collection: Collection) => string | undefined
}

/**
 * Validates a create (no `before`) or a patch against the current definition and returns the complete
 * new definition. Fields in a patch are matched by `id`: a changed name is a rename, a missing field a
 * drop, a field without id an addition. Throws INVALID_SCHEMA listing every problem.
 */
export function defineCollection(raw: unknown, ctx: DefineContext, before?: Collection): Collection {
  const parsed = (before ? collectionPatch : collectionInput).safeParse(raw)
  if (!parsed.success) {
    throw errors.invalidSchema('The collection definition is invalid.', {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    })
  }
  const input = parsed.data
  const issues: Issue[] = []
  const name = input.name ?? before!.name
  const np = nameProblem(name, 'collection')
  if (np) issues.push({ path: 'name', message: np })

  if (before?.system && name !== before.name) {
    issues.push({ path: 'name', message: `The built-in '${before.name}' collection cannot be renamed.` })
  }
  const beforeById = new Map(before?.fields.map((f) => [f.id, f]))
  const given = input.fields ?? before?.fields ?? []
  const fields: Field[] = given.map((f, i) => {
    if (f.id && !beforeById.has(f.id)) {
      issues.push({ path: `fields.${i}.id`, message: `No field has id '${f.id}'.` })
    }
    const sys = f.id ? beforeById.get(f.id) : undefined
    if (sys?.system) {
      const same =
        f.name === sys.name &&
        f.type === sys.type &&
        (f.required ?? false) === sys.required &&
        (f.unique ?? false) === sys.unique &&
        (f.hidden ?? false) === sys.hidden &&
        JSON.stringify(pruneOptions(f.options ?? {})) === JSON.stringify(sys.options)
      if (!same)
        issues.push({ path: `fields.${i}`, message: `'${sys.name}' is managed by auth and cannot change.` })
      return sys
    }
    return {
      id: f.id ?? newId(),
      name: f.name,
      type: f.type,
      required: f.required ?? false,
      unique: f.unique ?? false,
      hidden: f.hidden ?? false,
      options: normalizeOptions(
        f.type,
        f.required ?? false,
        pruneOptions(f.options ?? {}),
        before?.name,
        name,
      ),
    }
  })
  // A PATCH that leaves system fields out keeps them: they are not the caller's to drop.
  for (const f of before?.fields ?? []) if (f.system && !fields.some((x) => x.id === f.id)) fields.push(f)
  const seen = new Set<string>()
  fields.forEach((f, i) => {
    const p = `fields.${i}`
    const fp = nameProblem(f.name, 'field')
    if (fp) issues.push({ path: `${p}.name`, message: fp })
    const lower = f.name.toLowerCase()
    if (seen.has(lower)) issues.push({ path: `${p}.name`, message: `Two fields are named '${f.name}'.` })
    seen.add(lower)
    issues.push(...checkField(f, p, name, ctx).map((m) => ({ path: p, message: m })))
    const old = beforeById.get(f.id)
    const selfRename = before && before.name !== name ? ([before.name, name] as const) : undefined
    if (old) issues.push(...checkChange(old, f, selfRename).map((m) => ({ path: p, message: m })))
  })

  const fieldNames = new Set([
    ...SYSTEM_FIELDS,
    ...fields.filter((f) => !isMultiRelation(f)).map((f) => f.name),
  ])
  const indexes: Index[] = (input.indexes ?? before?.indexes ?? []).map((ix, i) => {
    for (const f of ix.fields) {
      if (!fieldNames.has(f))
        issues.push({ path: `indexes.${i}.fields`, message: `'${f}' is not an indexable field.` })
    }
    if (new Set(ix.fields).size !== ix.fields.length)
      issues.push({ path: `indexes.${i}.fields`, message: 'A field is repeated.' })
    const prev = before?.indexes.find((b) => b.name === ix.name)
    const same = prev && prev.unique === (ix.unique ?? false) && prev.fields.join() === ix.fields.join()
    return { name: same ? prev.name : `ix_${newId()}`, fields: ix.fields, unique: ix.unique ?? false }
  })

  const rules = Object.fromEntries(
    RULE_ACTIONS.map((a) => [
      a,
      input.rules && a in input.rules ? (input.rules[a] ?? null) : (before?.rules[a] ?? null),
    ]),
  ) as Rules
  const now = new Date().toISOString()
  const collection: Collection = {
    id: before?.id ?? crypto.randomUUID(),
    name,
    fields,
    indexes,
    rules,
    ...(before?.system ? { system: true } : {}),
    created: before?.created ?? now,
    updated: now,
  }
  if (issues.length === 0) {
    for (const a of RULE_ACTIONS) {
      const r = rules[a]
      if (r === null || r.trim() === '') continue
      const problem = ctx.checkRule(r, collection)
      if (problem) issues.push({ path: `rules.${a}`, message: problem })
    }
  }
  if (issues.length > 0) throw errors.invalidSchema('The collection definition is invalid.', { issues })
  return collection
}

function isMultiRelation(f: Field): boolean {
  return f.type === 'relation' && f.options.multiple === true
}

/**
 * Makes relation options explicit: a relation to the collection itself follows its renames, and a missing
 * onDelete is `restrict` for a required single relation (it cannot be set to null) and `set_null` otherwise.
 */
function normalizeOptions(
  type: string,
  required: boolean,
  o: FieldOptions,
  oldName: string | undefined,
  name: string,
): FieldOptions {
  if (type !== 'relation') return o
  const collection = oldName !== undefined && o.collection === oldName ? name : o.collection
  const onDelete = o.onDelete ?? (required && !o.multiple ? 'restrict' : 'set_null')
  return { ...o, ...(collection !== undefined ? { collection } : {}), onDelete }
}

function pruneOptions(o: FieldOptions): FieldOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as FieldOptions
}

const ALLOWED: Record<string, readonly (keyof FieldOptions)[]> = {
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

function checkField(f: Field, _p: string, self: string, ctx: DefineContext): string[] {
  const out: string[] = []
  const o = f.options
  for (const k of Object.keys(o)) {
    if (!ALLOWED[f.type]!.includes(k as keyof FieldOptions))
      out.push(`Option '${k}' does not apply to ${f.type} fields.`)
  }
  const num = (v: unknown, what: string) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v)))
      out.push(`options.${what} must be a number.`)
  }
  if (f.type === 'text') {
    num(o.min, 'min')
    num(o.max, 'max')
    if (typeof o.min === 'number' && (o.min < 0 || !Number.isInteger(o.min)))
      out.push('options.min must be a whole number ≥ 0.')
    if (typeof o.max === 'number' && (o.max < 1 || !Number.isInteger(o.max)))
      out.push('options.max must be a whole number ≥ 1.')
    if (o.pattern !== undefined) {
      try {
        new RegExp(o.pattern, 'u')
      } catch {
        out.push('options.pattern is not a valid regular expression.')
      }
    }
  }
  if (f.type === 'number') {
    num(o.min, 'min')
    num(o.max, 'max')
  }
  if (f.type === 'date') {
    for (const k of ['min', 'max'] as const) {
      if (o[k] !== undefined && (typeof o[k] !== 'string' || Number.isNaN(Date.parse(o[k] as string)))) {
        out.push(`options.${k} must be an ISO date.`)
      }
    }
  }
  if (typeof o.min === typeof o.max && o.min !== undefined && o.max !== undefined && o.min > o.max)
    out.push('options.min is greater than options.max.')
  if (f.type === 'select') {
    if (!o.values || o.values.length === 0) out.push('A select field needs options.values.')
    else if (new Set(o.values).size !== o.values.length) out.push('options.values has duplicates.')
    if (o.values?.some((v) => [...v].some((ch) => ch.charCodeAt(0) < 0x20)))
      out.push('options.values may not contain control characters.')
  }
  if (f.type === 'relation') {
    if (!o.collection) out.push('A relation field needs options.collection.')
    else if (o.collection !== self && !ctx.lookup(o.collection))
      out.push(`Collection '${o.collection}' does not exist.`)
    if (o.onDelete === 'set_null' && f.required && !o.multiple)
      out.push('A required relation cannot use onDelete set_null.')
  }
  if (f.type === 'file' && !o.bucket) out.push('A file field needs options.bucket.')
  if (f.unique && (isMultiple(f) || f.type === 'json'))
    out.push(`A ${isMultiple(f) ? 'multiple' : 'json'} field cannot be unique.`)
  return out
}

/** Changes the table cannot take without losing meaning. */
function checkChange(old: Field, f: Field, selfRename?: readonly [string, string]): string[] {
  const out: string[] = []
  if (old.type === 'relation' || f.type === 'relation') {
    if (old.type !== f.type) out.push('A relation field cannot change type; add a new field instead.')
    else {
      if (
        old.options.collection !== f.options.collection &&
        !(selfRename && old.options.collection === selfRename[0] && f.options.collection === selfRename[1])
      )
        out.push('A relation cannot change its target collection.')
      if (old.options.multiple && !f.options.multiple) out.push('A multiple relation cannot become single.')
    }
  }
  // A file field's values are keys of objects it owns (deleting the record deletes them): a text column must
  // not become such keys, nor may the keys move to another bucket's namespace.
  if ((old.type === 'file') !== (f.type === 'file'))
    out.push('A field cannot change to or from the file type; add a new field instead.')
  else if (f.type === 'file' && old.options.bucket !== f.options.bucket)
    out.push('A file field cannot change its bucket; add a new field instead.')
  if (isMultiple(old) && !isMultiple(f) && old.type !== 'relation')
    out.push('A multiple field cannot become single.')
  if (f.type === 'json' && old.type !== 'json' && old.type !== 'text')
    out.push(`A ${old.type} field cannot become json.`)
  return out
}
