import type {
  SchemaBucket,
  SchemaChannel,
  SchemaCollection,
  SchemaDocument,
  SchemaField,
  SchemaIndex,
} from '@bastide/protocol'
import { z } from 'zod'
import { errors } from '../../errors/index.ts'
import { parseInput } from '../../errors/parse-input.ts'
import type { ChannelDefinition } from '../channels/channel-schema.ts'
import { optionsSchema } from '../collections/define.ts'
import { type Collection, FIELD_TYPES, type FieldOptions, RULE_ACTIONS } from '../collections/types.ts'
import type { Bucket } from '../files/buckets.ts'

/**
 * The canonical form of a schema: what `GET /api/admin/schema` answers and what plans compare. Everything that
 * differs between two instances holding the same schema is left out (ids, timestamps, generated index names),
 * defaults are explicit, keys come in one order and lists are sorted, so that equal schemas are equal JSON.
 */

const byKey =
  <T>(key: (t: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0

/** Options with their keys sorted, undefined values dropped, and a relation's onDelete made explicit. */
export function canonicalOptions(type: string, required: boolean, o: FieldOptions): FieldOptions {
  const given: Record<string, unknown> = { ...o }
  // The server's default (define.ts): restrict for a required single relation, which cannot be set to null.
  if (type === 'relation' && given.onDelete === undefined)
    given.onDelete = required && !o.multiple ? 'restrict' : 'set_null'
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(given).sort()) if (given[k] !== undefined) out[k] = given[k]
  return out as FieldOptions
}

export function canonicalField(
  f: Omit<SchemaField, 'required' | 'unique' | 'hidden'> & Partial<SchemaField>,
) {
  const required = f.required ?? false
  return {
    name: f.name,
    ...(f.renamedFrom !== undefined ? { renamedFrom: f.renamedFrom } : {}),
    type: f.type,
    required,
    unique: f.unique ?? false,
    hidden: f.hidden ?? false,
    options: canonicalOptions(f.type, required, f.options ?? {}),
    ...(f.system ? { system: true } : {}),
  } satisfies SchemaField
}

export function canonicalIndex(ix: { fields: readonly string[]; unique?: boolean }): SchemaIndex {
  return { fields: [...ix.fields], unique: ix.unique ?? false }
}

export function canonicalCollection(c: {
  name: string
  renamedFrom?: string | undefined
  system?: boolean | undefined
  fields: readonly (Omit<SchemaField, 'required' | 'unique' | 'hidden'> & Partial<SchemaField>)[]
  indexes: readonly { fields: readonly string[]; unique?: boolean }[]
  rules: Partial<Record<(typeof RULE_ACTIONS)[number], string | null | undefined>>
}): SchemaCollection {
  return {
    name: c.name,
    ...(c.renamedFrom !== undefined ? { renamedFrom: c.renamedFrom } : {}),
    ...(c.system ? { system: true } : {}),
    // Field order is kept: it is the order of the record's properties (API, OpenAPI, console).
    fields: c.fields.map(canonicalField),
    indexes: c.indexes.map(canonicalIndex),
    rules: Object.fromEntries(RULE_ACTIONS.map((a) => [a, c.rules[a] ?? null])) as SchemaCollection['rules'],
  }
}

export function canonicalBucket(b: Omit<SchemaBucket, 'rules'> & { rules: Partial<SchemaBucket['rules']> }) {
  return {
    name: b.name,
    public: b.public,
    maxFileSize: b.maxFileSize,
    allowedMimeTypes: [...b.allowedMimeTypes],
    rules: { read: b.rules.read ?? null, write: b.rules.write ?? null, delete: b.rules.delete ?? null },
  } satisfies SchemaBucket
}

export function canonicalChannel(
  c: Omit<SchemaChannel, 'rules'> & { rules: Partial<SchemaChannel['rules']> },
): SchemaChannel {
  return {
    pattern: c.pattern,
    presence: c.presence,
    rules: { join: c.rules.join ?? null, send: c.rules.send ?? null },
  }
}

/** An instance's schema, from its live objects. */
export function exportSchema(parts: {
  readonly collections: Iterable<Collection>
  readonly buckets: readonly Bucket[]
  readonly channels: readonly ChannelDefinition[]
}): SchemaDocument {
  return {
    collections: [...parts.collections].map(canonicalCollection).sort(byKey((c) => c.name)),
    buckets: parts.buckets.map(canonicalBucket).sort(byKey((b) => b.name)),
    channels: parts.channels.map(canonicalChannel).sort(byKey((c) => c.pattern)),
  }
}

// The wire shape of a document sent to plan/apply: its structure, field options included (their keys and value
// types). What a value may be (names, options per field type, rules) is checked by the collections, buckets and
// channels services when the plan is applied.
const rule = z.string().max(4096).nullable().optional()
const fieldInput = z.strictObject({
  name: z.string().min(1).max(100),
  renamedFrom: z.string().min(1).max(100).optional(),
  type: z.enum(FIELD_TYPES),
  required: z.boolean().optional(),
  unique: z.boolean().optional(),
  hidden: z.boolean().optional(),
  // The strict options of the collections API, not any JSON: a value nested thousands deep would otherwise reach
  // the recursive canonical form (stableJson, @bastide/protocol) and overflow the stack, a 500 instead of a 400.
  options: optionsSchema.optional(),
  system: z.boolean().optional(),
})
const collectionInput = z.strictObject({
  name: z.string().min(1).max(100),
  renamedFrom: z.string().min(1).max(100).optional(),
  system: z.boolean().optional(),
  fields: z.array(fieldInput).max(200).default([]),
  indexes: z
    .array(z.strictObject({ fields: z.array(z.string()).min(1).max(8), unique: z.boolean().optional() }))
    .max(50)
    .default([]),
  rules: z.strictObject(Object.fromEntries(RULE_ACTIONS.map((a) => [a, rule]))).default({}),
})
const bucketInput = z.strictObject({
  name: z.string().min(1).max(100),
  public: z.boolean().default(false),
  maxFileSize: z.number().int().positive().nullable().default(null),
  allowedMimeTypes: z.array(z.string()).max(100).default([]),
  rules: z.strictObject({ read: rule, write: rule, delete: rule }).default({}),
})
const channelInput = z.strictObject({
  pattern: z.string().min(1).max(201),
  presence: z.boolean().default(true),
  rules: z.strictObject({ join: rule, send: rule }).default({}),
})
export const schemaDocumentInput = z.strictObject({
  collections: z.array(collectionInput).max(1000).default([]),
  buckets: z.array(bucketInput).max(1000).default([]),
  channels: z.array(channelInput).max(1000).default([]),
})

/**
 * A document from a client, in canonical form. Throws VALIDATION_FAILED for a wrong shape and INVALID_SCHEMA when two
 * objects share a name (a file copied twice must not silently win over the other).
 */
export function parseSchemaDocument(raw: unknown): SchemaDocument {
  const v = parseInput(schemaDocumentInput, raw)
  const doc: SchemaDocument = {
    collections: v.collections
      .map((c) =>
        canonicalCollection({
          ...c,
          fields: c.fields.map((f) => ({ ...f, options: f.options as FieldOptions })),
        }),
      )
      .sort(byKey((c) => c.name)),
    buckets: v.buckets.map(canonicalBucket).sort(byKey((b) => b.name)),
    channels: v.channels.map(canonicalChannel).sort(byKey((c) => c.pattern)),
  }
  const dupes = [
    ...duplicates(doc.collections.map((c) => c.name)).map((n) => `collections: ${n}`),
    ...doc.collections.flatMap((c) =>
      duplicates(c.fields.map((f) => f.name.toLowerCase())).map((n) => `collections: ${c.name}.${n}`),
    ),
    ...duplicates(doc.buckets.map((b) => b.name)).map((n) => `buckets: ${n}`),
    ...duplicates(doc.channels.map((c) => c.pattern)).map((n) => `channels: ${n}`),
  ]
  if (dupes.length > 0)
    throw errors.invalidSchema('Some names appear twice in the schema.', { duplicates: dupes })
  return doc
}

function duplicates(names: readonly string[]): string[] {
  const seen = new Set<string>()
  return [...new Set(names.filter((n) => seen.has(n) || !seen.add(n)))]
}
