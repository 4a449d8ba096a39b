import type { TestServer } from '@bastide/server/test/support/harness.ts'

/** Calls the server in-process as admin and fails loudly on anything but `expect`. */
async function must(s: TestServer, method: string, path: string, body: unknown, expect: number) {
  const r = await s.api(method, path, body)
  if (r.status !== expect) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

/**
 * A schema made the way a person makes it, through the API, change by change: a bucket, two collections related
 * both ways (the second relation added once both exist), a file field, indexes, rules (one through a relation),
 * a field and a rule added to the built-in users collection, and a channel definition.
 */
export async function buildSampleSchema(s: TestServer): Promise<void> {
  await must(
    s,
    'POST',
    '/api/storage/buckets',
    { name: 'avatars', public: true, allowedMimeTypes: ['image/*'], rules: { read: '' } },
    201,
  )
  await must(
    s,
    'POST',
    '/api/collections',
    {
      name: 'authors',
      fields: [
        { name: 'name', type: 'text', required: true, options: { max: 100 } },
        { name: 'photo', type: 'file', options: { bucket: 'avatars' } },
      ],
      indexes: [{ fields: ['name'], unique: true }],
      rules: { list: '', view: '' },
    },
    201,
  )
  await must(
    s,
    'POST',
    '/api/collections',
    {
      name: 'posts',
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'status', type: 'select', options: { values: ['draft', 'published'] } },
        { name: 'views', type: 'number', options: { integer: true } },
        { name: 'author', type: 'relation', required: true, options: { collection: 'authors' } },
        { name: 'tags', type: 'relation', options: { collection: 'posts', multiple: true } },
      ],
      indexes: [{ fields: ['status', 'created'] }],
      rules: { list: "status = 'published'", view: "status = 'published' && author.name != ''", create: '' },
    },
    201,
  )
  const authors = await must(s, 'GET', '/api/collections/authors', undefined, 200)
  await must(
    s,
    'PATCH',
    '/api/collections/authors',
    {
      fields: [...authors.fields, { name: 'featured', type: 'relation', options: { collection: 'posts' } }],
    },
    200,
  )
  const users = await must(s, 'GET', '/api/collections/users', undefined, 200)
  await must(
    s,
    'PATCH',
    '/api/collections/users',
    {
      fields: [...users.fields, { name: 'nickname', type: 'text', options: { max: 30 } }],
      rules: { list: '' },
    },
    200,
  )
  await must(
    s,
    'POST',
    '/api/realtime/channels',
    { pattern: 'room:*', rules: { join: "@request.auth.id != ''", send: "@request.auth.id != ''" } },
    201,
  )
}

/** The API document as an admin sees it, with the server's own URL taken out (it is all that may differ). */
export async function openApiOf(s: TestServer, url: string): Promise<unknown> {
  const r = await s.api('GET', '/api/openapi.json')
  if (r.status !== 200) throw new Error(`openapi: ${r.status}`)
  const { servers: _, ...doc } = r.body
  return JSON.parse(JSON.stringify(doc).replaceAll(url, '<server>'))
}
