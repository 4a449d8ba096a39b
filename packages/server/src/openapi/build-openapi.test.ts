import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript'
import ts from 'typescript'
import { describe, expect, it, vi } from 'vitest'
import { type Collection, FIELD_TYPES, type Field } from '../core/collections/types.ts'
import { ERROR_CODES } from '../errors/app-error.ts'
import { buildOpenApi } from './build-openapi.ts'
import { docsHtml, docsInitJs, swaggerAssetPath } from './docs-page.ts'

type Obj = Record<string, any>

const FIELD_DEFAULTS = { required: false, unique: false, hidden: false, options: {} }
function field(name: string, type: Field['type'], extra: Partial<Field> = {}): Field {
  return { ...FIELD_DEFAULTS, id: `fld_${name}`, name, type, ...extra }
}
const RULES = { list: '', view: '', create: null, update: null, delete: null }
const LOCKED = { list: null, view: null, create: null, update: null, delete: null }
const T = '2024-01-01T00:00:00.000Z'
function collection(name: string, fields: Field[]): Collection {
  return { id: `col_${name}`, name, fields, indexes: [], rules: RULES, created: T, updated: T }
}

const users = collection('users', [
  field('name', 'text', { required: true, options: { min: 1, max: 100 } }),
  field('email', 'email', { required: true, unique: true }),
  field('website', 'url'),
  field('avatar', 'file', { options: { bucket: 'avatars' } }),
  field('notes', 'text', { hidden: true }),
])
const posts = collection('posts', [
  field('title', 'text', { required: true, options: { min: 3, max: 200, pattern: '^[A-Z]' } }),
  field('body', 'text'),
  field('views', 'number', { required: true, options: { integer: true, min: 0 } }),
  field('rating', 'number', { options: { min: 0, max: 5 } }),
  field('published', 'bool', { required: true }),
  field('published_at', 'date'),
  field('meta', 'json'),
  field('status', 'select', { required: true, options: { values: ['draft', 'published'] } }),
  field('tags', 'select', { options: { values: ['news', 'tech'], multiple: true } }),
  field('author', 'relation', { required: true, options: { collection: 'users', onDelete: 'cascade' } }),
  field('related', 'relation', { options: { collection: 'posts', multiple: true } }),
  field('attachments', 'file', { options: { bucket: 'files', multiple: true } }),
  field('moderation', 'json', { hidden: true }),
])
const blog = collection('blog_posts', [field('headline', 'text', { required: true })])
const sample = [posts, users, blog]
const doc = buildOpenApi({ collections: sample, version: '1.2.3' }) as Obj
const schemas = doc.components.schemas as Obj
const METHODS = ['get', 'post', 'patch', 'put', 'delete'] as const

