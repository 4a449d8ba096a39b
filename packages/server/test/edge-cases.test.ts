import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'

/** Regressions for bugs found in review: each test failed before its fix. */
let s: TestServer
beforeAll(async () => {
  s = await startTestServer()
})
afterAll(() => s?.close())

const enc = encodeURIComponent

describe('no existence oracle on create', () => {
  beforeAll(async () => {
    await createCollection(s, {
      name: 'accounts',
      fields: [{ name: 'email', type: 'email', unique: true, hidden: true }],
      rules: { create: "@request.auth.id != ''" },
    })
    // Not hidden: a caller the rule allows may write it, and so learns it is taken (a hidden field is not
    // writable by such a caller at all, see permissions.test.ts).
    await createCollection(s, {
      name: 'signups',
      fields: [
        { name: 'email', type: 'email', unique: true },
        { name: 'name', type: 'text' },
      ],
      rules: { create: "name != 'blocked'" },
    })
  })

  it('a caller the rule denies gets 403 whatever the unique values or ids', async () => {
    const existing = await createRecord(s, 'accounts', { email: 'ceo@corp.com' })
    for (const body of [
      { email: 'ceo@corp.com' },
      { email: 'nobody@corp.com' },
      { id: existing.id, email: 'x@corp.com' },
    ]) {
      expect((await s.api('POST', '/api/collections/accounts/records', body, { as: 'anon' })).status).toBe(
        403,
      )
    }
  })

  it('with a rule on the record, the rule decides before a constraint error is shown', async () => {
    await createRecord(s, 'signups', { email: 'taken@corp.com', name: 'a' })
    const denied = await s.api(
      'POST',
      '/api/collections/signups/records',
      { email: 'taken@corp.com', name: 'blocked' },
      { as: 'anon' },
    )
    expect(denied.status).toBe(403)
    const allowed = await s.api(
      'POST',
      '/api/collections/signups/records',
      { email: 'taken@corp.com', name: 'ok' },
      { as: 'anon' },
    )
    expect(allowed.status).toBe(400)
    expect(allowed.body.details.fields.email.code).toBe('not_unique')
  })
})

describe('delete with on-delete actions', () => {
  it('checks the rule and If-Match once, before the dependents change', async () => {
    await createCollection(s, { name: 'projects', fields: [{ name: 'title', type: 'text' }] })
    await createCollection(s, {
      name: 'members',
      fields: [
        { name: 'user', type: 'text' },
        { name: 'project', type: 'relation', options: { collection: 'projects', onDelete: 'cascade' } },
      ],
    })
    expect(
      (
        await s.api('PATCH', '/api/collections/projects', {
          rules: { delete: 'members_via_project.user ?= @request.query.me' },
        })
      ).status,
    ).toBe(200)
    const p = await createRecord(s, 'projects', { title: 'p' })
    await createRecord(s, 'members', { user: 'alice', project: p.id })
    expect(
      (await s.api('DELETE', `/api/collections/projects/records/${p.id}?me=bob`, undefined, { as: 'anon' }))
        .status,
    ).toBe(404)
    expect(
      (await s.api('DELETE', `/api/collections/projects/records/${p.id}?me=alice`, undefined, { as: 'anon' }))
        .status,
    ).toBe(204)

    await createCollection(s, {
      name: 'selfy',
      fields: [{ name: 'me', type: 'relation', options: { collection: 'selfy' } }],
    })
    const a = await createRecord(s, 'selfy', {})
    await s.api('PATCH', `/api/collections/selfy/records/${a.id}`, { me: a.id })
    expect(
      (
        await s.api('DELETE', `/api/collections/selfy/records/${a.id}`, undefined, {
          headers: { 'if-match': '"2"' },
        })
      ).status,
    ).toBe(204)
  })

  it('a required relation defaults to restrict', async () => {
    await createCollection(s, { name: 'owners2', fields: [{ name: 'n', type: 'text' }] })
    const c = await createCollection(s, {
      name: 'pets2',
      fields: [{ name: 'owner', type: 'relation', required: true, options: { collection: 'owners2' } }],
    })
    expect(c.fields[0].options.onDelete).toBe('restrict')
    const o = await createRecord(s, 'owners2', { n: 'x' })
    await createRecord(s, 'pets2', { owner: o.id })
    const r = await s.api('DELETE', `/api/collections/owners2/records/${o.id}`)
    expect(r.status).toBe(409)
  })
})

