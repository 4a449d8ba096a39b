import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedUp, signUp } from './support/auth.ts'
import {
  createCollection,
  createKey,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

/**
 * GET /api/admin/users/:id/delete-preview: what deleting a user takes with them, checked against what the
 * delete then really does (counted in the database, not in the preview's own terms).
 */
let s: TestServer
let sqlc: pg.Client

beforeAll(async () => {
  s = await startTestServer()
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
  // posts cascade from their author, comments cascade from their post (a cascade of a cascade), likes
  // (a multiple relation) unlink, profiles keep their row with `mentor` emptied, reports restrict.
  await createCollection(s, {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'author', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
      { name: 'likedBy', type: 'relation', options: { collection: 'users', multiple: true } },
    ],
  })
  await createCollection(s, {
    name: 'comments',
    fields: [
      { name: 'body', type: 'text' },
      { name: 'post', type: 'relation', options: { collection: 'posts', onDelete: 'cascade' } },
    ],
  })
  await createCollection(s, {
    name: 'profiles',
    fields: [{ name: 'mentor', type: 'relation', options: { collection: 'users', onDelete: 'set_null' } }],
  })
  await createCollection(s, {
    name: 'reports',
    fields: [
      {
        name: 'about',
        type: 'relation',
        required: true,
        options: { collection: 'users', onDelete: 'restrict' },
      },
      { name: 'post', type: 'relation', options: { collection: 'posts', onDelete: 'restrict' } },
    ],
  })
  const b = await s.api('POST', '/api/storage/buckets', {
    name: 'mine',
    rules: { read: '', write: "@request.auth.id != '' && owner = @request.auth.id", delete: '' },
  })
  expect(b.status).toBe(201)
})
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
})

async function count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
  return Number(
    (await sqlc.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)).rows[0].n,
  )
}

const preview = (id: string, as?: string) =>
  s.api('GET', `/api/admin/users/${id}/delete-preview`, undefined, as ? { as } : {})

