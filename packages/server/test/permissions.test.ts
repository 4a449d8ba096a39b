import { io as connect, type Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createCollection,
  createKey,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

/**
 * The permission matrix, kept as data: who × collection rules × action → status.
 * Users (sessions/JWTs) join the `as` column when the auth issue lands.
 */
type As = 'anon' | 'admin' | 'read' | 'write' | 'schema'
type Action = 'list' | 'view' | 'create' | 'update' | 'delete'
interface Row {
  readonly as: As
  readonly coll: 'locked' | 'open' | 'public_read' | 'conditional'
  readonly action: Action
  /** Which record the action targets (conditional: published or draft). */
  readonly on?: 'published' | 'draft'
  readonly body?: Record<string, unknown>
  readonly expect: number
  /** For list: how many items are visible. */
  readonly items?: number
}

const RULES = {
  locked: {},
  open: { list: '', view: '', create: '', update: '', delete: '' },
  public_read: { list: '', view: '' },
  conditional: {
    list: "status = 'published'",
    view: "status = 'published'",
    create: "@request.body.status = 'draft'",
    update: "status = 'draft' || @request.body.title = 'magic'",
    delete: "status = 'draft'",
  },
} as const

const M: readonly Row[] = [
  // Anonymous: rules decide; locked lists/creates are 403, hidden records are 404.
  { as: 'anon', coll: 'locked', action: 'list', expect: 403 },
  { as: 'anon', coll: 'locked', action: 'view', expect: 404 },
  { as: 'anon', coll: 'locked', action: 'create', expect: 403 },
  { as: 'anon', coll: 'locked', action: 'update', expect: 404 },
  { as: 'anon', coll: 'locked', action: 'delete', expect: 404 },
  { as: 'anon', coll: 'open', action: 'list', expect: 200, items: 2 },
  { as: 'anon', coll: 'open', action: 'view', expect: 200 },
  { as: 'anon', coll: 'open', action: 'create', expect: 201 },
  { as: 'anon', coll: 'open', action: 'update', expect: 200 },
  { as: 'anon', coll: 'open', action: 'delete', expect: 204 },
  { as: 'anon', coll: 'public_read', action: 'list', expect: 200, items: 2 },
  { as: 'anon', coll: 'public_read', action: 'view', expect: 200 },
  { as: 'anon', coll: 'public_read', action: 'create', expect: 403 },
  { as: 'anon', coll: 'public_read', action: 'update', expect: 404 },
  { as: 'anon', coll: 'public_read', action: 'delete', expect: 404 },
  { as: 'anon', coll: 'conditional', action: 'list', expect: 200, items: 1 },
  { as: 'anon', coll: 'conditional', action: 'view', on: 'published', expect: 200 },
  { as: 'anon', coll: 'conditional', action: 'view', on: 'draft', expect: 404 },
  { as: 'anon', coll: 'conditional', action: 'create', body: { status: 'draft' }, expect: 201 },
  { as: 'anon', coll: 'conditional', action: 'create', body: { status: 'published' }, expect: 403 },
  { as: 'anon', coll: 'conditional', action: 'update', on: 'draft', expect: 200 },
  { as: 'anon', coll: 'conditional', action: 'update', on: 'published', expect: 404 },
  {
    as: 'anon',
    coll: 'conditional',
    action: 'update',
    on: 'published',
    body: { title: 'magic' },
    expect: 200,
  },
  { as: 'anon', coll: 'conditional', action: 'delete', on: 'draft', expect: 204 },
  { as: 'anon', coll: 'conditional', action: 'delete', on: 'published', expect: 404 },
  // The admin key bypasses every rule.
  ...(['locked', 'conditional'] as const).flatMap((coll) => [
    { as: 'admin' as const, coll, action: 'list' as const, expect: 200, items: 2 },
    { as: 'admin' as const, coll, action: 'view' as const, on: 'draft' as const, expect: 200 },
    { as: 'admin' as const, coll, action: 'create' as const, body: { status: 'published' }, expect: 201 },
    { as: 'admin' as const, coll, action: 'update' as const, on: 'published' as const, expect: 200 },
    { as: 'admin' as const, coll, action: 'delete' as const, on: 'published' as const, expect: 204 },
  ]),
  // Scoped keys bypass rules only within their scopes.
  { as: 'read', coll: 'locked', action: 'list', expect: 200, items: 2 },
  { as: 'read', coll: 'locked', action: 'view', expect: 200 },
  { as: 'read', coll: 'locked', action: 'create', expect: 403 },
  { as: 'read', coll: 'locked', action: 'update', expect: 403 },
  { as: 'read', coll: 'locked', action: 'delete', expect: 403 },
  { as: 'write', coll: 'locked', action: 'list', expect: 403 },
  { as: 'write', coll: 'locked', action: 'view', expect: 403 },
  { as: 'write', coll: 'locked', action: 'create', expect: 201 },
  { as: 'write', coll: 'conditional', action: 'update', on: 'published', expect: 200 },
  { as: 'write', coll: 'locked', action: 'delete', expect: 204 },
  { as: 'schema', coll: 'open', action: 'list', expect: 403 },
  { as: 'schema', coll: 'open', action: 'create', expect: 403 },
]

let s: TestServer
const tokens: Record<As, string> = { anon: 'anon', admin: 'admin', read: '', write: '', schema: '' }

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  tokens.read = await createKey(s, ['records:read'])
  tokens.write = await createKey(s, ['records:write'])
  tokens.schema = await createKey(s, ['schema'])
  for (const [name, rules] of Object.entries(RULES)) {
    await createCollection(s, {
      name,
      fields: [
        { name: 'title', type: 'text' },
        { name: 'status', type: 'select', options: { values: ['draft', 'published'] } },
      ],
      rules,
    })
  }
})
afterAll(() => s?.close())

