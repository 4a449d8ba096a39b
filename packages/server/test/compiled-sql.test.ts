import { type CompiledQuery, PostgresQueryCompiler, sql } from 'kysely'
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest'
import { ANONYMOUS } from '../src/core/auth/principal.ts'
import type { Collection } from '../src/core/collections/types.ts'
import {
  compileStatement,
  decisionShape,
  runStatement,
  ShapeCache,
} from '../src/core/records/compiled-sql.ts'
import { authorize } from '../src/core/rules/authorize.ts'
import { createDb, type Database } from '../src/db/create-db.ts'
import { signUp } from './support/auth.ts'
import {
  createCollection,
  createRecord,
  createTestDatabase,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

/**
 * Records statements are compiled once per (collection object, operation, shape) and run with each request's
 * values (src/core/records/compiled-sql.ts); prepared statements are named from a table of texts
 * (src/db/create-db.ts). What is checked here: the cache is hit, and it never mixes two requests' values,
 * two rules, two filters, two callers or two schemas.
 */

describe('compileStatement and runStatement', () => {
  let dbase: Database
  let drop: () => Promise<void>
  const seen: [string, readonly unknown[]][] = []

  beforeAll(async () => {
    const t = await createTestDatabase()
    drop = t.drop
    dbase = createDb({ connectionString: t.url, max: 1, onQuery: (q, p) => seen.push([q, p]) })
  })
  afterAll(async () => {
    await dbase?.close()
    await drop?.()
  })

  it('compiles once, then runs with each call its own values and the constant ones', async () => {
    const s = compileStatement(
      dbase.db,
      2,
      ([a, b]) => sql`SELECT ${a}::int AS a, ${b}::text AS b, ${7}::int AS c`,
    )
    seen.length = 0
    const one = await runStatement(dbase.db, s, [1, 'x'])
    const two = await runStatement(dbase.db, s, [2, 'y'])
    expect(one.rows).toEqual([{ a: 1, b: 'x', c: 7 }])
    expect(two.rows).toEqual([{ a: 2, b: 'y', c: 7 }])
    expect(seen.map(([q]) => q)).toEqual([s.sql, s.sql])
    expect(seen.map(([, p]) => p)).toEqual([
      [1, 'x', 7],
      [2, 'y', 7],
    ])
    // The compiled statement itself is never written to.
    expect(s.parameters[2]).toBe(7)
    expect(s.parameters.slice(0, 2).some((v) => v === 1 || v === 2 || v === 'x' || v === 'y')).toBe(false)
  })

  it('fills a value used twice in both places', async () => {
    const s = compileStatement(dbase.db, 1, ([v]) => sql`SELECT ${v}::int + ${v}::int AS n`)
    expect((await runStatement<{ n: number }>(dbase.db, s, [21])).rows[0]!.n).toBe(42)
  })

  it('names a statement text once, and anew after a schema change', async () => {
    const names = async () =>
      (
        await sql<{
          name: string
        }>`SELECT name FROM pg_prepared_statements WHERE statement = 'SELECT $1::int AS v'`.execute(dbase.db)
      ).rows.map((r) => r.name)
    for (const v of [1, 2, 3]) await sql`SELECT ${v}::int AS v`.execute(dbase.db)
    const first = await names()
    expect(first).toHaveLength(1)
    dbase.schemaChanged()
    expect((await sql<{ v: number }>`SELECT ${4}::int AS v`.execute(dbase.db)).rows).toEqual([{ v: 4 }])
    const second = await names()
    expect(second).toHaveLength(2)
    expect(second).toContain(first[0])
  })

  it('parses the rows of every later run of a named statement as its first (types, nulls, other shapes between)', async () => {
    const wide = (v: number | null) =>
      sql<Record<string, unknown>>`SELECT ${v}::int8 AS big, ${v}::text AS t,
        '2024-05-01 12:34:56.78+00'::timestamptz(3) AS at, ARRAY[${v}::int] AS arr, ${v}::int IS NULL AS none`.execute(
        dbase.db,
      )
    const narrow = (v: number) => sql<Record<string, unknown>>`SELECT ${v}::int AS only`.execute(dbase.db)
    const first = (await wide(1)).rows
    expect(first).toEqual([{ big: 1, t: '1', at: '2024-05-01T12:34:56.780Z', arr: [1], none: false }])
    expect((await narrow(2)).rows).toEqual([{ only: 2 }])
    // The second run of each takes the row shape kept from its first.
    expect((await wide(null)).rows).toEqual([
      { big: null, t: null, at: '2024-05-01T12:34:56.780Z', arr: [null], none: true },
    ])
    expect((await wide(3)).rows).toEqual([
      { big: 3, t: '3', at: '2024-05-01T12:34:56.780Z', arr: [3], none: false },
    ])
    expect((await narrow(4)).rows).toEqual([{ only: 4 }])
    // Rows of one run are objects of their own: writing to one leaves the next run's alone.
    const a = (await wide(5)).rows[0]!
    a.t = 'changed'
    a.extra = true
    expect((await wide(5)).rows[0]).toEqual({
      big: 5,
      t: '5',
      at: '2024-05-01T12:34:56.780Z',
      arr: [5],
      none: false,
    })
    const many = await sql<{ n: number }>`SELECT n FROM generate_series(1, ${3}::int) AS n`.execute(dbase.db)
    const again = await sql<{ n: number }>`SELECT n FROM generate_series(1, ${4}::int) AS n`.execute(dbase.db)
    expect(many.rows.map((r) => r.n)).toEqual([1, 2, 3])
    expect(again.rows.map((r) => r.n)).toEqual([1, 2, 3, 4])
  })

  it('has PostgreSQL describe the rows of a named statement once per connection, not on every run', async () => {
    const client = await dbase.pool.connect()
    let descriptions = 0
    const count = () => {
      descriptions++
    }
    ;(client as unknown as { connection: NodeJS.EventEmitter }).connection.on('rowDescription', count)
    client.release()
    try {
      const run = (v: number | null) =>
        sql<
          Record<string, unknown>
        >`SELECT ${v}::int8 AS once, ${v}::text AS t, now() IS NOT NULL AS ok`.execute(dbase.db)
      expect((await run(1)).rows).toEqual([{ once: 1, t: '1', ok: true }])
      expect(descriptions).toBe(1)
      expect((await run(null)).rows).toEqual([{ once: null, t: null, ok: true }])
      expect((await run(2)).rows).toEqual([{ once: 2, t: '2', ok: true }])
      expect(descriptions).toBe(1)
      // A new name (after a schema change) is prepared and described again.
      dbase.schemaChanged()
      expect((await run(3)).rows).toEqual([{ once: 3, t: '3', ok: true }])
      expect(descriptions).toBe(2)
      // A value pg cannot send fails that query alone, as pg's own prepare does; the next one runs.
      await expect(run(Symbol('no') as never)).rejects.toThrow()
      expect((await run(4)).rows).toEqual([{ once: 4, t: '4', ok: true }])
    } finally {
      ;(client as unknown as { connection: NodeJS.EventEmitter }).connection.off('rowDescription', count)
    }
  })

  it('answers an error of a named statement as pg does', async () => {
    await expect(sql`SELECT ${'nope'}::int AS v`.execute(dbase.db)).rejects.toMatchObject({ code: '22P02' })
    // The connection is still usable, and the statement as well with a good value.
    expect((await sql<{ v: number }>`SELECT ${'5'}::int AS v`.execute(dbase.db)).rows).toEqual([{ v: 5 }])
  })
})

describe('ShapeCache and decisionShape', () => {
  const schema = (name: string): Collection => ({ name, fields: [], rules: {} }) as unknown as Collection

  it('keeps what it built per collection object and shape, bounded, oldest first out', () => {
    const cache = new ShapeCache<object>(2)
    const c = schema('a')
    const x = cache.get(c, 'x', () => ({}))
    expect(cache.get(c, 'x', () => ({}))).toBe(x)
    // A schema change is a new collection object: built anew.
    expect(cache.get(schema('a'), 'x', () => ({}))).not.toBe(x)
    // No shape: built each time.
    const none = cache.get(c, undefined, () => ({}))
    expect(cache.get(c, undefined, () => ({}))).not.toBe(none)
    const y = cache.get(c, 'y', () => ({}))
    cache.get(c, 'z', () => ({}))
    expect(cache.get(c, 'y', () => ({}))).toBe(y)
    expect(cache.get(c, 'x', () => ({}))).not.toBe(x)
  })

  it('keys shared decisions by identity, and never one bound for a request', () => {
    const c = {
      name: 'dk',
      fields: [{ id: 'f000000001', name: 'score', type: 'number', options: {} }],
      rules: {},
    } as unknown as Collection
    const guard = (rule: string) => ({
      rule,
      scope: 'records:read' as const,
      schema: c,
      lookup: () => undefined,
    })
    const a = authorize(ANONYMOUS, guard('score >= 0'))
    const b = authorize(ANONYMOUS, guard('score >= 1'))
    expect(decisionShape(a)).toBeDefined()
    expect(decisionShape(authorize(ANONYMOUS, guard('score >= 0')))).toBe(decisionShape(a))
    expect(decisionShape(b)).not.toBe(decisionShape(a))
    // Bound for this request: an expression (score >= 0) that is not kept, so never a key.
    const perRequest = authorize(ANONYMOUS, {
      ...guard("score >= 0 && @request.method = 'GET'"),
      request: { method: 'GET' },
    })
    expect(perRequest.kind).toBe('expression')
    expect(decisionShape(perRequest)).toBeUndefined()
  })
})

describe('records statements', () => {
  let s: TestServer
  let spy: MockInstance<PostgresQueryCompiler['compileQuery']>

  beforeAll(async () => {
    s = await startTestServer()
    // Every statement Kysely compiles, in this process (the server runs in it).
    spy = vi.spyOn(PostgresQueryCompiler.prototype, 'compileQuery')
    await createCollection(s, {
      name: 'cs_posts',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'score', type: 'number' },
      ],
      rules: { list: 'score >= 0', view: 'score >= 0', create: '', update: '' },
    })
  })
  afterAll(async () => {
    spy?.mockRestore()
    await s?.close()
  })
  afterEach(() => spy.mockClear())

  /** Statements compiled since the last call that read or write `table`. */
  function compiledFor(table: string): string[] {
    const compiled = spy.mock.results.map((r) => (r.value as CompiledQuery).sql)
    spy.mockClear()
    return compiled.filter((q) => q.includes(`."${table}"`))
  }

  function queriesFor(table: string): string[] {
    const out = s.queries.filter((q) => q.includes(`."${table}"`))
    s.resetQueries()
    return out
  }

  it('creates, updates, views and lists with statements compiled once per shape, each with its own values', async () => {
    const recs = []
    for (const [title, score] of [
      ['a', 1],
      ['b', 20],
      ['c', 300],
      ['hidden', -1],
    ] as const)
      recs.push(await createRecord(s, 'cs_posts', { title, score }))
    compiledFor('cs_posts')
    const more = await createRecord(s, 'cs_posts', { title: 'd', score: 4000 })
    expect(more).toMatchObject({ title: 'd', score: 4000 })
    // Same columns: the INSERT was compiled by the first create.
    expect(compiledFor('cs_posts')).toEqual([])

    s.resetQueries()
    for (const [i, r] of recs.entries()) {
      const v = await s.api('GET', `/api/collections/cs_posts/records/${r.id}`, undefined, { as: 'anon' })
      // The rule is part of the statement: the record it hides is not found.
      if (i === 3) expect(v.status).toBe(404)
      else expect([v.status, v.body.title]).toEqual([200, r.title])
    }
    const views = queriesFor('cs_posts')
    expect(new Set(views).size).toBe(1)
    expect(compiledFor('cs_posts')).toHaveLength(1)

    const list = async (filter: string) => {
      const r = await s.api(
        'GET',
        `/api/collections/cs_posts/records?filter=${encodeURIComponent(filter)}&sort=-score`,
        undefined,
        { as: 'anon' },
      )
      expect(r.status).toBe(200)
      return r.body.items.map((x: { title: string }) => x.title)
    }
    expect(await list('score > 10')).toEqual(['d', 'c', 'b'])
    expect(await list('score > 100')).toEqual(['d', 'c'])
    expect(await list('score > 10')).toEqual(['d', 'c', 'b'])
    expect(await list('score > 100')).toEqual(['d', 'c'])
    // Two filters, two statements: each compiled once, never sharing their values.
    expect(compiledFor('cs_posts')).toHaveLength(2)

    for (const [i, r] of recs.slice(0, 3).entries()) {
      const u = await s.api(
        'PATCH',
        `/api/collections/cs_posts/records/${r.id}`,
        { score: 10 + i },
        { as: 'anon' },
      )
      expect([u.status, u.body.score, u.body.title]).toEqual([200, 10 + i, r.title])
    }
    expect(compiledFor('cs_posts')).toHaveLength(1)
    const scores = await s.api('GET', '/api/collections/cs_posts/records?sort=score', undefined, {
      as: 'anon',
    })
    expect(scores.body.items.map((x: { score: number }) => x.score)).toEqual([10, 11, 12, 4000])
  })

  it('a schema change is new SQL: a new rule, a new field', async () => {
    const c = await createCollection(s, {
      name: 'cs_rules',
      fields: [{ name: 'n', type: 'number' }],
      rules: { list: 'n > 1', view: 'n > 1', create: '' },
    })
    const low = await createRecord(s, 'cs_rules', { n: 1 })
    const high = await createRecord(s, 'cs_rules', { n: 5 })
    const view = (id: string) =>
      s.api('GET', `/api/collections/cs_rules/records/${id}`, undefined, { as: 'anon' })
    expect((await view(low.id)).status).toBe(404)
    expect((await view(high.id)).status).toBe(200)
    s.resetQueries()
    await view(high.id)
    const before = queriesFor('cs_rules')
    const r = await s.api('PATCH', '/api/collections/cs_rules', {
      rules: { ...c.rules, view: 'n < 2' },
      fields: [...c.fields, { name: 'extra', type: 'text' }],
    })
    expect(r.status).toBe(200)
    expect((await view(low.id)).status).toBe(200)
    const after = await view(high.id)
    expect(after.status).toBe(404)
    const now = queriesFor('cs_rules')
    expect(now[0]).not.toBe(before[0])
    expect(now[0]).toContain('"extra"')
    expect((await view(low.id)).body).toMatchObject({ id: low.id, n: 1, extra: null })
  })

  it('a rule reading @request.auth answers each caller with its own rows', async () => {
    await createCollection(s, {
      name: 'cs_owned',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'owner', type: 'text' },
      ],
      rules: {
        list: 'owner = @request.auth.id',
        view: 'owner = @request.auth.id',
        create: "@request.auth.id != '' && @request.body.owner = @request.auth.id",
      },
    })
    const alice = await signUp(s, 'alice@compiled.test')
    const bob = await signUp(s, 'bob@compiled.test')
    const mine: Record<string, string[]> = { [alice.id]: [], [bob.id]: [] }
    for (let i = 0; i < 3; i++) {
      for (const u of [alice, bob]) {
        const rec = await createRecord(s, 'cs_owned', { title: `${u.email}-${i}`, owner: u.id }, u.token)
        mine[u.id]!.push(rec.id)
      }
    }
    for (let round = 0; round < 2; round++) {
      for (const [u, other] of [
        [alice, bob],
        [bob, alice],
      ] as const) {
        const l = await s.api('GET', '/api/collections/cs_owned/records?sort=title', undefined, {
          as: u.token,
        })
        expect(l.status).toBe(200)
        expect(l.body.items.map((x: { id: string }) => x.id).sort()).toEqual([...mine[u.id]!].sort())
        const own = await s.api('GET', `/api/collections/cs_owned/records/${mine[u.id]![0]}`, undefined, {
          as: u.token,
        })
        expect([own.status, own.body.owner]).toEqual([200, u.id])
        const theirs = await s.api(
          'GET',
          `/api/collections/cs_owned/records/${mine[other.id]![0]}`,
          undefined,
          {
            as: u.token,
          },
        )
        expect(theirs.status).toBe(404)
      }
    }
    const anon = await s.api('GET', '/api/collections/cs_owned/records', undefined, { as: 'anon' })
    expect([anon.status, anon.body.items]).toEqual([200, []])
  })
})
