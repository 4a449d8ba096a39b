import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RecordEvent } from '../src/events/catalog.ts'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
const events: RecordEvent[] = []

beforeAll(async () => {
  s = await startTestServer()
  for (const e of ['record.created', 'record.updated', 'record.deleted'] as const)
    s.bastide.bus.on(e, (p) => events.push(p))
  await createCollection(s, {
    name: 'orgs',
    fields: [{ name: 'name', type: 'text' }],
    rules: { list: '', view: '' },
  })
  await createCollection(s, {
    name: 'authors',
    fields: [
      { name: 'name', type: 'text' },
      { name: 'org', type: 'relation', options: { collection: 'orgs' } },
    ],
    rules: { list: '', view: '' },
  })
  await createCollection(s, {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'rank', type: 'number' },
      { name: 'author', type: 'relation', options: { collection: 'authors' } },
      { name: 'coauthors', type: 'relation', options: { collection: 'authors', multiple: true } },
    ],
    rules: { list: '', view: '', create: '', update: '', delete: '' },
  })
  await createCollection(s, {
    name: 'comments',
    fields: [
      { name: 'body', type: 'text' },
      { name: 'post', type: 'relation', options: { collection: 'posts', onDelete: 'cascade' } },
    ],
    rules: { list: '', view: '' },
  })
})
afterAll(() => s?.close())

describe('list', () => {
  it('expands forward, multiple, back and nested relations with one query per expand node, whatever the page size', async () => {
    const orgs = [
      await createRecord(s, 'orgs', { name: 'o1' }),
      await createRecord(s, 'orgs', { name: 'o2' }),
    ]
    const authors = []
    for (let i = 0; i < 6; i++)
      authors.push(await createRecord(s, 'authors', { name: `a${i}`, org: orgs[i % 2].id }))
    const posts = []
    for (let i = 0; i < 30; i++) {
      posts.push(
        await createRecord(s, 'posts', {
          title: `p${i}`,
          rank: i,
          author: authors[i % 6].id,
          coauthors: [authors[(i + 1) % 6].id, authors[(i + 2) % 6].id],
        }),
      )
    }
    for (let i = 0; i < 60; i++) await createRecord(s, 'comments', { body: `c${i}`, post: posts[i % 30].id })

    const expand = 'author.org,coauthors,comments_via_post'
    const counts: number[] = []
    for (const perPage of [5, 30]) {
      s.resetQueries()
      const r = await s.api(
        'GET',
        `/api/collections/posts/records?perPage=${perPage}&sort=rank&expand=${expand}`,
      )
      expect(r.status).toBe(200)
      expect(r.body.items).toHaveLength(perPage)
      // The app's own tables only: the server's background work (request log, job polling) runs meanwhile.
      counts.push(s.queries.filter((q) => q.includes('"data".')).length)
      const first = r.body.items[0]
      expect(first.expand.author.name).toBe('a0')
      expect(first.expand.author.expand.org.name).toBe('o1')
      expect(first.expand.coauthors.map((a: any) => a.name)).toEqual(['a1', 'a2'])
      expect(first.expand.comments_via_post.map((c: any) => c.body)).toEqual(['c0', 'c30'])
    }
    // 1 list + author + author.org + coauthors + comments_via_post = 5, for 5 rows and for 30.
    expect(counts).toEqual([5, 5])
  })

  it('selects fields, including fields inside expansions', async () => {
    const r = await s.api(
      'GET',
      '/api/collections/posts/records?perPage=1&sort=rank&fields=id,title,author.name',
    )
    expect(Object.keys(r.body.items[0]).sort()).toEqual(['expand', 'id', 'title'])
    expect(r.body.items[0].expand.author).toEqual({ name: 'a0' })
  })

  it('sorts by several fields and counts only when asked', async () => {
    const r = await s.api('GET', '/api/collections/comments/records?sort=post,-body&perPage=4&count=true')
    expect(r.body.totalItems).toBe(60)
    expect(r.body.totalPages).toBe(15)
    const plain = await s.api('GET', '/api/collections/comments/records?perPage=4')
    expect(plain.body.totalItems).toBeUndefined()
    const bad = await s.api('GET', '/api/collections/comments/records?sort=nope')
    expect(bad.status).toBe(400)
    expect((await s.api('GET', '/api/collections/comments/records?perPage=501')).status).toBe(400)
  })

  it('keyset pagination never skips or repeats a row while rows are inserted', async () => {
    await createCollection(s, {
      name: 'feed',
      fields: [
        { name: 'n', type: 'number' },
        { name: 'grp', type: 'text' },
      ],
      rules: { list: '', create: '' },
    })
    for (let i = 0; i < 50; i++)
      await createRecord(s, 'feed', { n: i % 7, grp: i % 3 === 0 ? null : `g${i % 4}` })
    const before = (await s.api('GET', '/api/collections/feed/records?perPage=500')).body.items.map(
      (x: any) => x.id,
    )
    for (const sort of ['-created', 'n,-grp', '-grp,n', 'grp']) {
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const q: string = `/api/collections/feed/records?perPage=7&sort=${sort}${cursor ? `&after=${cursor}` : ''}`
        const r = await s.api('GET', q)
        expect(r.status).toBe(200)
        seen.push(...r.body.items.map((x: any) => x.id))
        cursor = r.body.nextCursor
        // Writers keep inserting between pages.
        await createRecord(s, 'feed', { n: pages % 7, grp: pages % 2 ? 'g1' : null })
        pages++
      } while (cursor && pages < 50)
      expect(new Set(seen).size, sort).toBe(seen.length)
      for (const id of before) expect(seen, sort).toContain(id)
    }
    const tampered = await s.api(
      'GET',
      '/api/collections/feed/records?sort=n&after=eyJzIjoiLWNyZWF0ZWQiLCJ2IjpbXX0',
    )
    expect(tampered.status).toBe(400)
    expect(tampered.body.code).toBe('INVALID_CURSOR')
  })
})