describe('permission matrix', () => {
  it.each(
    M.map((r) => [
      `${r.as} ${r.action} ${r.coll}${r.on ? ` (${r.on})` : ''}${r.body ? ` ${JSON.stringify(r.body)}` : ''} → ${r.expect}`,
      r,
    ]),
  )('%s', async (_, row) => {
    // Fresh fixtures per row: one published and one draft record.
    const base = `/api/collections/${row.coll}/records`
    const existing = (await s.api('GET', `${base}?perPage=500`)).body.items
    for (const r of existing) await s.api('DELETE', `${base}/${r.id}`)
    const published = await createRecord(s, row.coll, { title: 'p', status: 'published' })
    const draft = await createRecord(s, row.coll, { title: 'd', status: 'draft' })
    const target = row.on === 'draft' ? draft : published
    const as = tokens[row.as]
    let r: Awaited<ReturnType<TestServer['api']>>
    switch (row.action) {
      case 'list':
        r = await s.api('GET', base, undefined, { as })
        break
      case 'view':
        r = await s.api('GET', `${base}/${target.id}`, undefined, { as })
        break
      case 'create':
        r = await s.api('POST', base, row.body ?? { title: 'n', status: 'draft' }, { as })
        break
      case 'update':
        r = await s.api('PATCH', `${base}/${target.id}`, row.body ?? { title: 'changed' }, { as })
        break
      case 'delete':
        r = await s.api('DELETE', `${base}/${target.id}`, undefined, { as })
        break
    }
    expect(r.status, JSON.stringify(r.body)).toBe(row.expect)
    if (row.items !== undefined) expect(r.body.items).toHaveLength(row.items)
    // A denied write changes nothing.
    if (r.status >= 400 && row.action !== 'list' && row.action !== 'view') {
      const after = (await s.api('GET', `${base}?perPage=500&sort=title`)).body.items
      expect(after.map((x: any) => [x.title, x.status, x.version])).toEqual([
        ['d', 'draft', 1],
        ['p', 'published', 1],
      ])
    }
  })
})

