import openapiTS, { type OpenAPI3 } from 'openapi-typescript'
import { describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { definitionInput, definitionPatch } from '../core/channels/channel-definitions.ts'
import { collectionInput, collectionPatch } from '../core/collections/define.ts'
import type { Collection } from '../core/collections/types.ts'
import { bucketInput, bucketPatch } from '../core/files/buckets.ts'
import { batchInput } from '../http/parse-batch.ts'
import { keyInput } from '../http/routes/admin-keys.ts'
import { listQuery, readQuery } from '../http/routes/records.ts'
import { copyObjectInput, signedUrlInput } from '../http/routes/storage.ts'
import { auditOpenApi } from '../modules/audit/openapi.ts'
import { auditQuery } from '../modules/audit/routes.ts'
import { buildOpenApi } from './build-openapi.ts'
import { realtimeOpenApi } from './realtime-paths.ts'
import { storageOpenApi } from './storage-paths.ts'
import { ZOD_OPENAPI_OPTIONS, zodSchema } from './zod-schema.ts'

type Obj = Record<string, any>

const T = '2024-01-01T00:00:00.000Z'
const notes: Collection = {
  id: 'col_notes',
  name: 'notes',
  fields: [
    {
      id: 'fld_title',
      name: 'title',
      type: 'text',
      required: true,
      unique: false,
      hidden: false,
      options: {},
    },
  ],
  indexes: [],
  rules: { list: '', view: '', create: '', update: '', delete: '' },
  created: T,
  updated: T,
}
const doc = buildOpenApi({
  collections: [notes],
  version: '1.0.0',
  parts: [storageOpenApi(), realtimeOpenApi(), auditOpenApi()],
}) as Obj

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const
const operations = (): Obj[] =>
  Object.values<Obj>(doc.paths).flatMap((item) => METHODS.flatMap((m) => (item[m] ? [item[m]] : [])))
const op = (id: string): Obj => operations().find((o) => o.operationId === id)!
const deref = (node: Obj): Obj =>
  node.$ref === undefined
    ? node
    : (node.$ref as string)
        .replace(/^#\//, '')
        .split('/')
        .reduce<Obj>((at, key) => at[key], doc)
const jsonBodyOf = (id: string): Obj => deref(op(id).requestBody.content['application/json'].schema)
const queryOf = (id: string): Obj[] =>
  (op(id).parameters ?? []).map(deref).filter((p: Obj) => p.in === 'query')

/** What zod makes of a route's schema: the one definition the document must repeat exactly. */
const fromZod = (schema: z.ZodType): Obj => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, ZOD_OPENAPI_OPTIONS) as Obj
  return rest
}
const withoutDescriptions = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(withoutDescriptions)
    : value !== null && typeof value === 'object'
      ? Object.fromEntries(
          Object.entries(value)
            .filter(([k]) => k !== 'description')
            .map(([k, v]) => [k, withoutDescriptions(v)]),
        )
      : value

/** Every JSON request body the document describes, with the zod schema its route parses it with. */
const BODIES: readonly (readonly [operationId: string, schema: z.ZodType])[] = [
  ['createCollection', collectionInput],
  ['updateCollection', collectionPatch],
  ['createApiKey', keyInput],
  ['batch', batchInput],
  ['createBucket', bucketInput],
  ['updateBucket', bucketPatch],
  ['createSignedUrl', signedUrlInput],
  ['copyObject', copyObjectInput],
  ['moveObject', copyObjectInput],
]
/** Channel definitions: core/channels/ gives the shape, realtime-paths.ts adds the prose. */
const DESCRIBED_BODIES = [
  ['createChannelDefinition', definitionInput],
  ['updateChannelDefinition', definitionPatch],
] as const
/** Record bodies are generated from each live collection (record-schemas.ts), not from zod. */
const RECORD_BODIES = ['createNotesRecord', 'updateNotesRecord']