function operations(d: Obj): { path: string; method: string; op: Obj }[] {
  return Object.entries(d.paths as Obj).flatMap(([p, item]) =>
    METHODS.filter((m) => item[m] !== undefined).map((m) => ({ path: p, method: m, op: item[m] as Obj })),
  )
}
const opById = (id: string): Obj => operations(doc).find((o) => o.op.operationId === id)!.op
const resolve = (pointer: string): unknown =>
  pointer
    .replace(/^#\//, '')
    .split('/')
    .reduce<any>((node, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
const paramNames = (op: Obj): string[] =>
  (op.parameters ?? []).map((p: Obj) => (p.$ref ? (resolve(p.$ref) as Obj).name : p.name))

async function generate(d: Obj): Promise<{ source: string; warnings: unknown[][] }> {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
  const error = vi.spyOn(console, 'error').mockImplementation(() => {})
  try {
    const source = astToString(await openapiTS(d as OpenAPI3))
    return { source, warnings: [...warn.mock.calls, ...error.mock.calls] }
  } finally {
    warn.mockRestore()
    error.mockRestore()
  }
}

describe('buildOpenApi: validity', () => {
  it('passes openapi-typescript (Redocly lint) without errors or warnings and yields the components', async () => {
    const { source, warnings } = await generate(doc)
    expect(warnings).toEqual([])
    const generated = 'PostsRecord PostsCreate PostsUpdate PostsList UsersRecord BlogPostsRecord'.split(' ')
    for (const name of generated) expect(source).toContain(`${name}: {`)
    for (const name of ['Error', 'Collection', 'Field', 'ApiKey', 'ApiKeyWithSecret', 'BatchRequest']) {
      expect(source).toContain(`${name}: `)
    }
    expect(source).toContain('listPostsRecords: {')
  })

  it('generates types an openapi-fetch client can use, and that reject wrong bodies', async () => {
    const { source } = await generate(doc)
    const dir = path.dirname(fileURLToPath(import.meta.url))
    const files = new Map([
      [path.join(dir, '__virtual_schema.ts'), source],
      [
        path.join(dir, '__virtual_check.ts'),
        `import createClient from 'openapi-fetch'
import type { components, paths } from './__virtual_schema.ts'
type S = components['schemas']
export const created: S['PostsCreate'] = {
  title: 'Hello', views: 1, published: true, status: 'draft', author: 'u1', tags: ['news'], body: null,
}
// @ts-expect-error title, views, published, status and author are required
export const missing: S['PostsCreate'] = { body: 'x' }
// @ts-expect-error 'archived' is not an allowed status
export const badEnum: S['PostsUpdate'] = { status: 'archived' }
// @ts-expect-error a required field is not nullable
export const nullTitle: S['PostsUpdate'] = { title: null }
export const patch: S['PostsUpdate'] = { rating: null, $version: 3 }
export const secretOptional: Omit<S['UsersRecord'], 'notes'> extends S['UsersRecord'] ? true : false = true
const client = createClient<paths>({ baseUrl: 'http://localhost:8787' })
export async function use(): Promise<string | undefined> {
  const { data } = await client.GET('/api/collections/posts/records', {
    params: { query: { perPage: 500, filter: "status = 'draft'", count: true } },
  })
  await client.PATCH('/api/collections/posts/records/{id}', {
    params: { path: { id: 'x' }, header: { 'If-Match': '"3"', 'Idempotency-Key': 'k' } },
    body: { title: 'New' },
  })
  const cursor: string | null | undefined = data?.nextCursor
  return data?.items[0]?.title ?? cursor ?? undefined
}
`,
      ],
    ])
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: [],
    }
    const host = ts.createCompilerHost(options)
    const { fileExists, readFile, getSourceFile } = host
    host.fileExists = (f) => files.has(f) || fileExists.call(host, f)
    host.readFile = (f) => files.get(f) ?? readFile.call(host, f)
    host.getSourceFile = (f, lang, ...rest) => {
      const text = files.get(f)
      return text === undefined
        ? getSourceFile.call(host, f, lang, ...rest)
        : ts.createSourceFile(f, text, lang)
    }
    const program = ts.createProgram([...files.keys()].slice(1), options, host)
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    expect(problems).toEqual([])
  }, 60_000)

  it('is JSON-serializable, deterministic in collection order, and not shared between calls', () => {
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc)
    expect(buildOpenApi({ collections: [...sample].reverse(), version: '1.2.3' })).toEqual(doc)
    const first = buildOpenApi({ collections: sample, version: '1' }) as Obj
    first.components.schemas.Error.required.push('oops')
    const second = buildOpenApi({ collections: sample, version: '1' }) as Obj
    expect(second.components.schemas.Error.required).toEqual(['code', 'message', 'status'])
  })

  it('resolves every $ref to an existing component', () => {
    const refs: string[] = []
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk)
      else if (node !== null && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) k === '$ref' ? refs.push(v as string) : walk(v)
      }
    }
    walk(doc)
    expect(refs.length).toBeGreaterThan(50)
    for (const r of refs) {
      expect(r, r).toMatch(/^#\/components\/(schemas|responses|parameters|headers)\/[A-Za-z0-9._-]+$/)
      expect(resolve(r), r).toBeTypeOf('object')
    }
  })
})