describe('idempotency keys', () => {
  it('an expired key runs the request again', async () => {
    await createCollection(s, { name: 'idem', fields: [{ name: 't', type: 'text' }] })
    const h = { 'idempotency-key': 'expiring-key' }
    const first = await s.api('POST', '/api/collections/idem/records', { t: 'a' }, { headers: h })
    expect(first.status).toBe(201)
    const c = new pg.Client({ connectionString: s.dbUrl })
    await c.connect()
    await c.query(
      `UPDATE bastide.idempotency_keys SET created = now() - interval '25 hours' WHERE key = 'expiring-key'`,
    )
    await c.end()
    const again = await s.api('POST', '/api/collections/idem/records', { t: 'a' }, { headers: h })
    expect(again.status).toBe(201)
    expect(again.body.id).not.toBe(first.body.id)
  })

  it('the same key with another If-Match or query string is another request (422)', async () => {
    const rec = await createRecord(s, 'idem', { t: 'v' })
    const h = { 'idempotency-key': 'im-key', 'if-match': '"1"' }
    expect(
      (await s.api('PATCH', `/api/collections/idem/records/${rec.id}`, { t: 'w' }, { headers: h })).status,
    ).toBe(200)
    const other = await s.api(
      'PATCH',
      `/api/collections/idem/records/${rec.id}`,
      { t: 'w' },
      { headers: { ...h, 'if-match': '"2"' } },
    )
    expect(other.status).toBe(422)
  })
})

describe('schema changes', () => {
  it('a relation to the collection itself follows its rename', async () => {
    const c = await createCollection(s, { name: 'nodes', fields: [{ name: 'label', type: 'text' }] })
    const withParent = await s.api('PATCH', '/api/collections/nodes', {
      fields: [...c.fields, { name: 'parent', type: 'relation', options: { collection: 'nodes' } }],
    })
    expect(withParent.status).toBe(200)
    const root = await createRecord(s, 'nodes', { label: 'root' })
    await createRecord(s, 'nodes', { label: 'leaf', parent: root.id })
    const r = await s.api('PATCH', '/api/collections/nodes', { name: 'tree' })
    expect(r.status).toBe(200)
    expect(r.body.fields.find((f: any) => f.name === 'parent').options.collection).toBe('tree')
    const leaf = await s.api(
      'GET',
      `/api/collections/tree/records?filter=${enc("parent.label = 'root'")}&expand=parent`,
    )
    expect(leaf.body.items.map((x: any) => x.expand.parent.label)).toEqual(['root'])
  })

  it('refuses a change that would break another collection’s rules', async () => {
    await createCollection(s, {
      name: 'p8',
      fields: [
        { name: 'status', type: 'text' },
        { name: 'x', type: 'text' },
      ],
    })
    await createCollection(s, {
      name: 'c8',
      fields: [{ name: 'post', type: 'relation', options: { collection: 'p8' } }],
      rules: { list: "post.status = 'pub'" },
    })
    const p8 = (await s.api('GET', '/api/collections/p8')).body
    const r = await s.api('PATCH', '/api/collections/p8', {
      fields: p8.fields.filter((f: any) => f.name !== 'status'),
    })
    expect(r.status).toBe(409)
    expect(r.body.details.brokenRules[0]).toMatchObject({ collection: 'c8', rule: 'list' })
    expect((await s.api('GET', '/api/collections/c8/records', undefined, { as: 'anon' })).status).toBe(200)
  })

  it('renames and turns a relation multiple in one change, keeping the links', async () => {
    await createCollection(s, { name: 'ta', fields: [{ name: 'n', type: 'text' }] })
    const tb = await createCollection(s, {
      name: 'tb',
      fields: [{ name: 'one', type: 'relation', options: { collection: 'ta' } }],
    })
    const a = await createRecord(s, 'ta', { n: 'a' })
    const b = await createRecord(s, 'tb', { one: a.id })
    const f = tb.fields[0]
    const r = await s.api('PATCH', '/api/collections/tb', {
      fields: [{ ...f, name: 'many', options: { ...f.options, multiple: true } }],
    })
    expect(r.status).toBe(200)
    expect((await s.api('GET', `/api/collections/tb/records/${b.id}`)).body.many).toEqual([a.id])
  })

  it('a retype that leaves the query text unchanged does not reuse a stale prepared plan', async () => {
    const c = await createCollection(s, {
      name: 'retyped',
      fields: [{ name: 'n', type: 'text' }],
      rules: { list: '', view: '' },
    })
    const rec = await createRecord(s, 'retyped', { n: '42' })
    // Prime every pooled connection with the prepared statements for this shape.
    await Promise.all(
      Array.from({ length: 12 }, () => s.api('GET', `/api/collections/retyped/records/${rec.id}`)),
    )
    const r = await s.api('PATCH', '/api/collections/retyped', {
      fields: [{ ...c.fields[0], type: 'number' }],
    })
    expect(r.status).toBe(200)
    const after = await Promise.all(
      Array.from({ length: 12 }, () => s.api('GET', `/api/collections/retyped/records/${rec.id}`)),
    )
    expect(after.map((x) => [x.status, x.body.n])).toEqual(Array.from({ length: 12 }, () => [200, 42]))
  })

  it('swaps two field names', async () => {
    const c = await createCollection(s, {
      name: 'swap',
      fields: [
        { name: 'first', type: 'text' },
        { name: 'second', type: 'text' },
      ],
    })
    const rec = await createRecord(s, 'swap', { first: '1', second: '2' })
    const [f1, f2] = c.fields
    const r = await s.api('PATCH', '/api/collections/swap', {
      fields: [
        { ...f1, name: 'second' },
        { ...f2, name: 'first' },
      ],
    })
    expect(r.status).toBe(200)
    expect((await s.api('GET', `/api/collections/swap/records/${rec.id}`)).body).toMatchObject({
      first: '2',
      second: '1',
    })
  })

  it('a pattern PostgreSQL cannot read is a 400, not a 409', async () => {
    const r = await s.api('POST', '/api/collections', {
      name: 'pat',
      fields: [{ name: 't', type: 'text', options: { pattern: '^\\p{L}+$' } }],
    })
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('INVALID_SCHEMA')
  })
})