describe('hidden fields and oracles', () => {
  let secretRec: any
  beforeAll(async () => {
    await createCollection(s, {
      name: 'vault',
      fields: [
        { name: 'pin', type: 'text', hidden: true },
        { name: 'label', type: 'text' },
      ],
      rules: { list: '', view: '' },
    })
    await createCollection(s, {
      name: 'refs',
      fields: [
        { name: 'v', type: 'relation', options: { collection: 'vault' } },
        { name: 'locked', type: 'relation', options: { collection: 'locked' } },
      ],
      rules: { list: '', view: '' },
    })
    secretRec = await createRecord(s, 'vault', { pin: '1234', label: 'x' })
    const lockedRec = await createRecord(s, 'locked', { title: 'secret', status: 'draft' })
    await createRecord(s, 'refs', { v: secretRec.id, locked: lockedRec.id })
  })

  it('never returns hidden fields to non-admins, and returns them to the admin', async () => {
    const anon = await s.api('GET', `/api/collections/vault/records/${secretRec.id}`, undefined, {
      as: 'anon',
    })
    expect(anon.body).not.toHaveProperty('pin')
    const admin = await s.api('GET', `/api/collections/vault/records/${secretRec.id}`)
    expect(admin.body.pin).toBe('1234')
  })

  it.each([
    ['filter', `filter=${encodeURIComponent("pin = '1234'")}`, 'vault'],
    ['filter through a relation', `filter=${encodeURIComponent("v.pin = '1234'")}`, 'refs'],
    ['sort', 'sort=pin', 'vault'],
    ['fields', 'fields=pin', 'vault'],
    ['fields through expand', 'fields=v.pin', 'refs'],
  ])('refuses a non-admin %s on a hidden field (no boolean oracle)', async (_, q, coll) => {
    const r = await s.api('GET', `/api/collections/${coll}/records?${q}`, undefined, { as: 'anon' })
    expect(r.status).toBe(400)
    expect((await s.api('GET', `/api/collections/${coll}/records?${q}`)).status).toBe(200)
  })

  it('related rows the caller cannot view neither expand nor match filters', async () => {
    const exp = await s.api('GET', '/api/collections/refs/records?expand=locked', undefined, { as: 'anon' })
    expect(exp.status).toBe(200)
    expect(exp.body.items[0].expand?.locked).toBeUndefined()
    const probe = await s.api(
      'GET',
      `/api/collections/refs/records?filter=${encodeURIComponent("locked.title = 'secret'")}`,
      undefined,
      { as: 'anon' },
    )
    expect(probe.body.items).toHaveLength(0)
    const admin = await s.api(
      'GET',
      `/api/collections/refs/records?filter=${encodeURIComponent("locked.title = 'secret'")}&expand=locked`,
    )
    expect(admin.body.items).toHaveLength(1)
    expect(admin.body.items[0].expand.locked.title).toBe('secret')
  })
})

describe('hidden fields are admin-only, writes included', () => {
  const base = '/api/collections/profiles/records'
  let other: any
  beforeAll(async () => {
    await createCollection(s, {
      name: 'profiles',
      fields: [
        { name: 'nick', type: 'text' },
        { name: 'ssn', type: 'text', unique: true, hidden: true },
        { name: 'tenant', type: 'text', hidden: true },
        { name: 'slug', type: 'text' },
      ],
      indexes: [{ fields: ['slug', 'tenant'], unique: true }],
      rules: { list: '', view: '', create: '', update: '' },
    })
    await createRecord(s, 'profiles', { nick: 'a', ssn: '078-05-1120', tenant: 't1', slug: 'home' })
    other = await createRecord(s, 'profiles', { nick: 'b', tenant: 't1', slug: 'away' })
  })
  const count = async () => (await s.api('GET', `${base}?count=true`)).body.totalItems

  it('a non-admin create, update or batch that sets a hidden field is refused (400 read_only)', async () => {
    const before = await count()
    const writes = [
      () => s.api('POST', base, { nick: 'c', ssn: 'new' }, { as: 'anon' }),
      () => s.api('PATCH', `${base}/${other.id}`, { ssn: 'new' }, { as: 'anon' }),
      () => s.api('PATCH', `${base}/${other.id}`, { tenant: 't2' }, { as: 'anon' }),
      () =>
        s.api(
          'POST',
          '/api/batch',
          { requests: [{ method: 'POST', path: base, body: { nick: 'c', tenant: 't2' } }] },
          { as: 'anon' },
        ),
    ]
    for (const w of writes) {
      const r = await w()
      expect(r.status, JSON.stringify(r.body)).toBe(400)
      expect(r.body.code).toBe('VALIDATION_FAILED')
      const [field] = Object.keys(r.body.details.fields)
      expect(['ssn', 'tenant']).toContain(field)
      expect(r.body.details.fields[field!].code).toBe('read_only')
    }
    expect(await count()).toBe(before)
    expect((await s.api('GET', `${base}/${other.id}`)).body).toMatchObject({ ssn: null, tenant: 't1' })
    // Admins and keys with records:write, who may read the field, may write it.
    const key = await createKey(s, ['records:write'])
    expect((await s.api('PATCH', `${base}/${other.id}`, { ssn: 'k' }, { as: key })).status).toBe(200)
    expect((await s.api('PATCH', `${base}/${other.id}`, { ssn: null })).status).toBe(200)
  })

  it('a hidden unique field is no existence oracle: a taken and a free value answer alike', async () => {
    const takenValue = await s.api('POST', base, { nick: 'x', ssn: '078-05-1120' }, { as: 'anon' })
    const freeValue = await s.api('POST', base, { nick: 'x', ssn: '219-09-9999' }, { as: 'anon' })
    expect(takenValue.status).toBe(freeValue.status)
    expect(takenValue.body).toEqual(freeValue.body)
    expect(JSON.stringify(takenValue.body)).not.toContain('not_unique')
  })

  it('a unique violation involving a field the caller cannot read is a bare 409 CONFLICT', async () => {
    // `other` shares taken's hidden tenant: moving it onto taken's slug breaks the (slug, tenant) index.
    const r = await s.api('PATCH', `${base}/${other.id}`, { slug: 'home' }, { as: 'anon' })
    expect(r.status).toBe(409)
    expect(r.body.code).toBe('CONFLICT')
    expect(r.body.details).toBeUndefined()
    expect(JSON.stringify(r.body)).not.toMatch(/tenant|slug/)
    // Admins read the field, so they are told which one.
    const admin = await s.api('POST', base, { nick: 'y', ssn: '078-05-1120' })
    expect(admin.status).toBe(400)
    expect(admin.body.details.fields.ssn.code).toBe('not_unique')
  })
})

