/**
 * Component schemas of the OpenAPI document: the static ones (collections, keys, batch, errors)
 * and the ones generated for each collection's records.
 */

import { collectionInput, collectionPatch } from '../core/collections/define.ts'
import {
  type Collection,
  FIELD_TYPES,
  type Field,
  ON_DELETE,
  RULE_ACTIONS,
} from '../core/collections/types.ts'
import { ERROR_CODES } from '../errors/app-error.ts'
import { batchInput } from '../http/parse-batch.ts'
import { keyInput } from '../http/routes/admin-keys.ts'
import { zodSchema } from './zod-schema.ts'

export type Schema = Record<string, unknown>

/** The component names one collection contributes; `base` also builds its operationIds. */
export interface CollectionNames {
  readonly base: string
  readonly record: string
  readonly create: string
  readonly update: string
  readonly list: string
}

export const schemaRef = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })
const obj = (properties: Record<string, Schema>, required?: readonly string[], extra?: Schema): Schema => ({
  type: 'object',
  ...extra,
  properties,
  ...(required !== undefined && required.length > 0 ? { required: [...required] } : {}),
})
const arr = (items: Schema, extra?: Schema): Schema => ({ type: 'array', items, ...extra })
const str = (extra?: Schema): Schema => ({ type: 'string', ...extra })
const bool = (extra?: Schema): Schema => ({ type: 'boolean', ...extra })
const int = (extra?: Schema): Schema => ({ type: 'integer', ...extra })
const TIMESTAMP = str({ format: 'date-time' })
const NULLABLE_TIMESTAMP: Schema = { type: ['string', 'null'], format: 'date-time' }

export const NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_]*$'

function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')
}

/**
 * Collection names are case-sensitive and may contain underscores, so `blog_posts` and `blogPosts`
 * both PascalCase to `BlogPosts`; a numeric suffix keeps them apart. Names are assigned in sorted
 * order so the same set of collections always gets the same names, whatever order they come in.
 * Every generated name ends in Record/Create/Update/List and no static component does, so the
 * two sets can never collide.
 */
export function assignNames(collections: readonly Collection[]): Map<string, CollectionNames> {
  const used = new Set<string>()
  const names = new Map<string, CollectionNames>()
  for (const name of collections.map((c) => c.name).sort()) {
    const stem = pascalCase(name) || 'Collection'
    let base = stem
    for (let n = 2; used.has(base); n++) base = `${stem}${n}`
    used.add(base)
    names.set(name, {
      base,
      record: `${base}Record`,
      create: `${base}Create`,
      update: `${base}Update`,
      list: `${base}List`,
    })
  }
  return names
}

function numeric(value: number | string | undefined): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined
}

function bounds(field: Field, minKey: string, maxKey: string): Schema {
  const s: Schema = {}
  const min = numeric(field.options.min)
  const max = numeric(field.options.max)
  if (min !== undefined) s[minKey] = min
  if (max !== undefined) s[maxKey] = max
  return s
}

/** The schema of one value of the field, before multiplicity and nullability. */
function scalarSchema(field: Field): Schema {
  const o = field.options
  switch (field.type) {
    case 'text':
      return str({ ...bounds(field, 'minLength', 'maxLength'), ...(o.pattern ? { pattern: o.pattern } : {}) })
    case 'number':
      return { type: o.integer === true ? 'integer' : 'number', ...bounds(field, 'minimum', 'maximum') }
    case 'bool':
      return bool()
    case 'date':
      return TIMESTAMP
    case 'email':
      return str({ format: 'email' })
    case 'url':
      return str({ format: 'uri' })
    case 'json':
      return {}
    case 'select':
      return o.values !== undefined && o.values.length > 0 ? str({ enum: [...o.values] }) : str()
    case 'relation':
      return str({ format: 'uuid' })
    case 'file':
      return str()
  }
}