describe('delete preview', () => {
  let ada: SignedUp
  let bob: SignedUp

  it('counts cascades (through cascades), emptied and unlinked relations, sessions, accounts and files', async () => {
    ada = await signUp(s, 'ada@preview.test')
    bob = await signUp(s, 'bob@preview.test')
    const p1 = await createRecord(s, 'posts', { title: 'one', author: ada.id })
    const p2 = await createRecord(s, 'posts', { title: 'two', author: ada.id, likedBy: [bob.id] })
    const bobs = await createRecord(s, 'posts', { title: 'bob', author: bob.id, likedBy: [ada.id, bob.id] })
    await createRecord(s, 'posts', { title: 'also liked', author: bob.id, likedBy: [ada.id] })
    for (const post of [p1.id, p1.id, p2.id]) await createRecord(s, 'comments', { body: 'hi', post })
    await createRecord(s, 'comments', { body: 'on bob', post: bobs.id })
    await createRecord(s, 'profiles', { mentor: ada.id })
    await createRecord(s, 'profiles', { mentor: bob.id })
    const up = await s.api('PUT', '/api/storage/buckets/mine/objects/ada/notes.txt', 'twelve bytes', {
      as: ada.jwt,
      headers: { 'content-type': 'text/plain' },
    })
    expect(up.status).toBe(201)

    const r = await preview(ada.id)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      user: { id: ada.id, email: 'ada@preview.test' },
      cascade: { posts: 2, comments: 3 },
      changed: { posts: 2, profiles: 1 },
      blocking: {},
      blocked: false,
      tooDeep: false,
      sessions: 1,
      accounts: 1,
      files: { count: 1, bytes: 12 },
    })
    const rel = (collection: string, field: string) =>
      r.body.relations.find((x: any) => x.collection === collection && x.field === field)
    expect(rel('posts', 'author')).toMatchObject({
      target: 'users',
      onDelete: 'cascade',
      effect: 'delete',
      records: 2,
    })
    expect(rel('comments', 'post')).toMatchObject({ target: 'posts', effect: 'delete', records: 3 })
    expect(rel('posts', 'likedBy')).toMatchObject({ multiple: true, effect: 'unlink', records: 2 })
    expect(rel('profiles', 'mentor')).toMatchObject({ onDelete: 'set_null', effect: 'set_null', records: 1 })

    // The preview writes nothing; the delete then does what it said.
    expect(await count('data.posts')).toBe(4)
    const before = { posts: await count('data.posts'), comments: await count('data.comments') }
    expect((await s.api('DELETE', `/api/admin/users/${ada.id}`)).status).toBe(204)
    expect(before.posts - (await count('data.posts'))).toBe(2)
    expect(before.comments - (await count('data.comments'))).toBe(3)
    expect(await count('data.profiles', 'mentor IS NULL')).toBe(1)
    expect(await count('bastide.auth_sessions', '"userId" = $1', [ada.id])).toBe(0)
    expect(await count('bastide.objects', 'owner IS NULL')).toBe(1)
  })

  it('says when restrict relations block the delete, directly or through a cascaded record', async () => {
    const cy = await signUp(s, 'cy@preview.test')
    const post = await createRecord(s, 'posts', { title: 'cy', author: cy.id })
    // A report about bob (restrict on users) and one about cy's post (restrict on a record that would cascade).
    await createRecord(s, 'reports', { about: bob.id })
    await createRecord(s, 'reports', { about: bob.id, post: post.id })

    const rb = await preview(bob.id)
    expect(rb.status).toBe(200)
    expect(rb.body.blocked).toBe(true)
    expect(rb.body.blocking).toEqual({ reports: 2 })
    expect(
      rb.body.relations.find((x: any) => x.collection === 'reports' && x.field === 'about'),
    ).toMatchObject({ onDelete: 'restrict', effect: 'block', records: 2 })
    const rc = await preview(cy.id)
    expect(rc.body).toMatchObject({ blocked: true, blocking: { reports: 1 }, cascade: { posts: 1 } })
    expect(
      rc.body.relations.find((x: any) => x.field === 'post' && x.collection === 'reports'),
    ).toMatchObject({
      target: 'posts',
      effect: 'block',
    })
    // And the delete itself is refused, with nothing gone.
    const del = await s.api('DELETE', `/api/admin/users/${cy.id}`)
    expect(del.status).toBe(409)
    expect(await count('data.posts', 'id = $1', [post.id])).toBe(1)
    expect(await count('data.users', 'id = $1', [cy.id])).toBe(1)
  })

  it('says when the cascade goes deeper than the delete follows, at exactly the depth the delete refuses', async () => {
    await createCollection(s, {
      name: 'chain',
      fields: [
        { name: 'owner', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
        { name: 'parent', type: 'relation', options: { collection: 'chain', onDelete: 'cascade' } },
      ],
    })
    const dee = await signUp(s, 'dee@preview.test')
    // owner -> c0, then c1 ... c16 each under the previous: 17 levels below the user.
    const ids = [(await createRecord(s, 'chain', { owner: dee.id })).id as string]
    for (let i = 1; i <= 16; i++) ids.push((await createRecord(s, 'chain', { parent: ids[i - 1] })).id)
    const deep = await preview(dee.id)
    expect(deep.body).toMatchObject({ tooDeep: true, blocked: true })
    expect((await s.api('DELETE', `/api/admin/users/${dee.id}`)).status).toBe(409)
    // One level less, and both agree the other way.
    expect((await s.api('DELETE', `/api/collections/chain/records/${ids[16]}`)).status).toBe(204)
    const ok = await preview(dee.id)
    expect(ok.body).toMatchObject({ tooDeep: false, blocked: false, cascade: { chain: 16 } })
    expect((await s.api('DELETE', `/api/admin/users/${dee.id}`)).status).toBe(204)
    expect(await count('data.chain')).toBe(0)
  })

  it('answers 404 for an unknown user, 400 for a malformed id, and only to console admins', async () => {
    const missing = await preview('00000000-0000-4000-8000-000000000000')
    expect(missing.status).toBe(404)
    expect(missing.body.code).toBe('NOT_FOUND')
    const bad = await preview('not-a-uuid')
    expect(bad.status).toBe(400)
    expect(bad.body).toMatchObject({ status: 400, message: expect.any(String) })
    expect((await preview(bob.id, 'anon')).status).toBe(401)
    expect((await preview(bob.id, bob.jwt)).status).toBe(403)
    const key = await createKey(s, ['schema', 'records:read', 'records:write'])
    expect((await preview(bob.id, key)).status).toBe(403)
  })
})