describe('denied callers learn nothing', () => {
  it('a denied create answers 403 before validating the body', async () => {
    const r = await s.api('POST', '/api/collections/locked/records', { bogus: 1, title: 42 }, { as: 'anon' })
    expect(r.status).toBe(403)
    expect(JSON.stringify(r.body)).not.toContain('bogus')
  })
})

describe('keys and schema access', () => {
  it('schema endpoints need the schema scope; bad tokens are 401, not anonymous', async () => {
    expect((await s.api('GET', '/api/collections', undefined, { as: 'anon' })).status).toBe(401)
    expect((await s.api('GET', '/api/collections', undefined, { as: tokens.read })).status).toBe(403)
    expect((await s.api('GET', '/api/collections', undefined, { as: tokens.schema })).status).toBe(200)
    expect(
      (
        await s.api('GET', '/api/collections/open/records', undefined, {
          as: 'bst_sk_not_a_real_key_at_all_000000000',
        })
      ).status,
    ).toBe(401)
    expect((await s.api('GET', '/api/collections/open/records', undefined, { as: 'garbage' })).status).toBe(
      401,
    )
  })

  it('stores keys hashed, shows the secret once, lists without it, revokes', async () => {
    const created = await s.api('POST', '/api/admin/keys', { name: 'ci', scopes: ['records:read'] })
    expect(created.status).toBe(201)
    expect(created.body.key).toMatch(/^bst_sk_[A-Za-z0-9]{40}$/)
    const list = await s.api('GET', '/api/admin/keys')
    expect(JSON.stringify(list.body)).not.toContain(created.body.key)
    const pg = (await import('pg')).default
    const c = new pg.Client({ connectionString: s.dbUrl })
    await c.connect()
    const rows = await c.query('SELECT hash FROM bastide.api_keys')
    await c.end()
    expect(JSON.stringify(rows.rows)).not.toContain(created.body.key)
    expect(
      (await s.api('GET', '/api/collections/locked/records', undefined, { as: created.body.key })).status,
    ).toBe(200)
    expect((await s.api('DELETE', `/api/admin/keys/${created.body.id}`)).status).toBe(204)
    expect(
      (await s.api('GET', '/api/collections/locked/records', undefined, { as: created.body.key })).status,
    ).toBe(401)
    // A key cannot mint a stronger key, and scopes are validated.
    const keysOnly = await createKey(s, ['keys'])
    expect(
      (await s.api('POST', '/api/admin/keys', { name: 'x', scopes: ['schema'] }, { as: keysOnly })).status,
    ).toBe(403)
    expect((await s.api('POST', '/api/admin/keys', { name: 'x', scopes: ['root'] })).status).toBe(400)
  })
})