describe('records', () => {
  it('back-relations through a multiple relation are capped per parent, not overall', async () => {
    await createCollection(s, {
      name: 'g9',
      fields: [{ name: 'n', type: 'text' }],
      rules: { list: '', view: '' },
    })
    await createCollection(s, {
      name: 'i9',
      fields: [{ name: 'groups', type: 'relation', options: { collection: 'g9', multiple: true } }],
      rules: { list: '', view: '' },
    })
    const g1 = await createRecord(s, 'g9', { n: 'g1' })
    const g2 = await createRecord(s, 'g9', { n: 'g2' })
    await s.api('POST', '/api/batch', {
      requests: Array.from({ length: 100 }, () => ({
        method: 'POST',
        path: '/api/collections/i9/records',
        body: { groups: [g1.id] },
      })),
    })
    await s.api('POST', '/api/batch', {
      requests: Array.from({ length: 20 }, () => ({
        method: 'POST',
        path: '/api/collections/i9/records',
        body: { groups: [g1.id] },
      })),
    })
    await createRecord(s, 'i9', { groups: [g2.id, g1.id] })
    const r = await s.api('GET', '/api/collections/g9/records?sort=n&expand=i9_via_groups')
    expect(r.body.items.map((g: any) => [g.n, g.expand.i9_via_groups.length])).toEqual([
      ['g1', 100],
      ['g2', 1],
    ])
  })

  it('the same id in two letter cases is a duplicate (400)', async () => {
    const g = await createRecord(s, 'g9', { n: 'x' })
    const r = await s.api('POST', '/api/collections/i9/records', { groups: [g.id, g.id.toUpperCase()] })
    expect(r.status).toBe(400)
    expect(r.body.details.fields.groups.code).toBe('duplicate')
  })

  it('create rules see @request.query', async () => {
    await createCollection(s, {
      name: 'qc',
      fields: [{ name: 't', type: 'text' }],
      rules: { create: "@request.query.token = 'abc'" },
    })
    expect(
      (await s.api('POST', '/api/collections/qc/records?token=abc', { t: 'x' }, { as: 'anon' })).status,
    ).toBe(201)
    expect(
      (await s.api('POST', '/api/collections/qc/records?token=no', { t: 'x' }, { as: 'anon' })).status,
    ).toBe(403)
  })

  it('refuses dates that are not on the calendar', async () => {
    await createCollection(s, { name: 'dates', fields: [{ name: 'd', type: 'date' }] })
    for (const d of ['2023-02-31', '2023-02-29T10:00:00Z', '2024-13-01', '2024-01-01T24:00:00Z']) {
      expect((await s.api('POST', '/api/collections/dates/records', { d })).status, d).toBe(400)
    }
    expect((await s.api('POST', '/api/collections/dates/records', { d: '2024-02-29' })).status).toBe(201)
    expect(
      (await s.api('GET', `/api/collections/dates/records?filter=${enc("d > '2023-02-31'")}`)).status,
    ).toBe(400)
  })

  it('limits filter paths to 3 relations, back-relations included', async () => {
    await createCollection(s, {
      name: 'nd',
      fields: [{ name: 'parent', type: 'relation', options: { collection: 'nd' } }],
      rules: { list: '' },
    })
    const f = `${'nd_via_parent.'.repeat(4)}id != null`
    const r = await s.api('GET', `/api/collections/nd/records?filter=${enc(f)}`, undefined, { as: 'anon' })
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('INVALID_FILTER')
  })

  it('PATCH on a locked collection says 404 whatever the body (no schema probing)', async () => {
    await createCollection(s, { name: 'locked12', fields: [{ name: 'salary', type: 'number' }] })
    const rec = await createRecord(s, 'locked12', { salary: 1 })
    for (const body of [{ salary: 'x' }, { guess: 1 }, { salary: 2 }]) {
      const r = await s.api('PATCH', `/api/collections/locked12/records/${rec.id}`, body, { as: 'anon' })
      expect(r.status).toBe(404)
    }
  })
})