describe('writes', () => {
  it('bumps version, honours If-Match and $version with 409 VERSION_MISMATCH', async () => {
    const p = await createRecord(s, 'posts', { title: 'v' })
    const ok = await s.api(
      'PATCH',
      `/api/collections/posts/records/${p.id}`,
      { title: 'v2' },
      { headers: { 'if-match': '"1"' } },
    )
    expect(ok.status).toBe(200)
    expect(ok.body.version).toBe(2)
    const stale = await s.api('PATCH', `/api/collections/posts/records/${p.id}`, { title: 'v3', $version: 1 })
    expect(stale.status).toBe(409)
    expect(stale.body).toMatchObject({ code: 'VERSION_MISMATCH', details: { currentVersion: 2 } })
    const del = await s.api('DELETE', `/api/collections/posts/records/${p.id}`, undefined, {
      headers: { 'if-match': '1' },
    })
    expect(del.status).toBe(409)
    const malformed = await s.api(
      'PATCH',
      `/api/collections/posts/records/${p.id}`,
      { title: 'x' },
      { headers: { 'if-match': 'yesterday' } },
    )
    expect(malformed.status).toBe(412)
    expect(malformed.body.code).toBe('PRECONDITION_FAILED')
    expect((await s.api('GET', `/api/collections/posts/records/${p.id}`)).body.title).toBe('v2')
  })

  it('four updates racing on one version: exactly one wins', async () => {
    const p = await createRecord(s, 'posts', { title: 'race' })
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        s.api('PATCH', `/api/collections/posts/records/${p.id}`, { title: `w${i}`, $version: 1 }),
      ),
    )
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409])
    const final = await s.api('GET', `/api/collections/posts/records/${p.id}`)
    expect(final.body.version).toBe(2)
    expect(final.body.title).toBe(results.find((r) => r.status === 200)!.body.title)
  })

  it('fifty retries with one Idempotency-Key create one record; another body answers 422', async () => {
    const key = crypto.randomUUID()
    const body = { title: 'once' }
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        s.api('POST', '/api/collections/posts/records', body, { headers: { 'idempotency-key': key } }),
      ),
    )
    expect(results.every((r) => r.status === 201)).toBe(true)
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1)
    const list = await s.api(
      'GET',
      `/api/collections/posts/records?filter=${encodeURIComponent("title = 'once'")}&count=true`,
    )
    expect(list.body.totalItems).toBe(1)
    const other = await s.api(
      'POST',
      '/api/collections/posts/records',
      { title: 'twice' },
      { headers: { 'idempotency-key': key } },
    )
    expect(other.status).toBe(422)
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED')
    // A failed write stores nothing: its retry runs again.
    const k2 = crypto.randomUUID()
    expect(
      (
        await s.api(
          'POST',
          '/api/collections/posts/records',
          { rank: 1 },
          { headers: { 'idempotency-key': k2 } },
        )
      ).status,
    ).toBe(400)
    expect(
      (
        await s.api(
          'POST',
          '/api/collections/posts/records',
          { rank: 1 },
          { headers: { 'idempotency-key': k2 } },
        )
      ).status,
    ).toBe(400)
  })

  it('a batch commits all or nothing', async () => {
    const ok = await s.api('POST', '/api/batch', {
      requests: [
        { method: 'POST', path: '/api/collections/posts/records', body: { title: 'b1' } },
        { method: 'POST', path: '/api/collections/posts/records', body: { title: 'b2' } },
      ],
    })
    expect(ok.status).toBe(200)
    expect(ok.body.responses.map((r: any) => r.status)).toEqual([201, 201])
    const target = ok.body.responses[0].body
    const evBefore = events.length
    const failed = await s.api('POST', '/api/batch', {
      requests: [
        { method: 'POST', path: '/api/collections/posts/records', body: { title: 'ghost' } },
        { method: 'PATCH', path: `/api/collections/posts/records/${target.id}`, body: { title: 'changed' } },
        { method: 'POST', path: '/api/collections/posts/records', body: { rank: 'not a number' } },
      ],
    })
    expect(failed.status).toBe(400)
    expect(failed.body.details.index).toBe(2)
    const ghost = await s.api(
      'GET',
      `/api/collections/posts/records?filter=${encodeURIComponent("title = 'ghost'")}&count=true`,
    )
    expect(ghost.body.totalItems).toBe(0)
    expect((await s.api('GET', `/api/collections/posts/records/${target.id}`)).body.title).toBe('b1')
    // Nothing was emitted for the rolled-back batch.
    expect(events.length).toBe(evBefore)
  })

  it('emits typed events after commit with increasing sequence numbers', async () => {
    const start = events.length
    const p = await createRecord(s, 'posts', { title: 'ev' })
    await s.api('PATCH', `/api/collections/posts/records/${p.id}`, { title: 'ev2' })
    await s.api('DELETE', `/api/collections/posts/records/${p.id}`)
    const mine = events.slice(start)
    expect(mine.map((e) => e.action)).toEqual(['create', 'update', 'delete'])
    expect(mine.every((e) => e.collection === 'posts' && e.record.id === p.id)).toBe(true)
    expect(mine[1]!.record.title).toBe('ev2')
    const seqs = mine.map((e) => e.seq)
    expect(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!).toBe(true)
  })

  it('applies on-delete actions as writes: versions bump and every change emits its event', async () => {
    await createCollection(s, { name: 'parents', fields: [{ name: 'name', type: 'text' }] })
    await createCollection(s, {
      name: 'kids',
      fields: [
        { name: 'name', type: 'text' },
        { name: 'parent', type: 'relation', options: { collection: 'parents', onDelete: 'cascade' } },
        { name: 'guardian', type: 'relation', options: { collection: 'parents', onDelete: 'set_null' } },
        { name: 'pals', type: 'relation', options: { collection: 'parents', multiple: true } },
      ],
    })
    await createCollection(s, {
      name: 'toys',
      fields: [
        { name: 'kid', type: 'relation', options: { collection: 'kids', onDelete: 'cascade' } },
        { name: 'keeper', type: 'relation', options: { collection: 'kids', onDelete: 'restrict' } },
      ],
    })
    const mum = await createRecord(s, 'parents', { name: 'mum' })
    const aunt = await createRecord(s, 'parents', { name: 'aunt' })
    const kid = await createRecord(s, 'kids', {
      name: 'k',
      parent: mum.id,
      guardian: aunt.id,
      pals: [aunt.id, mum.id],
    })
    const toy = await createRecord(s, 'toys', { kid: kid.id })

    let start = events.length
    expect((await s.api('DELETE', `/api/collections/parents/records/${aunt.id}`)).status).toBe(204)
    const after = (await s.api('GET', `/api/collections/kids/records/${kid.id}`)).body
    expect(after).toMatchObject({ guardian: null, pals: [mum.id], version: 3 })
    expect(events.slice(start).map((e) => `${e.action} ${e.collection}`)).toEqual([
      'update kids',
      'update kids',
      'delete parents',
    ])

    // A restrict further down fails the whole delete: nothing changes, nothing is emitted.
    const keeper = await createRecord(s, 'toys', { keeper: kid.id })
    start = events.length
    expect((await s.api('DELETE', `/api/collections/parents/records/${mum.id}`)).status).toBe(409)
    expect(events.length).toBe(start)
    expect((await s.api('GET', `/api/collections/kids/records/${kid.id}`)).status).toBe(200)
    await s.api('DELETE', `/api/collections/toys/records/${keeper.id}`)

    start = events.length
    expect((await s.api('DELETE', `/api/collections/parents/records/${mum.id}`)).status).toBe(204)
    expect(events.slice(start).map((e) => `${e.action} ${e.collection} ${e.record.id}`)).toEqual([
      `delete toys ${toy.id}`,
      `delete kids ${kid.id}`,
      `delete parents ${mum.id}`,
    ])
    expect((await s.api('GET', `/api/collections/toys/records/${toy.id}`)).status).toBe(404)
  })

  it('answers 404 for unknown ids and collections, never 500', async () => {
    expect((await s.api('GET', '/api/collections/posts/records/not-a-uuid')).status).toBe(404)
    expect(
      (await s.api('GET', '/api/collections/posts/records/0190a5b0-0000-7000-8000-000000000000')).status,
    ).toBe(404)
    expect((await s.api('GET', '/api/collections/nope/records')).status).toBe(404)
    expect(
      (
        await s.api('PATCH', '/api/collections/posts/records/0190a5b0-0000-7000-8000-000000000000', {
          title: 'x',
        })
      ).status,
    ).toBe(404)
  })
})