describe('@collection and @request.query in rules', () => {
  beforeAll(async () => {
    await createCollection(s, {
      name: 'memberships',
      fields: [
        { name: 'user', type: 'text' },
        { name: 'team', type: 'text' },
      ],
    })
    await createCollection(s, {
      name: 'teamdocs',
      fields: [{ name: 'team', type: 'text' }],
      rules: {
        list: '@collection.memberships.team = team && @collection.memberships.user = @request.query.u',
      },
    })
    await createCollection(s, {
      name: 'loosedocs',
      fields: [{ name: 'team', type: 'text' }],
      rules: {
        list: '@collection.memberships:m1.team = team && @collection.memberships:m2.user = @request.query.u',
      },
    })
    await createRecord(s, 'memberships', { user: 'u1', team: 'A' })
    await createRecord(s, 'memberships', { user: 'u2', team: 'B' })
    for (const c of ['teamdocs', 'loosedocs']) {
      await createRecord(s, c, { team: 'A' })
      await createRecord(s, c, { team: 'B' })
    }
  })

  it('conditions on one alias hold on the same row', async () => {
    const r = await s.api('GET', '/api/collections/teamdocs/records?u=u1&sort=team', undefined, {
      as: 'anon',
    })
    expect(r.status).toBe(200)
    expect(r.body.items.map((x: any) => x.team)).toEqual(['A'])
    const none = await s.api('GET', '/api/collections/teamdocs/records?u=nobody', undefined, { as: 'anon' })
    expect(none.body.items).toEqual([])
  })

  it('distinct aliases match independent rows', async () => {
    const r = await s.api('GET', '/api/collections/loosedocs/records?u=u1&sort=team', undefined, {
      as: 'anon',
    })
    expect(r.body.items.map((x: any) => x.team)).toEqual(['A', 'B'])
  })
})

/**
 * Storage, kept as data too: who × bucket rules × action → status. `owner` uploaded the object the row acts
 * on; `user` is someone else. Keys: `sread` (storage:read), `swrite` (storage:write), `nostore` (records
 * scopes only: refused on storage whatever the bucket says). A list answers 200 with the objects visible.
 */
type StorageAs = 'anon' | 'user' | 'owner' | 'admin' | 'sread' | 'swrite' | 'nostore'
type StorageAction = 'read' | 'list' | 'write' | 'overwrite' | 'delete'
interface StorageRow {
  readonly as: StorageAs
  readonly bucket: 'locked' | 'open' | 'owned' | 'pub'
  readonly action: StorageAction
  readonly expect: number
  readonly items?: number
}

const BUCKETS = {
  locked: { rules: {} },
  open: { rules: { read: '', write: '', delete: '' } },
  owned: {
    rules: {
      read: 'owner = @request.auth.id',
      write: "@request.auth.id != '' && owner = @request.auth.id",
      delete: 'owner = @request.auth.id',
    },
  },
  pub: { public: true, rules: {} },
} as const