describe('buildOpenApi: document', () => {
  it('has the header, the optional bearer security and the servers only when given', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.info).toMatchObject({ title: 'Bastide API', version: '1.2.3' })
    expect(doc.servers).toBeUndefined()
    expect(doc.security).toEqual([{}, { bearerAuth: [] }])
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    const withUrl = buildOpenApi({
      collections: [],
      version: '0',
      serverUrl: 'https://api.example.com/',
    }) as Obj
    expect(withUrl.servers).toEqual([{ url: 'https://api.example.com' }])
  })

  it('gives every operation a unique operationId, including the static ones', () => {
    const ids = operations(doc).map((o) => o.op.operationId as string)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual(
      expect.arrayContaining([
        ...['health', 'batch', 'listCollections', 'createCollection', 'getCollection'],
        ...['updateCollection', 'deleteCollection', 'listApiKeys', 'createApiKey', 'deleteApiKey'],
        ...[
          'listPostsRecords',
          'createPostsRecord',
          'getPostsRecord',
          'updatePostsRecord',
          'deletePostsRecord',
        ],
        ...['listUsersRecords', 'getBlogPostsRecord'],
      ]),
    )
    expect(ids).toHaveLength(10 + 5 * sample.length)
  })

  it('describes the per-collection paths with their bodies and statuses', () => {
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/collections/posts/records',
        '/api/collections/posts/records/{id}',
        '/api/collections/users/records/{id}',
        '/api/collections/blog_posts/records',
      ]),
    )
    const list = doc.paths['/api/collections/posts/records'].get
    expect(list.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/PostsList',
    })
    expect(paramNames(list)).toEqual(
      expect.arrayContaining(['filter', 'sort', 'page', 'perPage', 'after', 'fields', 'expand', 'count']),
    )
    expect(doc.components.parameters.PerPage.schema.maximum).toBe(500)
    const create = opById('createPostsRecord')
    expect(create.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/PostsCreate',
    )
    expect(create.responses['201'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/PostsRecord',
    )
    const update = opById('updatePostsRecord')
    expect(update.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/PostsUpdate',
    )
    expect(paramNames(update)).toEqual(['id', 'If-Match', 'Idempotency-Key'])
    const del = opById('deletePostsRecord')
    expect(del.responses['204']).toBeDefined()
    expect(del.responses['204'].content).toBeUndefined()
    expect(opById('deleteCollection').responses['204']).toBeDefined()
    expect(opById('deleteApiKey').responses['204']).toBeDefined()
    expect(opById('createApiKey').responses['201'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/ApiKeyWithSecret',
    )
  })

  it('documents Idempotency-Key on writes and If-None-Match plus 304 on reads', () => {
    for (const { method, path: p, op } of operations(doc)) {
      if (method === 'get') {
        expect(paramNames(op), p).toContain('If-None-Match')
        expect(op.responses['304'], p).toEqual({ $ref: '#/components/responses/NotModified' })
      } else {
        expect(paramNames(op), `${method} ${p}`).toContain('Idempotency-Key')
        expect(op.responses['422'], `${method} ${p}`).toEqual({
          $ref: '#/components/responses/IdempotencyKeyReused',
        })
      }
    }
  })

  it('answers errors with the shared Error component and the statuses each operation can produce', () => {
    for (const { op } of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses as Obj)) {
        if (Number(status) < 400) continue
        const target = resolve(response.$ref) as Obj
        expect(target.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' })
      }
    }
    const statuses = (id: string) => Object.keys(opById(id).responses)
    expect(statuses('listPostsRecords')).toEqual(['200', '304', '400', '401', '403', '429', '503'])
    expect(statuses('createPostsRecord')).toEqual(
      expect.arrayContaining(['201', '400', '401', '403', '409', '413', '422', '429', '503']),
    )
    expect(statuses('updatePostsRecord')).toEqual(expect.arrayContaining(['404', '409', '412', '413', '422']))
    expect(statuses('getPostsRecord')).toContain('404')
    expect(statuses('listPostsRecords')).not.toContain('409')
    expect(doc.components.responses.RateLimited.headers['Retry-After']).toBeDefined()
    expect(doc.components.responses.Unavailable.headers['Retry-After']).toBeDefined()
    expect(schemas.Error.properties.code.enum).toEqual(Object.keys(ERROR_CODES))
    expect(schemas.Error.required).toEqual(['code', 'message', 'status'])
  })

  it('models collections, fields and API keys like the admin API', () => {
    expect(schemas.Field.properties.type.enum).toEqual([...FIELD_TYPES])
    expect(schemas.FieldOptions.properties.onDelete.enum).toEqual(['cascade', 'set_null', 'restrict'])
    expect(schemas.Rules.properties.delete.type).toEqual(['string', 'null'])
    expect(schemas.ApiKey.required).toEqual([
      'id',
      'name',
      'prefix',
      'scopes',
      'created',
      'lastUsed',
      'expires',
    ])
    expect(schemas.ApiKey.properties.lastUsed.type).toEqual(['string', 'null'])
    expect(schemas.ApiKeyInput.required).toEqual(['name', 'scopes'])
    expect(schemas.CollectionItems.properties.items.items.$ref).toBe('#/components/schemas/Collection')
    const batchItem = schemas.BatchRequest.properties.requests.items
    expect(batchItem.properties.method.enum).toEqual(['POST', 'PATCH', 'DELETE'])
    expect(batchItem.properties.headers.properties['If-Match']).toEqual({ type: 'string' })
  })
})

