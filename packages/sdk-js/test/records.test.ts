import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError, ErrorCodes, f } from '../src/index.ts'
import { ADMIN_KEY, clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

interface Post {
  title: string
  views: number
  tags: string[]
  author: string | null
  secret?: string
}

let s: TestServer & { url: string }
beforeAll(async () => {
  s = await startServer()
  await createCollection(s, {
    name: 'people',
    fields: [{ name: 'name', type: 'text', required: true }],
    rules: { list: '', view: '', create: '', update: '', delete: '' },
  })
  await createCollection(s, {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text', required: true, options: { max: 200 } },
      { name: 'views', type: 'number', options: { integer: true } },
      { name: 'tags', type: 'select', options: { values: ['a', 'b', 'c'], multiple: true } },
      { name: 'author', type: 'relation', options: { collection: 'people' } },
      { name: 'secret', type: 'text', hidden: true },
    ],
    rules: { list: '', view: '', create: '', update: '', delete: '' },
  })
})
afterAll(() => s?.close())

describe('records', () => {
  it('creates, reads, lists with filter, sort, expand, and deletes', async () => {
    const c = clientFor(s)
    const ada = await c.collection('people').create({ name: 'Ada' })
    const p = await c.collection<Post>('posts').create({ title: "O'Brien \\ says", views: 3, author: ada.id })
    expect(p).toMatchObject({ title: "O'Brien \\ says", views: 3, version: 1, tags: [] })
    expect(await c.collection<Post>('posts').getOne(p.id)).toEqual(p)
    const page = await c.collection<Post>('posts').list({
      filter: f('title = {:t} && views >= {:n}', { t: "O'Brien \\ says", n: 3 }),
      expand: ['author'],
      count: true,
    })
    expect(page.totalItems).toBe(1)
    expect(page.items[0]!.expand).toEqual({ author: ada })
    await c.collection('posts').delete(p.id)
    await expect(c.collection('posts').getOne(p.id)).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
      status: 404,
    })
  })

  it('updates with a version and reports VERSION_MISMATCH with the current version', async () => {
    const c = clientFor(s)
    const posts = c.collection<Post>('posts')
    const p = await posts.create({ title: 'v' })
    const p2 = await posts.update(p.id, { title: 'v2' }, { version: p.version })
    expect(p2.version).toBe(2)
    const err = await posts.update(p.id, { title: 'v3' }, { version: 1 }).catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err).toMatchObject({ code: 'VERSION_MISMATCH', status: 409, details: { currentVersion: 2 } })
    await expect(posts.delete(p.id, { version: 1 })).rejects.toMatchObject({ code: 'VERSION_MISMATCH' })
    await posts.delete(p.id, { version: 2 })
  })

  it('surfaces validation errors per field', async () => {
    const c = clientFor(s)
    const err = await c
      .collection('posts')
      .create({ title: '', views: 'many' })
      .catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
    expect(Object.keys(err.details.fields).sort()).toEqual(['title', 'views'])
    expect(err.requestId).toMatch(/.+/)
  })

  it('walks every page by cursor with iterate()', async () => {
    const c = clientFor(s, { apiKey: ADMIN_KEY })
    await c.batch((b) => {
      for (let i = 0; i < 45; i++) b.collection('posts').create({ title: `walk ${i}`, views: i })
    })
    const seen: number[] = []
    for await (const p of c
      .collection<Post>('posts')
      .iterate({ filter: "title ~ 'walk '", perPage: 10, sort: ['views'] }))
      seen.push(p.views)
    expect(seen).toEqual(Array.from({ length: 45 }, (_, i) => i))
  })

  it('runs a batch atomically: one failure, nothing written', async () => {
    const c = clientFor(s)
    const err = await c
      .batch((b) => {
        b.collection('posts').create({ title: 'batch ok' })
        b.collection('posts').create({ title: '' })
      })
      .catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION_FAILED', details: { index: 1 } })
    expect((await c.collection('posts').list({ filter: "title = 'batch ok'" })).items).toEqual([])
    const [a, b] = await c.batch((b) => {
      b.collection('posts').create({ title: 'batch 1' })
      b.collection('posts').create({ title: 'batch 2' })
    })
    expect([(a as Post).title, (b as Post).title]).toEqual(['batch 1', 'batch 2'])
  })

  it('tells a network failure apart from a server answer', async () => {
    const c = clientFor({ url: 'http://127.0.0.1:9' }, { retry: { attempts: 2, baseDelayMs: 10 } })
    const err = await c
      .collection('posts')
      .list()
      .catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err.isNetworkError).toBe(true)
    expect(err.status).toBe(0)
  })
})