const S: readonly StorageRow[] = [
  // Locked: nobody but admins and keys within their scopes; hidden objects are 404, listings empty.
  ...(['anon', 'user', 'owner'] as const).flatMap((as) => [
    { as, bucket: 'locked' as const, action: 'read' as const, expect: 404 },
    { as, bucket: 'locked' as const, action: 'list' as const, expect: 200, items: 0 },
    { as, bucket: 'locked' as const, action: 'write' as const, expect: 403 },
    { as, bucket: 'locked' as const, action: 'overwrite' as const, expect: 403 },
    { as, bucket: 'locked' as const, action: 'delete' as const, expect: 404 },
  ]),
  // Open: everyone.
  ...(['anon', 'user'] as const).flatMap((as) => [
    { as, bucket: 'open' as const, action: 'read' as const, expect: 200 },
    { as, bucket: 'open' as const, action: 'list' as const, expect: 200, items: 1 },
    { as, bucket: 'open' as const, action: 'write' as const, expect: 201 },
    { as, bucket: 'open' as const, action: 'overwrite' as const, expect: 200 },
    { as, bucket: 'open' as const, action: 'delete' as const, expect: 204 },
  ]),
  // Owner-only rules: the owner does everything, another user writes only new objects, anonymous nothing.
  { as: 'anon', bucket: 'owned', action: 'read', expect: 404 },
  { as: 'anon', bucket: 'owned', action: 'list', expect: 200, items: 0 },
  { as: 'anon', bucket: 'owned', action: 'write', expect: 403 },
  { as: 'anon', bucket: 'owned', action: 'overwrite', expect: 403 },
  { as: 'anon', bucket: 'owned', action: 'delete', expect: 404 },
  { as: 'user', bucket: 'owned', action: 'read', expect: 404 },
  { as: 'user', bucket: 'owned', action: 'list', expect: 200, items: 0 },
  { as: 'user', bucket: 'owned', action: 'write', expect: 201 },
  { as: 'user', bucket: 'owned', action: 'overwrite', expect: 403 },
  { as: 'user', bucket: 'owned', action: 'delete', expect: 404 },
  { as: 'owner', bucket: 'owned', action: 'read', expect: 200 },
  { as: 'owner', bucket: 'owned', action: 'list', expect: 200, items: 1 },
  { as: 'owner', bucket: 'owned', action: 'write', expect: 201 },
  { as: 'owner', bucket: 'owned', action: 'overwrite', expect: 200 },
  { as: 'owner', bucket: 'owned', action: 'delete', expect: 204 },
  // A public bucket: anyone reads and lists; its (locked) write and delete rules still hold.
  { as: 'anon', bucket: 'pub', action: 'read', expect: 200 },
  { as: 'anon', bucket: 'pub', action: 'list', expect: 200, items: 1 },
  { as: 'anon', bucket: 'pub', action: 'write', expect: 403 },
  { as: 'anon', bucket: 'pub', action: 'delete', expect: 404 },
  { as: 'owner', bucket: 'pub', action: 'delete', expect: 404 },
  // Admins bypass every rule.
  ...(['locked', 'owned'] as const).flatMap((bucket) => [
    { as: 'admin' as const, bucket, action: 'read' as const, expect: 200 },
    { as: 'admin' as const, bucket, action: 'list' as const, expect: 200, items: 1 },
    { as: 'admin' as const, bucket, action: 'write' as const, expect: 201 },
    { as: 'admin' as const, bucket, action: 'overwrite' as const, expect: 200 },
    { as: 'admin' as const, bucket, action: 'delete' as const, expect: 204 },
  ]),
  // Keys bypass rules within their storage scopes and are refused outside them, even where all may.
  { as: 'sread', bucket: 'locked', action: 'read', expect: 200 },
  { as: 'sread', bucket: 'locked', action: 'list', expect: 200, items: 1 },
  { as: 'sread', bucket: 'locked', action: 'write', expect: 403 },
  { as: 'sread', bucket: 'open', action: 'write', expect: 403 },
  { as: 'sread', bucket: 'open', action: 'delete', expect: 403 },
  { as: 'swrite', bucket: 'locked', action: 'read', expect: 403 },
  { as: 'swrite', bucket: 'open', action: 'list', expect: 403 },
  { as: 'swrite', bucket: 'locked', action: 'write', expect: 201 },
  { as: 'swrite', bucket: 'owned', action: 'overwrite', expect: 200 },
  { as: 'swrite', bucket: 'locked', action: 'delete', expect: 204 },
  ...(['open', 'pub'] as const).flatMap((bucket) => [
    { as: 'nostore' as const, bucket, action: 'read' as const, expect: 403 },
    { as: 'nostore' as const, bucket, action: 'list' as const, expect: 403 },
    { as: 'nostore' as const, bucket, action: 'write' as const, expect: 403 },
    { as: 'nostore' as const, bucket, action: 'delete' as const, expect: 403 },
  ]),
]

