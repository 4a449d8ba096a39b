import createClient from 'openapi-fetch'
import openapiTS, { astToString } from 'openapi-typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, createCollection, startTestServer, type TestServer } from './support/harness.ts'

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
})
afterAll(() => s?.close())

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
    await createCollection(s, { name: 'shelves', fields: [{ name: 'label', type: 'text' }] })
    const again = (await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })).body
    expect(again.components.schemas.ShelvesRecord).toBeDefined()
  })

  it('documents both auth mounts, every enabled method, in the same document', async () => {
    const doc = (await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })).body
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
