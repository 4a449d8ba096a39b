import type { Collection, RuleAction } from '../core/collections/types.ts'
import { listQuery } from '../http/routes/records.ts'
import type { OpenApiPart } from './auth-paths.ts'
import {
  type OpenApiAudience,
  publicAction,
  publicCollection,
  publicPaths,
  reachableSchemas,
  usedTags,
} from './public-view.ts'
import {
  assignNames,
  type CollectionNames,
  collectionSchemas,
  type Schema,
  STATIC_SCHEMAS,
  schemaRef,
} from './record-schemas.ts'
import { zodQueryParameter } from './zod-schema.ts'

export interface BuildOpenApiInput {
  readonly collections: readonly Collection[]
  readonly version: string
  /** The externally visible base URL (BASTIDE_PUBLIC_URL); without it clients use the page's origin. */
  readonly serverUrl?: string
  /** Generated elsewhere and merged in (better-auth's endpoints at /api/auth and /api/admin/auth). */
  readonly parts?: readonly OpenApiPart[]
  /** Who reads it (see public-view.ts); `full` unless told. */
  readonly audience?: OpenApiAudience
}

type Obj = Record<string, unknown>

const ref = (kind: 'responses' | 'parameters' | 'headers', name: string): Obj => ({
  $ref: `#/components/${kind}/${name}`,
})
const param = (name: string): Obj => ref('parameters', name)
const json = (schema: Schema): Obj => ({ 'application/json': { schema } })

/** Error responses, by component name: status and when it happens. */
const ERROR_RESPONSES = {
  BadRequest: [
    400,
    'VALIDATION_FAILED (per-field `details.fields`), INVALID_FILTER (with the position), INVALID_CURSOR, INVALID_SCHEMA or BAD_REQUEST.',
  ],
  Unauthorized: [401, 'UNAUTHORIZED: the credential is missing, expired or invalid.'],
  Forbidden: [403, 'FORBIDDEN: the caller may not do this (a missing scope, or a failed create rule).'],
  NotFound: [404, 'NOT_FOUND: it does not exist, or the view/update/delete rule hides it.'],
  Conflict: [
    409,
    'CONFLICT (a unique value is taken, or other records still reference it) or VERSION_MISMATCH (`details.currentVersion`).',
  ],
  PreconditionFailed: [412, 'PRECONDITION_FAILED: the `If-Match` header is not a valid version.'],
  PayloadTooLarge: [413, 'PAYLOAD_TOO_LARGE: the body exceeds the limit (`details.limit`, in bytes).'],
  UnsupportedMediaType: [415, 'UNSUPPORTED_MEDIA_TYPE: send `application/json`.'],
  IdempotencyKeyReused: [422, 'IDEMPOTENCY_KEY_REUSED: this `Idempotency-Key` came with another request.'],
  RateLimited: [429, 'RATE_LIMITED: slow down; retry after `Retry-After` seconds.'],
  Unavailable: [503, 'UNAVAILABLE: the database is unreachable; retry after `Retry-After` seconds.'],
} as const satisfies Record<string, readonly [number, string]>
type ErrorResponse = keyof typeof ERROR_RESPONSES

function responseComponents(): Obj {
  const out: Obj = {}
  for (const [name, [status, description]] of Object.entries(ERROR_RESPONSES)) {
    const headers: Obj = { 'X-Request-Id': ref('headers', 'XRequestId') }
    if (status === 429 || status === 503) headers['Retry-After'] = ref('headers', 'RetryAfter')
    out[name] = { description, headers, content: json(schemaRef('Error')) }
  }
  out.NotModified = {
    description: 'Not modified: the `If-None-Match` ETag still matches.',
    headers: { ETag: ref('headers', 'ETag'), 'X-Request-Id': ref('headers', 'XRequestId') },
  }
  return out
}

/** Which errors an operation can answer follows from how it touches data. */
type OpKind = 'read' | 'write' | 'delete'
const COMMON_ERRORS: readonly ErrorResponse[] = ['Unauthorized', 'Forbidden', 'RateLimited', 'Unavailable']
const ERRORS_BY_KIND: Record<OpKind, readonly ErrorResponse[]> = {
  read: ['BadRequest'],
  // Idempotency-Key replays are checked before any handler runs, so every write may answer 422.
  write: ['BadRequest', 'Conflict', 'PayloadTooLarge', 'UnsupportedMediaType', 'IdempotencyKeyReused'],
  delete: ['Conflict', 'IdempotencyKeyReused'],
}