describe('storage permission matrix', () => {
  const who: Record<StorageAs, string> = {
    anon: 'anon',
    admin: 'admin',
    user: '',
    owner: '',
    sread: '',
    swrite: '',
    nostore: '',
  }
  let ownerId = ''
  let n = 0
  const object = (bucket: string, key: string) => `/api/storage/buckets/${bucket}/objects/${key}`
  const put = (bucket: string, key: string, as: string) =>
    s.api('PUT', object(bucket, key), 'bytes', { as, headers: { 'content-type': 'text/plain' } })

  beforeAll(async () => {
    const user = await signUp(s, 'matrix-user@example.com')
    const owner = await signUp(s, 'matrix-owner@example.com')
    ownerId = owner.id
    Object.assign(who, {
      user: user.jwt,
      owner: owner.jwt,
      sread: await createKey(s, ['storage:read']),
      swrite: await createKey(s, ['storage:write']),
      nostore: await createKey(s, ['records:read', 'records:write']),
    })
    for (const [name, def] of Object.entries(BUCKETS)) {
      const r = await s.api('POST', '/api/storage/buckets', { name, ...def })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
    }
  })

  it.each(S.map((r) => [`${r.as} ${r.action} ${r.bucket} → ${r.expect}`, r]))('%s', async (_, row) => {
    // Fresh fixture per row: the bucket holds one object, doc.txt, owned by `owner`.
    const listed = await s.api('GET', `/api/storage/buckets/${row.bucket}/objects`)
    for (const o of listed.body.items) await s.api('DELETE', object(row.bucket, o.key))
    expect((await put(row.bucket, 'doc.txt', 'admin')).status).toBe(201)
    await sqlAsAdmin("UPDATE bastide.objects SET owner = $1 WHERE key = 'doc.txt'", [ownerId])
    const as = who[row.as]
    let r: Awaited<ReturnType<TestServer['api']>>
    switch (row.action) {
      case 'read':
        r = await s.api('GET', object(row.bucket, 'doc.txt'), undefined, { as })
        break
      case 'list':
        r = await s.api('GET', `/api/storage/buckets/${row.bucket}/objects`, undefined, { as })
        break
      case 'write':
        r = await put(row.bucket, `new-${++n}.txt`, as)
        break
      case 'overwrite':
        r = await put(row.bucket, 'doc.txt', as)
        break
      case 'delete':
        r = await s.api('DELETE', object(row.bucket, 'doc.txt'), undefined, { as })
        break
    }
    expect(r.status, JSON.stringify(r.body)).toBe(row.expect)
    if (row.items !== undefined) expect(r.body.items).toHaveLength(row.items)
    // A refused write or delete changes nothing.
    if (r.status >= 400 && row.action !== 'read' && row.action !== 'list') {
      const after = (await s.api('GET', `/api/storage/buckets/${row.bucket}/objects`)).body.items
      expect(after.map((o: any) => [o.key, o.version, o.owner])).toEqual([['doc.txt', 1, ownerId]])
    }
  })
})

/** One statement as the database owner: fixtures no API call can make (an object owned by a user). */
async function sqlAsAdmin(text: string, values: unknown[]): Promise<void> {
  const pg = (await import('pg')).default
  const c = new pg.Client({ connectionString: s.dbUrl })
  await c.connect()
  try {
    await c.query(text, values)
  } finally {
    await c.end()
  }
}

/**
 * Channels, as data: who × channel definition × action → the ack. `member:<owner id>` is the owner's own
 * channel (anyone signed in joins, only the owner sends). A channel no definition covers is locked. Keys:
 * `kread` (records:read: listens), `kwrite` (records:read and records:write: also sends and publishes
 * presence), `knone` (no records scope: refused everywhere, even on an open channel).
 */
type ChannelAs = 'anon' | 'user' | 'owner' | 'admin' | 'kread' | 'kwrite' | 'knone'
interface ChannelRow {
  readonly as: ChannelAs
  readonly channel: 'locked' | 'open' | 'member' | 'undefined'
  readonly action: 'join' | 'send' | 'presence'
  readonly expect: 'ok' | 'FORBIDDEN'
}

const CHANNELS = [
  { pattern: 'locked:*', rules: { join: null, send: null } },
  { pattern: 'open:*', rules: { join: '', send: '' } },
  { pattern: 'member:*', rules: { join: "@request.auth.id != ''", send: 'param = @request.auth.id' } },
] as const

