import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
beforeAll(async () => {
  s = await startTestServer()
})
afterAll(() => s?.close())

async function columns(table: string) {
  const c = new pg.Client({ connectionString: s.dbUrl })
  await c.connect()
  const r = await c.query(
    `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'data' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  )
  await c.end()
  return Object.fromEntries(
    r.rows.map((x) => [x.column_name, { type: x.data_type, nullable: x.is_nullable === 'YES' }]),
  )
}

describe('collections are real tables', () => {
  it('creates a table with real columns, NOT NULL, defaults rules to null and gives fields ids', async () => {
    const c = await createCollection(s, {
      name: 'things',
      fields: [
        { name: 'title', type: 'text', required: true, options: { min: 2, max: 10, pattern: '^[a-z ]+$' } },
        { name: 'n', type: 'number', options: { integer: true, min: 0, max: 100 } },
        { name: 'ratio', type: 'number' },
        { name: 'ok', type: 'bool' },
        { name: 'when', type: 'date' },
        { name: 'mail', type: 'email', unique: true },
        { name: 'site', type: 'url' },
        { name: 'meta', type: 'json' },
        { name: 'kind', type: 'select', options: { values: ['a', 'b'] } },
        { name: 'tags', type: 'select', options: { values: ['x', 'y', 'z'], multiple: true } },
      ],
    })
    expect(c.rules).toEqual({ list: null, view: null, create: null, update: null, delete: null })
    expect(c.fields.every((f: any) => /^[a-z0-9]{10}$/.test(f.id))).toBe(true)
    const cols = await columns('things')
    expect(cols).toMatchObject({
      id: { type: 'uuid', nullable: false },
      created: { type: 'timestamp with time zone' },
      version: { type: 'integer' },
      title: { type: 'text', nullable: false },
      n: { type: 'bigint', nullable: true },
      ratio: { type: 'double precision' },
      ok: { type: 'boolean' },
      when: { type: 'timestamp with time zone' },
      meta: { type: 'jsonb' },
      tags: { type: 'ARRAY' },
    })
  })

  it('validates every field by type and lists all bad fields at once', async () => {
    const r = await s.api('POST', '/api/collections/things/records', {
      title: 'X',
      n: 1.5,
      ok: 'yes',
      when: 'tomorrow',
      mail: 'nope',
      site: 'ftp://x',
      kind: 'c',
      tags: ['x', 'q'],
      unknown: 1,
    })
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('VALIDATION_FAILED')
    expect(Object.keys(r.body.details.fields).sort()).toEqual(
      ['kind', 'mail', 'n', 'ok', 'site', 'tags', 'title', 'unknown', 'when'].sort(),
    )
  })

  it('stores and returns typed values; multi-values default to []', async () => {
    const rec = await createRecord(s, 'things', {
      title: 'hello',
      n: 42,
      ratio: 0.5,
      ok: true,
      when: '2024-02-29T10:00:00+02:00',
      mail: 'a@b.co',
      site: 'https://example.org/x',
      meta: { a: [1, { b: null }] },
      kind: 'a',
    })
    expect(rec).toMatchObject({
      title: 'hello',
      n: 42,
      ratio: 0.5,
      ok: true,
      when: '2024-02-29T08:00:00.000Z',
      meta: { a: [1, { b: null }] },
      tags: [],
      version: 1,
    })
    expect(rec.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/)
  })

  it('enforces uniqueness and constraints in the database (409/400 naming the field)', async () => {
    const r = await s.api('POST', '/api/collections/things/records', { title: 'other', mail: 'a@b.co' })
    expect(r.status).toBe(400)
    expect(r.body.details.fields.mail.code).toBe('not_unique')
    const c = new pg.Client({ connectionString: s.dbUrl })
    await c.connect()
    // The table refuses bad data even when it bypasses the API.
    await expect(
      c.query(`INSERT INTO data.things (id, title, n) VALUES (gen_random_uuid(), 'abc', 101)`),
    ).rejects.toThrow(/check/)
    await expect(
      c.query(`INSERT INTO data.things (id, title, kind) VALUES (gen_random_uuid(), 'abc', 'zz')`),
    ).rejects.toThrow(/check/)
    await expect(
      c.query(`INSERT INTO data.things (id, title) VALUES (gen_random_uuid(), 'ABC')`),
    ).rejects.toThrow(/check/)
    await c.end()
  })

  it('accepts a client-supplied UUID and refuses a duplicate id with 409', async () => {
    const id = '0190a5b0-0000-7000-8000-000000000001'
    const rec = await createRecord(s, 'things', { id, title: 'mine' })
    expect(rec.id).toBe(id)
    const again = await s.api('POST', '/api/collections/things/records', { id, title: 'mine' })
    expect(again.status).toBe(409)
  })

  it('refuses mass assignment of system fields', async () => {
    const r = await s.api('POST', '/api/collections/things/records', {
      title: 'sys',
      created: '2020-01-01T00:00:00Z',
      version: 9,
    })
    expect(r.status).toBe(400)
    expect(Object.keys(r.body.details.fields).sort()).toEqual(['created', 'version'])
  })

  it('validates names: identifiers, reserved words, system prefixes', async () => {
    for (const name of [
      '1abc',
      'a-b',
      'pg_x',
      'bst_x',
      'null',
      'id',
      'a__b',
      'x_via_y',
      'x'.repeat(60),
      "a'; DROP TABLE x;--",
    ]) {
      const r = await s.api('POST', '/api/collections', { name, fields: [] })
      expect(r.status, name).toBe(400)
      expect(r.body.code).toBe('INVALID_SCHEMA')
    }
    const dupField = await s.api('POST', '/api/collections', {
      name: 'dup',
      fields: [
        { name: 'a', type: 'text' },
        { name: 'A', type: 'text' },
      ],
    })
    expect(dupField.status).toBe(400)
    const badRule = await s.api('POST', '/api/collections', {
      name: 'badrule',
      fields: [],
      rules: { list: 'nope = 1' },
    })
    expect(badRule.status).toBe(400)
    expect(JSON.stringify(badRule.body.details)).toContain('rules.list')
    const exists = await s.api('POST', '/api/collections', { name: 'things', fields: [] })
    expect(exists.status).toBe(409)
  })
})

describe('schema changes keep data', () => {
  let col: any
  beforeAll(async () => {
    col = await createCollection(s, {
      name: 'evolve',
      fields: [
        { name: 'label', type: 'text' },
        { name: 'count', type: 'text' },
        { name: 'gone', type: 'text' },
      ],
    })
    await createRecord(s, 'evolve', { label: 'one', count: '1', gone: 'bye' })
    await createRecord(s, 'evolve', { label: 'two', count: '2' })
  })

  it('renames, retypes, drops and adds fields in one change', async () => {
    const [label, count] = col.fields
    const r = await s.api('PATCH', '/api/collections/evolve', {
      fields: [
        { ...label, name: 'title' },
        { ...count, type: 'number', options: { integer: true } },
        { name: 'extra', type: 'bool' },
      ],
    })
    expect(r.status).toBe(200)
    const list = await s.api('GET', '/api/collections/evolve/records?sort=title')
    expect(list.body.items.map((x: any) => [x.title, x.count, x.extra, 'gone' in x])).toEqual([
      ['one', 1, null, false],
      ['two', 2, null, false],
    ])
    expect(Object.keys(await columns('evolve'))).toEqual([
      'id',
      'created',
      'updated',
      'version',
      'title',
      'count',
      'extra',
    ])
  })

  it('refuses a retype the data cannot take and changes nothing', async () => {
    await createRecord(s, 'evolve', { title: 'three', count: 3 })
    const cur = (await s.api('GET', '/api/collections/evolve')).body
    const title = cur.fields.find((f: any) => f.name === 'title')
    const r = await s.api('PATCH', '/api/collections/evolve', {
      fields: cur.fields.map((f: any) => (f === title ? { ...f, type: 'number' } : f)),
    })
    expect(r.status).toBe(409)
    expect(
      (await s.api('GET', '/api/collections/evolve')).body.fields.find((f: any) => f.id === title.id).type,
    ).toBe('text')
    expect((await s.api('GET', '/api/collections/evolve/records?count=true')).body.totalItems).toBe(3)
  })

  it('refuses making a field required while records lack it', async () => {
    const cur = (await s.api('GET', '/api/collections/evolve')).body
    const r = await s.api('PATCH', '/api/collections/evolve', {
      fields: cur.fields.map((f: any) => (f.name === 'extra' ? { ...f, required: true } : f)),
    })
    expect(r.status).toBe(409)
  })

  it('renames a collection, keeping records, and records every change in schema history', async () => {
    const r = await s.api('PATCH', '/api/collections/evolve', { name: 'evolved' })
    expect(r.status).toBe(200)
    // A PATCH without `fields` keeps them all.
    expect(r.body.fields.map((f: any) => f.name)).toEqual(['title', 'count', 'extra'])
    expect((await s.api('GET', '/api/collections/evolved/records?count=true')).body.totalItems).toBe(3)
    expect((await s.api('GET', '/api/collections/evolve/records')).status).toBe(404)
    const c = new pg.Client({ connectionString: s.dbUrl })
    await c.connect()
    const h = await c.query(
      `SELECT action, collection, jsonb_array_length(statements) AS n FROM bastide.schema_history WHERE collection IN ('evolve','evolved') ORDER BY seq`,
    )
    await c.end()
    expect(h.rows.map((x) => x.action)).toEqual(['create', 'update', 'update'])
    expect(h.rows.every((x) => x.n > 0)).toBe(true)
  })

  it('adds and drops indexes (unique and composite)', async () => {
    const r = await s.api('PATCH', '/api/collections/evolved', {
      indexes: [{ fields: ['title'], unique: true }, { fields: ['count', 'created'] }],
    })
    expect(r.status).toBe(200)
    expect(r.body.indexes).toHaveLength(2)
    const dup = await s.api('POST', '/api/collections/evolved/records', { title: 'one' })
    expect(dup.status).toBe(409)
    const r2 = await s.api('PATCH', '/api/collections/evolved', { indexes: [] })
    expect(r2.status).toBe(200)
    expect((await s.api('POST', '/api/collections/evolved/records', { title: 'one' })).status).toBe(201)
  })

  it('deletes a collection and its table', async () => {
    expect((await s.api('DELETE', '/api/collections/evolved')).status).toBe(204)
    expect(await columns('evolved')).toEqual({})
    expect((await s.api('GET', '/api/collections/evolved')).status).toBe(404)
  })
})

describe('relations', () => {
  beforeAll(async () => {
    await createCollection(s, {
      name: 'owners',
      fields: [{ name: 'name', type: 'text' }],
      rules: { list: '', view: '' },
    })
    await createCollection(s, {
      name: 'pets',
      fields: [
        { name: 'name', type: 'text' },
        { name: 'owner', type: 'relation', options: { collection: 'owners', onDelete: 'cascade' } },
        { name: 'vet', type: 'relation', options: { collection: 'owners', onDelete: 'set_null' } },
        { name: 'keeper', type: 'relation', options: { collection: 'owners', onDelete: 'restrict' } },
        { name: 'friends', type: 'relation', options: { collection: 'owners', multiple: true } },
      ],
    })
  })

  it('applies cascade, set_null and restrict, and unlinks multiple relations', async () => {
    const a = await createRecord(s, 'owners', { name: 'a' })
    const b = await createRecord(s, 'owners', { name: 'b' })
    const c = await createRecord(s, 'owners', { name: 'c' })
    const p1 = await createRecord(s, 'pets', { name: 'p1', owner: a.id, vet: b.id, friends: [b.id, c.id] })
    expect(p1.friends).toEqual([b.id, c.id])
    const p2 = await createRecord(s, 'pets', { name: 'p2', keeper: c.id })
    expect((await s.api('DELETE', `/api/collections/owners/records/${c.id}`)).status).toBe(409)
    expect((await s.api('DELETE', `/api/collections/owners/records/${b.id}`)).status).toBe(204)
    const after = await s.api('GET', `/api/collections/pets/records/${p1.id}`)
    expect(after.body.vet).toBeNull()
    expect(after.body.friends).toEqual([c.id])
    expect((await s.api('DELETE', `/api/collections/owners/records/${a.id}`)).status).toBe(204)
    expect((await s.api('GET', `/api/collections/pets/records/${p1.id}`)).status).toBe(404)
    expect((await s.api('GET', `/api/collections/pets/records/${p2.id}`)).status).toBe(200)
  })

  it('rejects links to records that do not exist', async () => {
    const r = await s.api('POST', '/api/collections/pets/records', {
      name: 'x',
      owner: '0190a5b0-0000-7000-8000-00000000dead',
    })
    expect(r.status).toBe(400)
    expect(r.body.details.fields.owner.code).toBe('not_found')
    const m = await s.api('POST', '/api/collections/pets/records', {
      name: 'x',
      friends: ['0190a5b0-0000-7000-8000-00000000dead'],
    })
    expect(m.status).toBe(400)
    expect(m.body.details.fields.friends.code).toBe('not_found')
  })

  it('refuses to drop a collection others relate to', async () => {
    const r = await s.api('DELETE', '/api/collections/owners')
    expect(r.status).toBe(409)
    expect(r.body.details.referencedBy).toEqual(['pets'])
  })
})

describe('several nodes on one database', () => {
  it('a schema change made on one node reaches the others (LISTEN/NOTIFY)', async () => {
    const { loadConfig } = await import('../src/config/load-config.ts')
    const { startBastide } = await import('../src/server.ts')
    const pino = (await import('pino')).default
    const other = await startBastide(
      loadConfig({
        DATABASE_URL: s.dbUrl,
        BASTIDE_ADMIN_KEY: s.config.adminKey,
        BASTIDE_LOG_LEVEL: 'silent',
      }),
      { listen: false, log: pino({ level: 'silent' }) },
    )
    try {
      const auth = { authorization: `Bearer ${s.config.adminKey}` }
      expect((await other.app.request('/api/collections/late', { headers: auth })).status).toBe(404)
      await createCollection(s, { name: 'late', fields: [{ name: 'x', type: 'text' }] })
      let status = 0
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await other.app.request('/api/collections/late/records', { headers: auth })).status
        if (status !== 200) await new Promise((r) => setTimeout(r, 50))
      }
      expect(status).toBe(200)
    } finally {
      await other.close()
    }
  })
})