interface OpSpec {
  readonly id: string
  readonly summary: string
  readonly tag: string
  readonly kind: OpKind
  readonly description?: string
  /** Addresses one existing thing, so it may answer 404. */
  readonly item?: boolean
  readonly params?: readonly Obj[]
  readonly body?: Schema
  /** No result means 204. */
  readonly result?: Schema
  readonly created?: boolean
  readonly extraErrors?: readonly ErrorResponse[]
}

const readHeaders = (): Obj => ({
  'X-Request-Id': ref('headers', 'XRequestId'),
  ETag: ref('headers', 'ETag'),
})

function operation(spec: OpSpec): Obj {
  const read = spec.kind === 'read'
  const params = [...(spec.params ?? []), param(read ? 'IfNoneMatch' : 'IdempotencyKey')]
  const headers = read ? readHeaders() : { 'X-Request-Id': ref('headers', 'XRequestId') }
  const status = spec.result === undefined ? '204' : spec.created === true ? '201' : '200'
  const success: Obj = { description: { '200': 'OK.', '201': 'Created.', '204': 'Done.' }[status], headers }
  if (spec.result !== undefined) success.content = json(spec.result)

  const responses: Obj = { [status]: success }
  if (read) responses['304'] = ref('responses', 'NotModified')
  const errors = new Set<ErrorResponse>([
    ...ERRORS_BY_KIND[spec.kind],
    ...COMMON_ERRORS,
    ...(spec.item === true ? (['NotFound'] as const) : []),
    ...(spec.extraErrors ?? []),
  ])
  for (const name of [...errors].sort((a, b) => ERROR_RESPONSES[a][0] - ERROR_RESPONSES[b][0])) {
    responses[String(ERROR_RESPONSES[name][0])] = ref('responses', name)
  }

  return {
    operationId: spec.id,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.description === undefined ? {} : { description: spec.description }),
    parameters: params,
    ...(spec.body === undefined ? {} : { requestBody: { required: true, content: json(spec.body) } }),
    responses,
  }
}

const optional =
  (where: 'query' | 'header') =>
  (name: string, schema: Schema, description: string): Obj => ({
    name,
    in: where,
    required: false,
    description,
    schema,
  })
const query = optional('query')
const header = optional('header')
const pathParam = (name: string, schema: Schema): Obj => ({ name, in: 'path', required: true, schema })