const C: readonly ChannelRow[] = [
  ...(['anon', 'user', 'owner'] as const).flatMap((as) =>
    (['join', 'send', 'presence'] as const).flatMap((action) => [
      { as, channel: 'locked' as const, action, expect: 'FORBIDDEN' as const },
      { as, channel: 'undefined' as const, action, expect: 'FORBIDDEN' as const },
      { as, channel: 'open' as const, action, expect: 'ok' as const },
    ]),
  ),
  { as: 'anon', channel: 'member', action: 'join', expect: 'FORBIDDEN' },
  { as: 'anon', channel: 'member', action: 'send', expect: 'FORBIDDEN' },
  { as: 'anon', channel: 'member', action: 'presence', expect: 'FORBIDDEN' },
  { as: 'user', channel: 'member', action: 'join', expect: 'ok' },
  { as: 'user', channel: 'member', action: 'send', expect: 'FORBIDDEN' },
  // Presence has no rule of its own: a member may publish a state.
  { as: 'user', channel: 'member', action: 'presence', expect: 'ok' },
  { as: 'owner', channel: 'member', action: 'join', expect: 'ok' },
  { as: 'owner', channel: 'member', action: 'send', expect: 'ok' },
  { as: 'owner', channel: 'member', action: 'presence', expect: 'ok' },
  ...(['locked', 'undefined', 'member'] as const).flatMap((channel) => [
    { as: 'admin' as const, channel, action: 'join' as const, expect: 'ok' as const },
    { as: 'admin' as const, channel, action: 'send' as const, expect: 'ok' as const },
    { as: 'admin' as const, channel, action: 'presence' as const, expect: 'ok' as const },
    { as: 'kread' as const, channel, action: 'join' as const, expect: 'ok' as const },
    { as: 'kread' as const, channel, action: 'send' as const, expect: 'FORBIDDEN' as const },
    { as: 'kread' as const, channel, action: 'presence' as const, expect: 'FORBIDDEN' as const },
    { as: 'kwrite' as const, channel, action: 'join' as const, expect: 'ok' as const },
    { as: 'kwrite' as const, channel, action: 'send' as const, expect: 'ok' as const },
    { as: 'kwrite' as const, channel, action: 'presence' as const, expect: 'ok' as const },
  ]),
  ...(['open', 'locked'] as const).flatMap((channel) => [
    { as: 'knone' as const, channel, action: 'join' as const, expect: 'FORBIDDEN' as const },
    { as: 'knone' as const, channel, action: 'send' as const, expect: 'FORBIDDEN' as const },
    { as: 'knone' as const, channel, action: 'presence' as const, expect: 'FORBIDDEN' as const },
  ]),
]

describe('channel permission matrix', () => {
  const who: Record<ChannelAs, string | undefined> = {
    anon: undefined,
    admin: ADMIN_KEY,
    user: '',
    owner: '',
    kread: '',
    kwrite: '',
    knone: '',
  }
  let ownerId = ''
  const sockets: Socket[] = []

  beforeAll(async () => {
    const user = await signUp(s, 'channel-user@example.com')
    const owner = await signUp(s, 'channel-owner@example.com')
    ownerId = owner.id
    Object.assign(who, {
      user: user.jwt,
      owner: owner.jwt,
      kread: await createKey(s, ['records:read']),
      kwrite: await createKey(s, ['records:read', 'records:write']),
      knone: await createKey(s, ['storage:read', 'storage:write']),
    })
    for (const def of CHANNELS) {
      const r = await s.api('POST', '/api/realtime/channels', def)
      expect(r.status, JSON.stringify(r.body)).toBe(201)
    }
  })
  afterAll(() => {
    for (const so of sockets) so.disconnect()
  })

  async function connectAs(token: string | undefined): Promise<Socket> {
    const so = connect(s.bastide.url, {
      path: '/realtime',
      transports: ['websocket'],
      reconnection: false,
      ...(token ? { auth: { token } } : {}),
    })
    sockets.push(so)
    await new Promise<void>((resolve, reject) => {
      so.once('connect', () => resolve())
      so.once('connect_error', reject)
    })
    return so
  }

  it.each(C.map((r) => [`${r.as} ${r.action} ${r.channel} → ${r.expect}`, r]))('%s', async (_, row) => {
    const so = await connectAs(who[row.as])
    const call = (event: string, payload: unknown) => so.timeout(5000).emitWithAck(event, payload)
    const channel = row.channel === 'member' ? `member:${ownerId}` : `${row.channel}:1`
    let ack = await call('join', { channel })
    if (row.action === 'send') ack = await call('broadcast', { channel, event: 'e', payload: 1 })
    if (row.action === 'presence') ack = await call('presence:track', { channel, state: { on: true } })
    if (row.expect === 'ok') expect(ack, JSON.stringify(ack)).toMatchObject({ ok: true })
    else expect(ack, JSON.stringify(ack)).toMatchObject({ ok: false, error: { code: row.expect } })
    so.disconnect()
  })
})