describe('buildOpenApi: record schemas', () => {
  const record = schemas.PostsRecord
  const p = record.properties

  it('lists system fields and every non-hidden field as required; hidden ones are documented as admin-only', () => {
    expect(record.required).toEqual([
      ...['id', 'created', 'updated', 'version', 'title', 'body', 'views', 'rating', 'published'],
      ...['published_at', 'meta', 'status', 'tags', 'author', 'related', 'attachments'],
    ])
    expect(record.required).not.toContain('moderation')
    expect(p.moderation.description).toMatch(/admin-only/i)
    expect(schemas.UsersRecord.required).not.toContain('notes')
    expect(p.id).toMatchObject({ type: 'string', format: 'uuid' })
    expect(p.created).toMatchObject({ type: 'string', format: 'date-time' })
    expect(p.version.type).toBe('integer')
  })

  it('maps each field type, making optional fields nullable', () => {
    expect(p.title).toEqual({ type: 'string', minLength: 3, maxLength: 200, pattern: '^[A-Z]' })
    expect(p.body).toEqual({ type: ['string', 'null'] })
    expect(p.views).toEqual({ type: 'integer', minimum: 0 })
    expect(p.rating).toEqual({ type: ['number', 'null'], minimum: 0, maximum: 5 })
    expect(p.published).toEqual({ type: 'boolean' })
    expect(p.published_at).toEqual({ type: ['string', 'null'], format: 'date-time' })
    expect(p.meta).toEqual({})
    expect(p.status).toEqual({ type: 'string', enum: ['draft', 'published'] })
    expect(p.tags).toEqual({ type: ['array', 'null'], items: { type: 'string', enum: ['news', 'tech'] } })
    expect(p.author).toMatchObject({ type: 'string', format: 'uuid' })
    expect(p.related).toMatchObject({ type: ['array', 'null'], items: { type: 'string', format: 'uuid' } })
    expect(p.attachments).toMatchObject({ type: ['array', 'null'], items: { type: 'string' } })
    const u = schemas.UsersRecord.properties
    expect(u.email).toMatchObject({ type: 'string', format: 'email' })
    expect(u.website).toEqual({ type: ['string', 'null'], format: 'uri' })
    expect(u.avatar).toMatchObject({ type: ['string', 'null'] })
    expect(u.name).toEqual({ type: 'string', minLength: 1, maxLength: 100 })
  })

  it('adds null to the enum of an optional single select', () => {
    const optional = collection('things', [field('kind', 'select', { options: { values: ['a', 'b'] } })])
    const d = buildOpenApi({ collections: [optional], version: '0' }) as Obj
    expect(d.components.schemas.ThingsRecord.properties.kind).toEqual({
      type: ['string', 'null'],
      enum: ['a', 'b', null],
    })
  })

  it('types expand with the related records of described collections', () => {
    expect(p.expand.properties.author).toEqual({ $ref: '#/components/schemas/UsersRecord' })
    expect(p.expand.properties.related).toEqual({
      type: 'array',
      items: { $ref: '#/components/schemas/PostsRecord' },
    })
    expect(record.required).not.toContain('expand')
  })

  it('requires exactly the required fields on create, nothing on update, and accepts a client id and $version', () => {
    expect(schemas.PostsCreate.required).toEqual(['title', 'views', 'published', 'status', 'author'])
    expect(schemas.PostsCreate.properties.id).toMatchObject({ type: 'string', format: 'uuid' })
    expect(schemas.PostsCreate.properties.moderation).toBeDefined()
    expect(schemas.PostsUpdate.required).toBeUndefined()
    expect(schemas.PostsUpdate.properties.$version).toMatchObject({ type: 'integer' })
    expect(schemas.PostsUpdate.properties.id).toBeUndefined()
    expect(schemas.PostsList.required).toEqual(['items', 'page', 'perPage', 'nextCursor'])
    expect(schemas.PostsList.properties.nextCursor.type).toEqual(['string', 'null'])
    expect(schemas.PostsList.properties.items.items.$ref).toBe('#/components/schemas/PostsRecord')
  })

  it('derives distinct component names when two collection names PascalCase alike', () => {
    const d = buildOpenApi({
      collections: [collection('blog_posts', []), collection('blogPosts', [])],
      version: '0',
    }) as Obj
    expect(Object.keys(d.components.schemas)).toEqual(
      expect.arrayContaining(['BlogPostsRecord', 'BlogPosts2Record', 'BlogPostsCreate', 'BlogPosts2List']),
    )
    expect(d.paths['/api/collections/blogPosts/records'].get.operationId).toBe('listBlogPostsRecords')
    expect(d.paths['/api/collections/blog_posts/records'].get.operationId).toBe('listBlogPosts2Records')
  })
})