const PARAMETERS: Obj = {
  IdempotencyKey: header(
    'Idempotency-Key',
    { type: 'string', format: 'uuid' },
    'A retry with the same key and body gets the stored response; the same key with another body gets 422.',
  ),
  IfNoneMatch: header('If-None-Match', { type: 'string' }, 'An earlier ETag; answers 304 when unchanged.'),
  IfMatch: header(
    'If-Match',
    { type: 'string' },
    'The version you read, quoted (`"3"`); fails with 409 VERSION_MISMATCH when the record has moved on.',
  ),
  CollectionName: pathParam('name', { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]*$' }),
  RecordId: pathParam('id', { type: 'string', format: 'uuid' }),
  KeyId: pathParam('id', { type: 'string' }),
  // The records routes' query schema (http/routes/records.ts); `fields` and `expand` are shared by get.
  Filter: zodQueryParameter(listQuery, 'filter'),
  Sort: zodQueryParameter(listQuery, 'sort'),
  // page, perPage and count arrive as text that the route decodes (`^\d{1,7}$`, `true|1`...); the document
  // types the decoded values, which is what clients generated from it send, and the limits the service sets.
  Page: query('page', { type: 'integer', minimum: 1, default: 1 }, 'Page number (offset pagination).'),
  PerPage: query('perPage', { type: 'integer', minimum: 1, maximum: 500, default: 20 }, 'At most 500.'),
  After: zodQueryParameter(listQuery, 'after'),
  Fields: zodQueryParameter(listQuery, 'fields'),
  Expand: zodQueryParameter(listQuery, 'expand'),
  Count: query(
    'count',
    { type: 'boolean', default: false },
    'Also return `totalItems` and `totalPages` (costs a query).',
  ),
}

const HEADERS: Obj = {
  XRequestId: { description: 'Identifies the request in the server logs.', schema: { type: 'string' } },
  ETag: {
    description: 'Send it back in `If-None-Match` to get 304 when unchanged.',
    schema: { type: 'string' },
  },
  RetryAfter: { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
}

/** A list/create path and a get/update/delete item path; operations whose id is left out are omitted. */
interface CrudSpec {
  readonly path: string
  /** The item path's parameter name and its component. */
  readonly itemParam: readonly [string, string]
  readonly tag: string
  /** For summaries, singular and plural: ['a collection', 'collections']. */
  readonly noun: readonly [string, string]
  readonly ids: { list?: string; create?: string; get?: string; update?: string; delete?: string }
  readonly schemas: { list?: string; create?: string; update?: string; item: string }
  readonly listParams?: readonly Obj[]
  readonly getParams?: readonly Obj[]
  readonly updateParams?: readonly Obj[]
  readonly updateErrors?: readonly ErrorResponse[]
  readonly createResult?: string
  readonly createDescription?: string
}

function crud(s: CrudSpec): Obj {
  const { tag, ids } = s
  const [noun, nouns] = s.noun
  const ofItem = { tag, item: true }
  const item = schemaRef(s.schemas.item)
  const itemParam = param(s.itemParam[1])
  const coll: Obj = {}
  const one: Obj = {}
  if (ids.list !== undefined && s.schemas.list !== undefined) {
    const result = schemaRef(s.schemas.list)
    coll.get = operation({
      id: ids.list,
      summary: `List ${nouns}`,
      tag,
      kind: 'read',
      params: s.listParams,
      result,
    })
  }
  if (ids.create !== undefined && s.schemas.create !== undefined) {
    coll.post = operation({
      id: ids.create,
      summary: `Create ${noun}`,
      tag,
      kind: 'write',
      body: schemaRef(s.schemas.create),
      result: schemaRef(s.createResult ?? s.schemas.item),
      created: true,
      description: s.createDescription,
    })
  }
  if (ids.get !== undefined) {
    const params = [itemParam, ...(s.getParams ?? [])]
    one.get = operation({
      ...ofItem,
      id: ids.get,
      summary: `Get ${noun}`,
      kind: 'read',
      params,
      result: item,
    })
  }
  if (ids.update !== undefined && s.schemas.update !== undefined) {
    one.patch = operation({
      ...ofItem,
      id: ids.update,
      summary: `Update ${noun}`,
      kind: 'write',
      params: [itemParam, ...(s.updateParams ?? [])],
      body: schemaRef(s.schemas.update),
      result: item,
      extraErrors: s.updateErrors,
    })
  }
  if (ids.delete !== undefined) {
    one.delete = operation({
      ...ofItem,
      id: ids.delete,
      summary: `Delete ${noun}`,
      kind: 'delete',
      params: [itemParam],
    })
  }
  return {
    ...(Object.keys(coll).length > 0 ? { [s.path]: coll } : {}),
    ...(Object.keys(one).length > 0 ? { [`${s.path}/{${s.itemParam[0]}}`]: one } : {}),
  }
}

/** `allowed` says which actions to describe (the public document leaves out locked ones). */
function recordPaths(
  c: Collection,
  n: CollectionNames,
  tag: string,
  allowed: (a: RuleAction) => boolean,
): Obj {
  const base = n.base
  const id = (action: RuleAction, name: string) => (allowed(action) ? name : undefined)
  return crud({
    path: `/api/collections/${c.name}/records`,
    itemParam: ['id', 'RecordId'],
    tag,
    noun: [`a ${c.name} record`, `${c.name} records`],
    ids: {
      list: id('list', `list${base}Records`),
      create: id('create', `create${base}Record`),
      get: id('view', `get${base}Record`),
      update: id('update', `update${base}Record`),
      delete: id('delete', `delete${base}Record`),
    },
    schemas: { list: n.list, create: n.create, update: n.update, item: n.record },
    listParams: ['Filter', 'Sort', 'Page', 'PerPage', 'After', 'Fields', 'Expand', 'Count'].map(param),
    getParams: [param('Fields'), param('Expand')],
    updateParams: [param('IfMatch')],
    updateErrors: ['PreconditionFailed'],
  })
}

const STATIC_TAGS = [
  { name: 'Health', description: 'Liveness and version.' },
  { name: 'Collections', description: 'Schema administration: console admins and API keys with `schema`.' },
  { name: 'API keys', description: 'Secret API keys, shown once at creation and stored hashed.' },
  { name: 'Batch', description: 'Several writes in one transaction: all succeed or none.' },
]

/** Schema administration needs the `schema` scope: not in the public document. */
const SCHEMA_OPERATIONS = [
  'listCollections',
  'createCollection',
  'getCollection',
  'updateCollection',
  'deleteCollection',
]

function staticPaths(): Obj {
  // Not built by operation(): health is public and answers no client errors.
  const health = {
    operationId: 'health',
    summary: 'Health check',
    tags: ['Health'],
    parameters: [param('IfNoneMatch')],
    responses: {
      '200': { description: 'Up.', headers: readHeaders(), content: json(schemaRef('Health')) },
      '304': ref('responses', 'NotModified'),
      '503': ref('responses', 'Unavailable'),
    },
  }
  const batch = operation({
    id: 'batch',
    summary: 'Run writes in one transaction',
    tag: 'Batch',
    kind: 'write',
    description: 'All requests succeed or none; the first failure answers with its own error.',
    body: schemaRef('BatchRequest'),
    result: schemaRef('BatchResponse'),
    extraErrors: ['NotFound', 'PreconditionFailed'],
  })
  return {
    '/api/health': { get: health },
    ...crud({
      path: '/api/collections',
      itemParam: ['name', 'CollectionName'],
      tag: 'Collections',
      noun: ['a collection', 'collections'],
      ids: {
        list: 'listCollections',
        create: 'createCollection',
        get: 'getCollection',
        update: 'updateCollection',
        delete: 'deleteCollection',
      },
      schemas: {
        list: 'CollectionItems',
        create: 'CollectionInput',
        update: 'CollectionPatch',
        item: 'Collection',
      },
    }),
    ...crud({
      path: '/api/admin/keys',
      itemParam: ['id', 'KeyId'],
      tag: 'API keys',
      noun: ['an API key', 'API keys'],
      ids: { list: 'listApiKeys', create: 'createApiKey', delete: 'deleteApiKey' },
      schemas: { list: 'ApiKeyItems', create: 'ApiKeyInput', item: 'ApiKey' },
      createResult: 'ApiKeyWithSecret',
      createDescription: 'The response holds the secret `key`; it is shown only this once.',
    }),
    '/api/batch': { post: batch },
  }
}

const DESCRIPTION =
  'Send `Authorization: Bearer <token>` (an access JWT, a session token or a secret API key `bst_sk_...`); without it a request is anonymous and only public rules let it through. Errors are `{code, message, status, details?}`. Writes accept `Idempotency-Key`.'
const PUBLIC_NOTE =
  ' This is the public document: only the operations whose rules let non-admins in, without hidden fields. Console admins and API keys with the `schema` scope get the full one.'

/**
 * The OpenAPI 3.1 document of the live API. The public audience gets only what it may call (see
 * public-view.ts); both are generated from the same code, so they never disagree on what they share.
 */
export function buildOpenApi(input: BuildOpenApiInput): Record<string, unknown> {
  const full = input.audience !== 'public'
  const collections = full ? input.collections : input.collections.flatMap((c) => publicCollection(c) ?? [])
  // Named among the collections described, so a relation to a left-out one stays untyped and unnamed.
  const names = assignNames(collections)
  let schemas: Record<string, Schema> = { ...STATIC_SCHEMAS }
  let paths = staticPaths()
  let tags: Obj[] = [...STATIC_TAGS]
  const sorted = [...collections].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const c of sorted) {
    const n = names.get(c.name)
    if (n === undefined) continue
    const tag = `Records: ${c.name}`
    tags.push({ name: tag, description: `Records of the \`${c.name}\` collection.` })
    Object.assign(schemas, collectionSchemas(c, names))
    Object.assign(
      paths,
      recordPaths(c, n, tag, (a) => full || publicAction(c, a)),
    )
  }
  const adminOnly = new Set<string>(SCHEMA_OPERATIONS)
  for (const part of input.parts ?? []) {
    tags.push(...part.tags)
    Object.assign(schemas, part.schemas)
    Object.assign(paths, part.paths)
    for (const id of part.adminOnly ?? []) adminOnly.add(id)
  }
  const responses = responseComponents()
  if (!full) {
    paths = publicPaths(paths, adminOnly)
    tags = usedTags(tags, paths)
    schemas = reachableSchemas(schemas, [paths, responses, PARAMETERS, HEADERS]) as Record<string, Schema>
  }

  const doc: Record<string, unknown> = {
    openapi: '3.1.0',
    info: {
      title: 'Bastide API',
      version: input.version,
      description: full ? DESCRIPTION : DESCRIPTION + PUBLIC_NOTE,
    },
  }
  if (input.serverUrl !== undefined && input.serverUrl !== '') {
    // Paths already start with /api, so a trailing slash would double it.
    doc.servers = [{ url: input.serverUrl.replace(/\/+$/, '') || '/' }]
  }
  // `{}` first: anonymous calls are legitimate (public rules), so the credential is optional.
  doc.security = [{}, { bearerAuth: [] }]
  doc.tags = tags
  doc.paths = paths
  doc.components = {
    schemas,
    responses,
    parameters: PARAMETERS,
    headers: HEADERS,
    securitySchemes: {
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        description: "A user's access JWT or session token, or a secret API key (`bst_sk_...`).",
      },
    },
  }
  // The constants above are shared between calls; a caller mutating its document must not change them.
  return structuredClone(doc)
}