/** `described`: the collections the document describes; a relation to another one does not name it. */
function fieldDescription(field: Field, described?: ReadonlyMap<string, unknown>): string | undefined {
  const o = field.options
  const many = o.multiple === true ? 's' : ''
  const parts: string[] = []
  if (field.type === 'relation' && o.collection) {
    // A collection the document leaves out (locked for this audience) is not named either.
    const target =
      described === undefined || described.has(o.collection) ? `\`${o.collection}\` ` : 'related '
    parts.push(many ? `IDs of ${target}records.` : `ID of a ${target}record.`)
  }
  if (field.type === 'file') parts.push(`Object key${many}${o.bucket ? ` in bucket \`${o.bucket}\`` : ''}.`)
  // JSON Schema has no bounds for date-time strings, so the limits can only be told in prose.
  if (field.type === 'date' && (o.min !== undefined || o.max !== undefined)) {
    parts.push(`Between ${o.min ?? 'any date'} and ${o.max ?? 'any date'}.`)
  }
  if (field.unique) parts.push('Unique across the collection.')
  if (field.hidden) {
    parts.push(
      'Admin-only (hidden): returned only to console admins and API keys; non-admins cannot filter, sort or expand on it.',
    )
  }
  return parts.length > 0 ? parts.join(' ') : undefined
}

/** OpenAPI 3.1 nullability: widen `type` to include "null" (and the enum to include null). */
function nullable(s: Schema): Schema {
  if (typeof s.type !== 'string') return s // `{}` (json) already admits null
  const out: Schema = { ...s, type: [s.type, 'null'] }
  if (Array.isArray(s.enum)) out.enum = [...(s.enum as unknown[]), null]
  return out
}

const MULTI_TYPES = new Set<Field['type']>(['select', 'relation', 'file'])

export function fieldSchema(
  field: Field,
  allowNull: boolean,
  described?: ReadonlyMap<string, unknown>,
): Schema {
  const one = scalarSchema(field)
  const multiple = MULTI_TYPES.has(field.type) && field.options.multiple === true
  let s = multiple ? arr(one) : one
  if (allowNull) s = nullable(s)
  const description = fieldDescription(field, described)
  return description === undefined ? s : { ...s, description }
}

const SYSTEM_PROPERTIES: Record<string, Schema> = {
  id: str({ format: 'uuid', description: 'UUIDv7 unless the client supplied its own UUID.' }),
  created: TIMESTAMP,
  updated: TIMESTAMP,
  version: int({ description: 'Incremented on each update; send it back in `If-Match` or `$version`.' }),
}

/**
 * Forward relations to collections in the document get typed embeds; back-relations
 * (`<collection>_via_<field>`) and relations to collections not described stay untyped.
 */
function expandSchema(c: Collection, names: ReadonlyMap<string, CollectionNames>): Schema {
  const properties: Record<string, Schema> = {}
  for (const f of c.fields) {
    const target = f.type === 'relation' && f.options.collection ? names.get(f.options.collection) : undefined
    if (target === undefined) continue
    const one = schemaRef(target.record)
    properties[f.name] = f.options.multiple === true ? arr(one) : one
  }
  return obj(properties, undefined, {
    description:
      'Related records embedded by `?expand=`: keys are relation field names or `<collection>_via_<field>` back-relations.',
    additionalProperties: {},
  })
}

/** The four per-collection components, keyed by component name. */
export function collectionSchemas(
  c: Collection,
  names: ReadonlyMap<string, CollectionNames>,
): Record<string, Schema> {
  const n = names.get(c.name)
  if (n === undefined) throw new Error(`No component names assigned to collection ${c.name}`)
  const fields: Record<string, Schema> = {}
  for (const f of c.fields) fields[f.name] = fieldSchema(f, !f.required, names)
  const clientId = str({ format: 'uuid', description: 'Optional client-chosen ID (offline apps need one).' })
  const version = int({
    description:
      'The version you read; the update fails with 409 VERSION_MISMATCH when the record has moved on.',
  })
  const counted = int({ minimum: 0, description: 'Only with `?count=true`.' })
  const cursor = {
    type: ['string', 'null'],
    description: 'Pass as `?after=` for the next page; null on the last page.',
  }
  return {
    [n.record]: obj(
      { ...SYSTEM_PROPERTIES, ...fields, expand: expandSchema(c, names) },
      // Hidden fields are absent for non-admins, so only they may be missing.
      [...Object.keys(SYSTEM_PROPERTIES), ...c.fields.filter((f) => !f.hidden).map((f) => f.name)],
      { description: `A record of the \`${c.name}\` collection. Optional fields are present as null.` },
    ),
    [n.create]: obj(
      { id: clientId, ...fields },
      c.fields.filter((f) => f.required).map((f) => f.name),
    ),
    [n.update]: obj({ ...fields, $version: version }, undefined, {
      description: 'Only the fields sent change.',
    }),
    [n.list]: obj(
      {
        items: arr(schemaRef(n.record)),
        page: int({ minimum: 1 }),
        perPage: int({ minimum: 1, maximum: 500 }),
        totalItems: counted,
        totalPages: counted,
        nextCursor: cursor,
      },
      ['items', 'page', 'perPage', 'nextCursor'],
    ),
  }
}