describe('buildOpenApi: the public document', () => {
  // Locked for every action, and related to from a public collection.
  const vault = { ...collection('vault', [field('secret', 'text')]), rules: LOCKED }
  const notes = {
    ...collection('notes', [
      field('text', 'text', { required: true }),
      field('pin', 'text', { hidden: true, required: true }),
      field('vault', 'relation', { options: { collection: 'vault' } }),
      field('owner', 'relation', { options: { collection: 'users' } }),
    ]),
    rules: { list: null, view: '', create: "@request.auth.id != ''", update: null, delete: '' },
  }
  const storage = {
    paths: {
      '/api/things': {
        get: { operationId: 'listThings', tags: ['Things'], responses: { '200': { description: 'OK.' } } },
      },
      '/api/things/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        delete: {
          operationId: 'dropThing',
          tags: ['Things'],
          responses: { '204': { description: 'Done.' } },
        },
      },
      '/api/widgets': {
        post: {
          operationId: 'makeWidget',
          tags: ['Widgets'],
          requestBody: {
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Widget' } } },
          },
          responses: { '201': { description: 'Created.' } },
        },
      },
    },
    schemas: {
      Widget: { type: 'object', properties: { part: { $ref: '#/components/schemas/Part' } } },
      Part: {},
    },
    tags: [{ name: 'Things' }, { name: 'Widgets' }],
    adminOnly: ['dropThing', 'makeWidget'],
  }
  const consoleAuth = {
    paths: {
      '/api/admin/auth/sign-in/email': { post: { operationId: 'adminSignIn', tags: ['Console auth'] } },
    },
    schemas: { AdminSession: {} },
    tags: [{ name: 'Console auth' }],
  }
  const input = { collections: [...sample, vault, notes], version: '1', parts: [storage, consoleAuth] }
  const pub = buildOpenApi({ ...input, audience: 'public' }) as Obj
  const full = buildOpenApi(input) as Obj
  const ids = (d: Obj) => operations(d).map((o) => o.op.operationId as string)

  it('is the full document when no audience is given', () => {
    expect(buildOpenApi({ ...input, audience: 'full' })).toEqual(full)
    expect(ids(full)).toEqual(expect.arrayContaining(['listVaultRecords', 'createNotesRecord', 'makeWidget']))
    expect(full.components.schemas.NotesRecord.properties.pin).toBeDefined()
  })

  it('leaves out a collection locked for every action, down to its name', () => {
    expect(Object.keys(pub.paths).filter((p) => p.includes('vault'))).toEqual([])
    expect(pub.tags.map((t: Obj) => t.name)).not.toContain('Records: vault')
    expect(pub.components.schemas.VaultRecord).toBeUndefined()
    // The relation to it stays (the value is readable) but neither names nor types its target.
    const rel = pub.components.schemas.NotesRecord.properties.vault
    expect(rel).toEqual({ type: ['string', 'null'], format: 'uuid', description: 'ID of a related record.' })
    expect(pub.components.schemas.NotesRecord.properties.expand.properties.vault).toBeUndefined()
    expect(JSON.stringify(pub)).not.toMatch(/vault`|Vault/)
  })

  it('describes only the actions whose rule is not null', () => {
    const notesIds = ids(pub).filter((id) => /Notes/.test(id))
    expect(notesIds.sort()).toEqual(['createNotesRecord', 'deleteNotesRecord', 'getNotesRecord'])
    expect(pub.paths['/api/collections/notes/records'].get).toBeUndefined()
    // posts: list and view only (RULES), so its item path keeps get alone.
    expect(Object.keys(pub.paths['/api/collections/posts/records/{id}'])).toEqual(['get'])
    expect(pub.paths['/api/collections/posts/records'].post).toBeUndefined()
  })

  it('never shows hidden fields, in any schema', () => {
    for (const name of ['NotesRecord', 'NotesCreate', 'PostsRecord', 'UsersRecord']) {
      const props = pub.components.schemas[name].properties
      expect(props.pin ?? props.moderation ?? props.notes, name).toBeUndefined()
    }
    expect(pub.components.schemas.NotesCreate.required).toEqual(['text'])
    // No update operation is described, so neither is its body.
    expect(pub.components.schemas.NotesUpdate).toBeUndefined()
    expect(JSON.stringify(pub)).not.toMatch(/admin-only/i)
  })

  it("leaves out schema administration, keys, the console's API and the parts' admin-only operations", () => {
    for (const id of ['listCollections', 'createCollection', 'listApiKeys', 'adminSignIn']) {
      expect(ids(pub)).not.toContain(id)
    }
    expect(ids(pub)).toEqual(expect.arrayContaining(['health', 'batch', 'listThings']))
    // A path whose every operation is left out goes, shared parameters and all; so do empty tags.
    expect(pub.paths['/api/things/{id}']).toBeUndefined()
    expect(pub.paths['/api/widgets']).toBeUndefined()
    expect(pub.tags.map((t: Obj) => t.name)).toEqual([
      'Health',
      'Batch',
      ...['Records: blog_posts', 'Records: notes', 'Records: posts', 'Records: users'],
      'Things',
    ])
    // Schemas only the left-out operations used go too; referenced ones (and what they reference) stay.
    for (const name of ['Collection', 'ApiKey', 'Widget', 'Part', 'AdminSession']) {
      expect(pub.components.schemas[name], name).toBeUndefined()
    }
    expect(Object.keys(pub.components.schemas)).toEqual(
      expect.arrayContaining(['Error', 'Health', 'BatchRequest', 'NotesCreate', 'PostsList']),
    )
  })

  it('is a valid document: lint-clean, every reference resolved', async () => {
    expect((await generate(pub)).warnings).toEqual([])
    const refs = JSON.stringify(pub).match(/#\/components\/[a-z]+\/[A-Za-z0-9._-]+/g) ?? []
    for (const r of refs) {
      const [, , kind, name] = r.split('/')
      expect(pub.components[kind!][name!], r).toBeDefined()
    }
  })
})

describe('docs page', () => {
  it('serves only the allowed Swagger UI files from the installed package', () => {
    for (const file of [
      'swagger-ui.css',
      'swagger-ui-bundle.js',
      'swagger-ui-standalone-preset.js',
      'favicon-32x32.png',
    ]) {
      const resolved = swaggerAssetPath(file)
      expect(resolved).toMatch(new RegExp(`swagger-ui-dist[\\\\/]${file.replace(/\./g, '\\.')}$`))
      expect(existsSync(resolved!)).toBe(true)
    }
    for (const bad of [
      '../package.json',
      'index.html',
      '/etc/passwd',
      'swagger-ui.css/../x',
      'toString',
      '',
    ]) {
      expect(swaggerAssetPath(bad), bad).toBeUndefined()
    }
  })

  it('loads its assets and init script from our server, with no inline script', () => {
    const html = docsHtml('/api/openapi.json', '/api/docs/assets')
    expect(html).toContain('<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">')
    expect(html).toContain('<script src="/api/docs/assets/swagger-ui-bundle.js"></script>')
    expect(html).toContain('<script src="/api/docs/assets/init.js"></script>')
    expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull()
    expect(html).not.toMatch(/https?:\/\//)
    // The document's URL reaches the script through an escaped attribute, never through script text.
    expect(docsHtml('/api/openapi.json?x="<b>', '/a')).toContain(
      'data-spec-url="/api/openapi.json?x=&#34;&#60;b&#62;"',
    )
    const js = docsInitJs()
    expect(js).toContain("dom_id: '#swagger-ui'")
    expect(js).toContain("docExpansion: 'none'")
  })
})