describe('route zod schemas are the single source of request bodies and queries', () => {
  it.each(BODIES)('%s: the request body is what zod makes of the route schema', (id, schema) => {
    expect(op(id).requestBody.required).toBe(true)
    expect(jsonBodyOf(id)).toEqual(fromZod(schema))
  })

  it.each(DESCRIBED_BODIES)('%s: the route schema, with a description on every property', (id, schema) => {
    const body = jsonBodyOf(id)
    expect(withoutDescriptions(body)).toEqual(withoutDescriptions(fromZod(schema)))
    for (const [name, property] of Object.entries<Obj>(body.properties)) {
      expect(property.description, name).toEqual(expect.any(String))
    }
  })

  it('leaves no JSON request body hand-written: each one is in the tables above', () => {
    const described = operations()
      .filter((o) => o.requestBody?.content?.['application/json'] !== undefined)
      .map((o) => o.operationId as string)
    const listed = [...BODIES, ...DESCRIBED_BODIES].map(([id]) => id)
    expect(described.sort()).toEqual([...listed, ...RECORD_BODIES].sort())
  })

  it("describes the audit query parameter by parameter, as the route's zod schema has it", () => {
    const object = fromZod(auditQuery)
    expect(queryOf('listAuditEntries')).toEqual(
      Object.entries<Obj>(object.properties).map(([name, schema]) => ({
        name,
        in: 'query',
        required: (object.required ?? []).includes(name),
        ...(schema.description === undefined ? {} : { description: schema.description }),
        schema,
      })),
    )
  })

  it("takes the records query's text parameters from the route's zod schemas, with the same names", () => {
    const list = fromZod(listQuery).properties
    const read = fromZod(readQuery).properties
    const listParams = queryOf('listNotesRecords')
    expect(listParams.map((p) => p.name).sort()).toEqual(Object.keys(listQuery.shape).sort())
    expect(
      queryOf('getNotesRecord')
        .map((p) => p.name)
        .sort(),
    ).toEqual(Object.keys(readQuery.shape).sort())
    for (const name of ['filter', 'sort', 'after', 'fields', 'expand']) {
      const param = listParams.find((p) => p.name === name)!
      expect(param.schema, name).toEqual(list[name])
      expect(param.description, name).toBe(list[name].description)
      if (name in read) expect(read[name], name).toEqual(list[name])
    }
  })

  it('keeps every description the hand-written schemas had', () => {
    expect(jsonBodyOf('createApiKey').properties.expires.description).toMatch(/minter's expiry/)
    expect(jsonBodyOf('copyObject').properties.toBucket.description).toBe(
      'Another bucket; default: the same one.',
    )
    const bucket = jsonBodyOf('createBucket').properties
    for (const name of ['public', 'maxFileSize', 'allowedMimeTypes', 'rules'])
      expect(bucket[name].description, name).toEqual(expect.any(String))
    expect(bucket.rules.properties.read.description).toMatch(/locked/)
    const collection = jsonBodyOf('createCollection').properties
    expect(collection.fields.items.description).toMatch(/without `id` it is new/)
    expect(collection.fields.items.properties.options.properties.onDelete.description).toMatch(/target/)
    expect(collection.rules.description).toMatch(/locked/)
    expect(jsonBodyOf('updateCollection').description).toMatch(/a field left out is dropped/)
    expect(jsonBodyOf('batch').properties.requests.items.properties.body.type).toBe('object')
  })

  it('is still lint-clean for openapi-typescript (Redocly) with every part in', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      await openapiTS(doc as OpenAPI3)
      expect([...warn.mock.calls, ...error.mock.calls]).toEqual([])
    } finally {
      warn.mockRestore()
      error.mockRestore()
    }
  })
})

describe('zodSchema', () => {
  it('describes what a client sends: defaults are optional, coercions take their input', () => {
    const s = z.strictObject({
      a: z.string(),
      b: z.boolean().default(false),
      n: z.coerce.number().int().min(1).max(9),
    })
    expect(zodSchema(s)).toEqual({
      type: 'object',
      properties: {
        a: { type: 'string' },
        b: { type: 'boolean', default: false },
        n: { type: 'integer', minimum: 1, maximum: 9 },
      },
      required: ['a', 'n'],
      additionalProperties: false,
    })
  })

  it('leaves out case-insensitive patterns, which JSON Schema cannot say, and keeps the others', () => {
    const s = z.object({
      mime: z.string().regex(/^image\/png$/i),
      name: z.string().regex(/^[a-z]+$/),
      both: z.string().regex(/^a/).regex(/b$/i),
    })
    expect(zodSchema(s).properties).toEqual({
      mime: { type: 'string' },
      name: { type: 'string', pattern: '^[a-z]+$' },
      both: { type: 'string', allOf: [{ pattern: '^a' }] },
    })
  })
})
