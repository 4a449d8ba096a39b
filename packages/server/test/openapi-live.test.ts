import createClient from 'openapi-fetch'
import openapiTS, { astToString } from 'openapi-typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createCollection,
  createKey,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

let s: TestServer
beforeAll(async () => {
  s = await startTestServer({ listen: true })
  await createCollection(s, {
    name: 'authors',
    fields: [{ name: 'name', type: 'text', required: true }],
    rules: { list: '', view: '', create: '' },
  })
  await createCollection(s, {
    name: 'books',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'pages', type: 'number', options: { integer: true } },
      { name: 'author', type: 'relation', options: { collection: 'authors' } },
    ],
    rules: { list: '', view: '', create: '', update: '' },
  })
  // Locked for every action: admins and keys only.
  await createCollection(s, { name: 'ledger', fields: [{ name: 'amount', type: 'number' }] })
  // Readable by anyone, written only by admins, with a field only admins see.
  await createCollection(s, {
    name: 'staff',
    fields: [
      { name: 'name', type: 'text', required: true },
      { name: 'salary', type: 'number', hidden: true },
      { name: 'audit', type: 'relation', options: { collection: 'ledger' } },
    ],
    rules: { list: '', view: '' },
  })
})
afterAll(() => s?.close())

const openapi = async (as: string) => {
  const r = await s.api('GET', '/api/openapi.json', undefined, { as })
  expect(r.status).toBe(200)
  return r
}
const operationIds = (doc: any): string[] =>
  Object.values<any>(doc.paths).flatMap((item) =>
    Object.entries<any>(item)
      .filter(([m]) => m !== 'parameters')
      .map(([, op]) => op.operationId),
  )

describe('OpenAPI per caller', () => {
  it('shows anonymous callers only what their rules let them call: no locked collection, no hidden field', async () => {
    const doc = (await openapi('anon')).body
    const text = JSON.stringify(doc)
    // A collection locked for every action is absent, down to its name.
    expect(Object.keys(doc.paths).filter((p) => p.includes('ledger'))).toEqual([])
    expect(doc.components.schemas.LedgerRecord).toBeUndefined()
    expect(text).not.toContain('ledger')
    // Hidden fields are absent from every schema of their collection.
    expect(doc.components.schemas.StaffRecord.properties.name).toBeDefined()
    for (const name of ['StaffRecord', 'StaffCreate', 'StaffUpdate'])
      expect(doc.components.schemas[name]?.properties?.salary, name).toBeUndefined()
    expect(text).not.toContain('salary')
    // Only the actions whose rule is not null.
    const ids = operationIds(doc)
    expect(ids).toEqual(expect.arrayContaining(['listStaffRecords', 'getStaffRecord', 'createAuthorsRecord']))
    for (const id of ['createStaffRecord', 'updateStaffRecord', 'deleteStaffRecord', 'deleteBooksRecord'])
      expect(ids).not.toContain(id)
    expect(doc.paths['/api/collections/staff/records'].post).toBeUndefined()
    // Schema administration, keys, bucket and channel management, the console's own auth: admins only.
    for (const id of ['listCollections', 'createApiKey', 'createBucket', 'listChannelDefinitions'])
      expect(ids).not.toContain(id)
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/api/admin/'))).toEqual([])
    expect(doc.tags.map((t: any) => t.name)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^(Collections|API keys|Console auth|Realtime)$/)]),
    )
    // What stays is what a client of the public API calls.
    expect(ids).toEqual(
      expect.arrayContaining(['health', 'batch', 'authSignInEmail', 'uploadObject', 'listBooksRecords']),
    )
    // Still a valid document, every reference resolved.
    const refs = text.match(/#\/components\/schemas\/[A-Za-z0-9_.-]+/g) ?? []
    for (const r of new Set(refs)) expect(doc.components.schemas[r.split('/').pop()!], r).toBeDefined()
    expect(astToString(await openapiTS(doc))).toContain('StaffRecord')
  })

  it('gives admins and keys with the schema scope the full document', async () => {
    const doc = (await openapi('admin')).body
    expect(doc.paths['/api/collections/ledger/records']).toBeDefined()
    expect(doc.components.schemas.LedgerRecord).toBeDefined()
    expect(doc.components.schemas.StaffRecord.properties.salary).toBeDefined()
    expect(doc.components.schemas.StaffCreate.properties.salary).toBeDefined()
    expect(operationIds(doc)).toEqual(
      expect.arrayContaining(['createStaffRecord', 'listCollections', 'createApiKey', 'createBucket']),
    )
    const schemaKey = await createKey(s, ['schema'])
    expect((await openapi(schemaKey)).body).toEqual(doc)
  })

  it('is one document per audience, whoever asks: users and other keys get the public one', async () => {
    const anon = await openapi('anon')
    const admin = await openapi('admin')
    expect(admin.body).not.toEqual(anon.body)
    const user = await signUp(s, 'reader@example.com')
    expect((await openapi(user.token)).body).toEqual(anon.body)
    expect((await openapi(user.jwt)).body).toEqual(anon.body)
    expect((await openapi(await createKey(s, ['records:read', 'records:write']))).body).toEqual(anon.body)
    // A shared cache must not hand one caller's document to another.
    expect(anon.headers.get('vary')).toMatch(/authorization/i)
    expect((await openapi('anon')).body).toEqual(anon.body)
  })
})

