import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { coreOpenApi } from '../src/modules/core/openapi.ts'
import { buildOpenApi } from '../src/openapi/build-openapi.ts'
import { signUp } from './support/auth.ts'
import { createCollection, startTestServer, type TestServer } from './support/harness.ts'

/**
 * POST /api/collections/check-rule: the console checks each rule as it is typed, against the collection as
 * drafted (fields not saved yet) and the live ones, with the same parser and binder saving uses.
 */
let s: TestServer

beforeAll(async () => {
  s = await startTestServer()
  await createCollection(s, {
    name: 'authors',
    fields: [
      { name: 'name', type: 'text', required: true },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
  })
})
afterAll(async () => {
  await s?.close()
})

const posts = {
  name: 'posts',
  fields: [
    { name: 'title', type: 'text' },
    { name: 'views', type: 'number' },
    { name: 'author', type: 'relation', options: { collection: 'authors' } },
    { name: 'tags', type: 'select', options: { multiple: true } },
  ],
}
const check = (rule: string, o: { as?: string; collection?: unknown; action?: string } = {}) =>
  s.api(
    'POST',
    '/api/collections/check-rule',
    { collection: o.collection ?? posts, action: o.action ?? 'list', rule },
    o.as ? { as: o.as } : {},
  )

describe('checking a rule against a draft collection', () => {
  it.each([
    '',
    '   ',
    "title != ''",
    'views > 10 && author.name ~ "ann"',
    "author.owner = @request.auth.id || @request.auth.id = ''",
    "tags ?= 'news'",
  ])('accepts %j', async (rule) => {
    const r = await check(rule)
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ ok: true })
  })

  it('points at a syntax error: 400 INVALID_FILTER with its position', async () => {
    const rule = "title = 'a' &&"
    const r = await check(rule)
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('INVALID_FILTER')
    expect(typeof r.body.message).toBe('string')
    expect(r.body.details.position).toBeGreaterThanOrEqual(12)
    expect(r.body.details.position).toBeLessThanOrEqual(rule.length)
  })

  it('names an unknown field and where it starts', async () => {
    const rule = "title = 'x' && nope = 1"
    const r = await check(rule)
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('INVALID_FILTER')
    expect(r.body.message).toMatch(/Unknown field 'nope'/)
    expect(r.body.details.position).toBe(rule.indexOf('nope'))
  })

  it('refuses a literal of the wrong type, as saving would', async () => {
    const r = await check("views > 'many'")
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('INVALID_FILTER')
    const saved = await s.api('POST', '/api/collections', {
      ...posts,
      fields: posts.fields.map((f) => (f.type === 'select' ? { ...f, options: { values: ['news'] } } : f)),
      rules: { list: "views > 'many'" },
    })
    expect(saved.status).toBe(400)
  })

  it('binds against the draft fields, not the saved ones', async () => {
    // `authors` is saved without `bio`: a rule on the draft that adds it is fine, the saved one is not.
    const draft = {
      name: 'authors',
      fields: [
        { name: 'name', type: 'text' },
        { name: 'bio', type: 'text' },
      ],
    }
    expect((await check("bio != ''", { collection: draft })).status).toBe(200)
    const saved = await s.api('GET', '/api/collections/authors')
    expect((await check("bio != ''", { collection: saved.body })).status).toBe(400)
    // A field removed in the draft is gone for its rules too.
    const dropped = { name: 'authors', fields: [{ name: 'bio', type: 'text' }] }
    expect((await check("name != ''", { collection: dropped })).body.code).toBe('INVALID_FILTER')
  })

  it('resolves a new collection’s own name to the draft (self-relations, back-relations)', async () => {
    const comments = {
      name: 'comments',
      fields: [
        { name: 'body', type: 'text' },
        { name: 'parent', type: 'relation', options: { collection: 'comments' } },
      ],
    }
    expect((await check("parent.body != ''", { collection: comments })).status).toBe(200)
    expect((await check("comments_via_parent.body ?= 'x'", { collection: comments })).status).toBe(200)
    expect((await check("parent.nope != ''", { collection: comments })).status).toBe(400)
  })

  it('answers 400 VALIDATION_FAILED for a malformed body, never a 500', async () => {
    for (const body of [
      {},
      { collection: posts, action: 'read', rule: '' },
      { collection: { name: 'x', fields: [{ name: 'a', type: 'blob' }] }, action: 'list', rule: '' },
      { collection: posts, action: 'list', rule: 'x'.repeat(5000) },
      { collection: posts, action: 'list', rule: 1 },
      { collection: posts, action: 'list', rule: '', extra: true },
    ]) {
      const r = await s.api('POST', '/api/collections/check-rule', body)
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400)
      expect(r.body.code).toBe('VALIDATION_FAILED')
    }
  })

  it('is for console admins and schema keys only', async () => {
    const key = async (scopes: string[]) =>
      (await s.api('POST', '/api/admin/keys', { name: scopes.join(), scopes })).body.key as string
    expect((await check("title != ''", { as: 'anon' })).status).toBe(401)
    expect((await check("title != ''", { as: await key(['records:read', 'records:write']) })).status).toBe(
      403,
    )
    const user = await signUp(s, 'someone@example.com')
    expect((await check("title != ''", { as: user.token })).status).toBe(403)
    expect((await check("title != ''", { as: await key(['schema']) })).status).toBe(200)
  })

  it('is in the API document for schema administrators, not in the public one', () => {
    const doc = (audience: 'full' | 'public') =>
      buildOpenApi({ collections: [], version: 'test', parts: [coreOpenApi()], audience }) as any
    const op = doc('full').paths['/api/collections/check-rule'].post
    expect(op.operationId).toBe('checkCollectionRule')
    expect(op.requestBody.content['application/json'].schema.required).toEqual([
      'collection',
      'action',
      'rule',
    ])
    expect(doc('public').paths['/api/collections/check-rule']).toBeUndefined()
  })

  it('is served in the live document (the core module mounts it)', async () => {
    const full = await s.api('GET', '/api/openapi.json')
    expect(full.status).toBe(200)
    expect(full.body.paths['/api/collections/check-rule']?.post?.operationId).toBe('checkCollectionRule')
  })

  it('never shadows a collection: no collection can be named check-rule', async () => {
    const r = await s.api('POST', '/api/collections', { name: 'check-rule', fields: [] })
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('INVALID_SCHEMA')
  })
})
