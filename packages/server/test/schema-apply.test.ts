import { createHash } from 'node:crypto'
import { stableJson } from '@bastide/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKey, createRecord, startTestServer, type TestServer } from './support/harness.ts'

/** A schema with relations both ways, indexes, rules, a file field, a bucket and a channel definition. */
const SCHEMA = {
  buckets: [
    {
      name: 'avatars',
      public: true,
      maxFileSize: 1_000_000,
      allowedMimeTypes: ['image/*'],
      rules: { read: '', write: "@request.auth.id != ''" },
    },
  ],
  collections: [
    {
      name: 'authors',
      fields: [
        { name: 'name', type: 'text', required: true, options: { max: 100 } },
        { name: 'photo', type: 'file', options: { bucket: 'avatars' } },
        { name: 'favourite', type: 'relation', options: { collection: 'posts' } },
      ],
      indexes: [{ fields: ['name'], unique: true }],
      rules: { list: '', view: '' },
    },
    {
      name: 'posts',
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'status', type: 'select', options: { values: ['draft', 'published'] } },
        { name: 'views', type: 'number', options: { integer: true } },
        { name: 'author', type: 'relation', required: true, options: { collection: 'authors' } },
      ],
      indexes: [{ fields: ['status', 'created'] }],
      rules: { list: "status = 'published'", view: "status = 'published' && author.name != ''" },
    },
  ],
  channels: [{ pattern: 'room:*', presence: true, rules: { join: "@request.auth.id != ''", send: null } }],
}

let s: TestServer
beforeAll(async () => {
  s = await startTestServer()
})
afterAll(async () => {
  await s?.close()
})

const plan = (schema: unknown) => s.api('POST', '/api/admin/schema/plan', { schema })
const apply = (schema: unknown, extra: Record<string, unknown> = {}) =>
  s.api('POST', '/api/admin/schema/apply', { schema, ...extra })
const exported = async () => (await s.api('GET', '/api/admin/schema')).body
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v))
/** The exported schema without the built-in users collection. */
const own = (doc: any) => ({ ...doc, collections: doc.collections.filter((c: any) => !c.system) })