describe('OpenAPI from the live collections', () => {
  it('documents each collection and regenerates after a schema change', async () => {
    const doc = (await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })).body
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/collections/books/records', '/api/collections/books/records/{id}']),
    )
    expect(doc.components.schemas.BooksRecord.properties.pages.type).toEqual(['integer', 'null'])
    // The generator accepts it (it validates the document while generating types).
    const ts = astToString(await openapiTS(doc))
    expect(ts).toContain('BooksRecord')
    await createCollection(s, {
      name: 'shelves',
      fields: [{ name: 'label', type: 'text' }],
      rules: { list: '' },
    })
    const again = (await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })).body
    expect(again.components.schemas.ShelvesRecord).toBeDefined()
    expect((await s.api('GET', '/api/openapi.json')).body.components.schemas.ShelvesRecord).toBeDefined()
  })

  it('documents both auth mounts, every enabled method, in the same (full) document', async () => {
    const doc = (await s.api('GET', '/api/openapi.json')).body
    const paths = Object.keys(doc.paths)
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/auth/sign-up/email',
        '/api/auth/sign-in/email',
        '/api/auth/session/refresh',
        '/api/auth/token',
        '/api/auth/jwks',
        '/api/auth/two-factor/enable',
        '/api/auth/passkey/verify-registration',
        '/api/auth/sign-in/magic-link',
        '/api/auth/account/export',
        '/api/admin/auth/sign-in/email',
        '/api/storage/buckets',
        '/api/storage/buckets/{bucket}/objects/{key}',
        '/api/storage/buckets/{bucket}/signed-urls',
        '/api/realtime/channels',
        '/api/realtime/channels/{id}',
      ]),
    )
    expect(doc.paths['/api/auth/sign-in/email'].post.tags).toEqual(['Auth'])
    expect(doc.paths['/api/admin/auth/sign-in/email'].post.tags).toEqual(['Console auth'])
    // Both instances describe the same better-auth endpoints: their ids and schema names stay apart.
    const methods = new Set(['get', 'put', 'post', 'patch', 'delete', 'head', 'options'])
    const ids = Object.values(doc.paths).flatMap((item: any) =>
      Object.entries(item)
        .filter(([m]) => methods.has(m))
        .map(([, op]: [string, any]) => op.operationId),
    )
    expect(ids.every((id) => typeof id === 'string')).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    expect(doc.components.schemas.AuthSession).toBeDefined()
    expect(doc.components.schemas.AdminSession).toBeDefined()
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[A-Za-z0-9_.-]+/g) ?? []
    for (const r of new Set(refs)) expect(doc.components.schemas[r.split('/').pop()!]).toBeDefined()
    const ts = astToString(await openapiTS(doc))
    expect(ts).toContain('"/api/auth/sign-in/email"')
  })

  it('drives a real client generated from the document', async () => {
    const client = createClient<any>({
      baseUrl: s.bastide.url,
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    })
    const author = await client.POST('/api/collections/authors/records', { body: { name: 'Le Guin' } })
    expect(author.response.status).toBe(201)
    const book = await client.POST('/api/collections/books/records', {
      body: { title: 'The Dispossessed', pages: 387, author: author.data.id },
    })
    expect(book.response.status).toBe(201)
    const list = await client.GET('/api/collections/books/records', {
      params: { query: { filter: 'pages > 300', expand: 'author' } },
    })
    expect(list.data.items).toHaveLength(1)
    expect(list.data.items[0].expand.author.name).toBe('Le Guin')
    const patched = await client.PATCH('/api/collections/books/records/{id}', {
      params: { path: { id: book.data.id }, header: { 'If-Match': '"1"' } },
      body: { pages: 400 },
    })
    expect(patched.data.version).toBe(2)
    const err = await client.POST('/api/collections/books/records', { body: { pages: 'many' } })
    expect(err.response.status).toBe(400)
    expect(err.error.code).toBe('VALIDATION_FAILED')
  })
})