const NAME = str({ pattern: NAME_PATTERN })
const STRINGS = arr(str())
const FIELD_TYPE = str({ enum: [...FIELD_TYPES] })
const rules = (extra: Schema) =>
  obj(Object.fromEntries(RULE_ACTIONS.map((a) => [a, { type: ['string', 'null'] }])), undefined, extra)

export const STATIC_SCHEMAS: Record<string, Schema> = {
  Error: obj(
    {
      code: str({ enum: Object.keys(ERROR_CODES) }),
      message: str(),
      status: int(),
      details: { type: 'object', additionalProperties: {} },
    },
    ['code', 'message', 'status'],
  ),
  Health: obj({ status: str({ enum: ['ok'] }), version: str() }, ['status', 'version']),
  FieldOptions: obj({
    min: { type: ['number', 'string'], description: 'text: min length; number: min value; date: min date.' },
    max: { type: ['number', 'string'], description: 'text: max length; number: max value; date: max date.' },
    pattern: str({ description: 'text: a regular expression.' }),
    integer: bool({ description: 'number: whole numbers only.' }),
    values: arr(str(), { description: 'select: the allowed values.' }),
    multiple: bool({ description: 'select, relation, file: an array of values.' }),
    collection: str({ description: "relation: the target collection's name." }),
    onDelete: str({
      enum: [...ON_DELETE],
      description: 'relation: what happens when the target is deleted.',
    }),
    bucket: str({ description: 'file: the storage bucket.' }),
  }),
  Field: obj(
    {
      id: str({
        description: 'Stable across renames; a PATCH with the full field list matches fields by it.',
      }),
      name: NAME,
      type: FIELD_TYPE,
      required: bool(),
      unique: bool(),
      hidden: bool({ description: 'Never returned to non-admins.' }),
      options: schemaRef('FieldOptions'),
    },
    ['id', 'name', 'type', 'required', 'unique', 'hidden', 'options'],
  ),
  Index: obj({ name: str(), fields: arr(str(), { minItems: 1 }), unique: bool() }, [
    'name',
    'fields',
    'unique',
  ]),
  Rules: rules({
    description: 'Per action: null = locked (admins and API keys only), "" = everyone, else an expression.',
    required: [...RULE_ACTIONS],
  }),
  Collection: obj(
    {
      id: str(),
      name: NAME,
      fields: arr(schemaRef('Field')),
      indexes: arr(schemaRef('Index')),
      rules: schemaRef('Rules'),
      created: TIMESTAMP,
      updated: TIMESTAMP,
    },
    ['id', 'name', 'fields', 'indexes', 'rules', 'created', 'updated'],
  ),
  // Request bodies are the routes' own zod schemas, so the document cannot drift from what is accepted.
  CollectionInput: zodSchema(collectionInput),
  CollectionPatch: zodSchema(collectionPatch),
  CollectionItems: obj({ items: arr(schemaRef('Collection')) }, ['items']),
  ApiKey: obj(
    {
      id: str(),
      name: str(),
      prefix: str({ description: 'The first characters of the key, to recognise it.' }),
      scopes: STRINGS,
      created: TIMESTAMP,
      lastUsed: NULLABLE_TIMESTAMP,
      expires: NULLABLE_TIMESTAMP,
    },
    ['id', 'name', 'prefix', 'scopes', 'created', 'lastUsed', 'expires'],
  ),
  ApiKeyWithSecret: {
    allOf: [
      schemaRef('ApiKey'),
      obj({ key: str({ description: 'The secret (`bst_sk_...`); shown only this once.' }) }, ['key']),
    ],
  },
  ApiKeyInput: zodSchema(keyInput),
  ApiKeyItems: obj({ items: arr(schemaRef('ApiKey')) }, ['items']),
  BatchRequest: zodSchema(batchInput),
  BatchResponse: obj({ responses: arr(obj({ status: int(), body: {} }, ['status', 'body'])) }, ['responses']),
}