describe('schema as code', () => {
  it('plans every object of a new schema, then applies it all in one go', async () => {
    const p = await plan(SCHEMA)
    expect(p.status).toBe(200)
    expect(p.body.changes.map((c: any) => `${c.op} ${c.target}`)).toEqual([
      'bucket.create avatars',
      'collection.create authors',
      'collection.create posts',
      'channel.create room:*',
    ])
    expect(p.body.hash).toMatch(/^[a-f0-9]{64}$/)
    const r = await apply(SCHEMA, { expectHash: p.body.hash })
    expect(r.status).toBe(200)
    expect(r.body.applied).toBe(true)
    const doc = await exported()
    expect(own(doc).collections.map((c: any) => c.name)).toEqual(['authors', 'posts'])
    const posts = doc.collections.find((c: any) => c.name === 'posts')
    expect(posts.fields.map((f: any) => f.name)).toEqual(['title', 'status', 'views', 'author'])
    // Defaults are explicit and nothing instance-specific leaks into the document.
    expect(posts.fields[3]).toEqual({
      name: 'author',
      type: 'relation',
      required: true,
      unique: false,
      hidden: false,
      options: { collection: 'authors', onDelete: 'restrict' },
    })
    expect(JSON.stringify(doc)).not.toMatch(/"id":|"created":|"ix_/)
    expect(doc.buckets[0].rules).toEqual({ read: '', write: "@request.auth.id != ''", delete: null })
    expect(doc.channels).toEqual([
      { pattern: 'room:*', presence: true, rules: { join: "@request.auth.id != ''", send: null } },
    ])
  })

  it('finds nothing to do once the instance matches, and applying again changes nothing', async () => {
    const p = await plan(await exported())
    expect(p.body.changes).toEqual([])
    const r = await apply(SCHEMA)
    expect(r.status).toBe(200)
    expect(r.body.applied).toBe(false)
  })

  it('refuses destructive changes unless allowed, listing them', async () => {
    const next: any = clone(SCHEMA)
    next.collections[1]!.fields = next.collections[1]!.fields.filter((f: any) => f.name !== 'views')
    const refused = await apply(next)
    expect(refused.status).toBe(409)
    expect(refused.body.code).toBe('CONFLICT')
    expect(refused.body.details.reason).toBe('destructive')
    expect(refused.body.details.destructive.map((c: any) => `${c.op} ${c.target}`)).toEqual([
      'field.drop posts.views',
    ])
    expect((await exported()).collections.find((c: any) => c.name === 'posts').fields).toHaveLength(4)
    const ok = await apply(next, { allowDestructive: true })
    expect(ok.status).toBe(200)
    expect((await exported()).collections.find((c: any) => c.name === 'posts').fields).toHaveLength(3)
  })

  it('keeps data through a rename hint where a plain rename would drop and add', async () => {
    const author = await createRecord(s, 'authors', { name: 'Ada' })
    await createRecord(s, 'posts', { title: 'Hello', status: 'published', author: author.id })
    const doc = await exported()
    const posts = doc.collections.find((c: any) => c.name === 'posts')
    posts.fields[0] = { ...posts.fields[0], name: 'headline', renamedFrom: 'title' }
    const p = await plan(doc)
    expect(p.body.changes).toEqual([
      expect.objectContaining({ op: 'field.rename', target: 'posts.headline', destructive: false }),
    ])
    expect((await apply(doc)).status).toBe(200)
    const list = await s.api('GET', '/api/collections/posts/records')
    expect(list.body.items[0].headline).toBe('Hello')
  })

  it('applies all or nothing: a change that fails late leaves the earlier ones undone', async () => {
    const before = await exported()
    const next = clone(before)
    // Early changes that would succeed: a new bucket, a new collection, a new field and a rule...
    next.buckets.push({ name: 'docs', public: false, maxFileSize: null, allowedMimeTypes: [], rules: {} })
    next.collections.push({ name: 'tags', fields: [{ name: 'label', type: 'text' }], indexes: [], rules: {} })
    const posts = next.collections.find((c: any) => c.name === 'posts')
    posts.fields.push({ name: 'subtitle', type: 'text' })
    posts.rules.create = ''
    // ...and one that cannot: the existing post has no summary, so a required one cannot be added.
    posts.fields.push({ name: 'summary', type: 'text', required: true })
    const r = await apply(next)
    expect(r.status).toBe(409)
    expect(await exported()).toEqual(before)
    expect((await s.api('GET', '/api/collections/tags')).status).toBe(404)
    expect((await s.api('GET', '/api/storage/buckets/docs')).status).toBe(404)
  })

  it('a checked plan tries the apply and rolls it back: its SQL, or the error the apply would meet', async () => {
    const before = await exported()
    const next = clone(before)
    next.collections.push({
      name: 'checked',
      fields: [{ name: 'n', type: 'number' }],
      indexes: [],
      rules: {},
    })
    const ok = await s.api('POST', '/api/admin/schema/plan', { schema: next, check: true })
    expect(ok.status).toBe(200)
    expect(ok.body.changes.map((c: any) => c.op)).toEqual(['collection.create'])
    expect(ok.body.sql[0]).toMatch(/^create table "data"\."checked"/i)
    const failing = clone(next)
    failing.collections
      .find((c: any) => c.name === 'posts')
      .fields.push({ name: 'summary', type: 'text', required: true })
    const refused = await s.api('POST', '/api/admin/schema/plan', { schema: failing, check: true })
    expect(refused.status).toBe(409)
    expect(await exported()).toEqual(before)
  })

  it('refuses an apply whose plan changed since it was shown', async () => {
    const next = clone(await exported())
    next.channels.push({ pattern: 'lobby', presence: false, rules: { join: '', send: '' } })
    const p = await plan(next)
    // Someone else changes the instance in between.
    const other = await s.api('POST', '/api/realtime/channels', { pattern: 'elsewhere', rules: {} })
    expect(other.status).toBe(201)
    const r = await apply(next, { expectHash: p.body.hash })
    expect(r.status).toBe(409)
    expect(r.body.details.reason).toBe('plan_changed')
    expect((await exported()).channels.map((c: any) => c.pattern)).toEqual(['elsewhere', 'room:*'])
  })

  it('serializes concurrent applies: both succeed, one after the other, and the schema is whole', async () => {
    const base = clone(await exported())
    const a = clone(base)
    a.collections.push({ name: 'alpha', fields: [{ name: 'x', type: 'text' }], indexes: [], rules: {} })
    const b = clone(base)
    b.collections.push({ name: 'beta', fields: [{ name: 'y', type: 'text' }], indexes: [], rules: {} })
    const [ra, rb] = await Promise.all([
      apply(a, { allowDestructive: true }),
      apply(b, { allowDestructive: true }),
    ])
    expect([ra.status, rb.status]).toEqual([200, 200])
    // The second one planned against the first one's result: it dropped `alpha` (destructive, allowed).
    const names = (await exported()).collections.map((c: any) => c.name)
    expect(names.filter((n: string) => n === 'alpha' || n === 'beta')).toHaveLength(1)
  })

  it('renames a collection by hint, keeping its records, and plans from a given base', async () => {
    const doc = clone(await exported())
    doc.collections.push({ name: 'drafts', fields: [{ name: 'body', type: 'text' }], indexes: [], rules: {} })
    expect((await apply(doc, { allowDestructive: true })).status).toBe(200)
    await createRecord(s, 'drafts', { body: 'kept' })
    const renamed = clone(doc)
    const i = renamed.collections.findIndex((c: any) => c.name === 'drafts')
    renamed.collections[i] = { ...renamed.collections[i], name: 'notes_v2', renamedFrom: 'drafts' }
    const p = await plan(renamed)
    expect(p.body.changes).toEqual([expect.objectContaining({ op: 'collection.rename', destructive: false })])
    expect((await apply(renamed)).status).toBe(200)
    const list = await s.api('GET', '/api/collections/notes_v2/records')
    expect(list.body.items.map((r: any) => r.body)).toEqual(['kept'])
    // From a base: what migrations compare (the previous migration's schema), not the instance.
    const fromBase = await s.api('POST', '/api/admin/schema/plan', { schema: renamed, base: doc })
    expect(fromBase.body.changes.map((c: any) => c.op)).toEqual(['collection.rename'])
  })

  it('tells the other nodes: a second server on the same database sees the applied schema', async () => {
    const other = await startTestServer({ env: { DATABASE_URL: s.dbUrl } })
    try {
      const doc = clone(await exported())
      doc.collections.push({ name: 'shared', fields: [{ name: 'v', type: 'text' }], indexes: [], rules: {} })
      expect((await apply(doc, { allowDestructive: true })).status).toBe(200)
      await expect.poll(async () => (await other.api('GET', '/api/collections/shared')).status).toBe(200)
    } finally {
      await other.close()
    }
  })

  it('changes the built-in users collection where it may, wherever its auth fields are listed', async () => {
    const doc = clone(await exported())
    const users = doc.collections.find((c: any) => c.name === 'users')
    const order = users.fields.map((f: any) => f.name)
    // A file may list only the user's own fields: the auth fields stay, in place.
    users.fields = users.fields.filter((f: any) => !f.system)
    users.fields.push({ name: 'nickname', type: 'text' })
    users.rules.list = ''
    const p = await plan(doc)
    expect(p.body.changes.map((c: any) => `${c.op} ${c.target}`)).toEqual([
      'field.add users.nickname',
      'rules.update users',
    ])
    expect((await apply(doc)).status).toBe(200)
    const after = (await exported()).collections.find((c: any) => c.name === 'users')
    expect(after.fields.map((f: any) => f.name)).toEqual([...order, 'nickname'])
    expect(after.rules.list).toBe('')
    // An auth field cannot be changed through a schema either.
    const edited = await exported()
    edited.collections.find((c: any) => c.name === 'users').fields[0].unique = false
    expect((await plan(edited)).body.changes).toEqual([
      expect.objectContaining({ op: 'field.update', target: 'users.email' }),
    ])
    const refused = await apply(edited)
    expect(refused.status).toBe(400)
    expect(refused.body.code).toBe('INVALID_SCHEMA')
  })

  it('drops collections that relate to each other in one apply', async () => {
    const before = clone(await exported())
    const withCycle = clone(before)
    withCycle.collections.push(
      { name: 'left', fields: [{ name: 'right', type: 'relation', options: { collection: 'right' } }] },
      {
        name: 'right',
        fields: [{ name: 'left', type: 'relation', options: { collection: 'left', multiple: true } }],
      },
    )
    expect((await apply(withCycle)).status).toBe(200)
    const r = await apply(before, { allowDestructive: true })
    expect(r.status).toBe(200)
    expect(r.body.changes.map((c: any) => `${c.op} ${c.target}`)).toEqual([
      'collection.drop left',
      'collection.drop right',
    ])
    expect(await exported()).toEqual(before)
  })

  it('answers 400 for a malformed document and 403 without the schema scope', async () => {
    const bad = await plan({ collections: [{ name: 'x', fields: [{ name: 'a', type: 'nope' }] }] })
    expect(bad.status).toBe(400)
    const dup = await plan({ collections: [{ name: 'x' }, { name: 'x' }] })
    expect(dup.status).toBe(400)
    expect(dup.body.code).toBe('INVALID_SCHEMA')
    const invalid = await apply(
      { collections: [{ name: 'bad name!', fields: [] }] },
      { allowDestructive: true },
    )
    expect(invalid.status).toBe(400)
    // Field options are the collections API's, key by key: unknown keys and nested values are refused, however
    // deep (a value nested thousands of levels once overflowed the stack: 500).
    let deep: unknown = 'leaf'
    for (let i = 0; i < 3000; i++) deep = { a: deep }
    for (const options of [{ nested: deep }, { max: deep }, { shape: 'round' }]) {
      const doc = { collections: [{ name: 'x', fields: [{ name: 'a', type: 'text', options }] }] }
      for (const r of [await plan(doc), await apply(doc, { allowDestructive: true })]) {
        expect(r.status).toBe(400)
        expect(r.body).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
      }
    }
    const key = await createKey(s, ['records:read'])
    expect((await s.api('GET', '/api/admin/schema', undefined, { as: key })).status).toBe(403)
    expect((await s.api('GET', '/api/admin/schema', undefined, { as: 'anon' })).status).toBe(401)
    const schemaKey = await createKey(s, ['schema'])
    expect((await s.api('GET', '/api/admin/schema', undefined, { as: schemaKey })).status).toBe(200)
  })
})

describe('schema migrations', () => {
  /** What the CLI writes into a migration file: sha256 of its schema, keys sorted. */
  const checksumOf = (schema: unknown) => createHash('sha256').update(stableJson(schema)).digest('hex')

  it('records a migration with its changes, once; another checksum for the same id is refused', async () => {
    const doc = clone(await exported())
    doc.collections.push({ name: 'notes', fields: [{ name: 'body', type: 'text' }], indexes: [], rules: {} })
    const first = await s.api('POST', '/api/admin/schema/migrations', {
      id: '0001_notes',
      checksum: checksumOf(doc),
      schema: doc,
      allowDestructive: true,
    })
    expect(first.status).toBe(200)
    expect(first.body.applied).toBe(true)
    // The same content again, with or without its checksum: nothing to do.
    for (const given of [{ checksum: checksumOf(doc) }, {}]) {
      const again = await s.api('POST', '/api/admin/schema/migrations', {
        id: '0001_notes',
        schema: doc,
        ...given,
      })
      expect(again.status).toBe(200)
      expect(again.body.applied).toBe(false)
    }
    // Another content under the same id: the server's own hash differs, whatever checksum the client claims.
    const edited = clone(doc)
    edited.collections.find((c: any) => c.name === 'notes').fields.push({ name: 'extra', type: 'text' })
    const changed = await s.api('POST', '/api/admin/schema/migrations', {
      id: '0001_notes',
      checksum: checksumOf(edited),
      schema: edited,
    })
    expect(changed.status).toBe(409)
    expect(changed.body.details).toMatchObject({ reason: 'checksum_mismatch', given: checksumOf(edited) })
    const list = await s.api('GET', '/api/admin/schema/migrations')
    expect(list.body.items).toEqual([
      { id: '0001_notes', checksum: checksumOf(doc), appliedAt: expect.any(String), appliedBy: 'admin' },
    ])
  })

  it('refuses (400) a checksum that does not match the schema sent, and records nothing', async () => {
    const doc = clone(await exported())
    doc.collections.push({ name: 'forged', fields: [], indexes: [], rules: {} })
    // The checksum of the schema already applied, passed off for another content (or for the same id later).
    const r = await s.api('POST', '/api/admin/schema/migrations', {
      id: '0003_forged',
      checksum: '0'.repeat(64),
      schema: doc,
    })
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { fields: { checksum: { code: 'mismatch' } } },
    })
    expect((await s.api('GET', '/api/admin/schema/migrations')).body.items.map((m: any) => m.id)).toEqual([
      '0001_notes',
    ])
    expect((await exported()).collections.map((c: any) => c.name)).not.toContain('forged')
  })

  it('records nothing when the migration fails', async () => {
    const doc = clone(await exported())
    const posts = doc.collections.find((c: any) => c.name === 'posts')
    posts.fields.push({ name: 'summary', type: 'text', required: true })
    const r = await s.api('POST', '/api/admin/schema/migrations', {
      id: '0002_summary',
      schema: doc,
    })
    expect(r.status).toBe(409)
    const list = await s.api('GET', '/api/admin/schema/migrations')
    expect(list.body.items.map((m: any) => m.id)).toEqual(['0001_notes'])
  })
})
