/**
 * A client's local filter (compileLocalFilter, from the protocol package) keeps exactly the records the server's
 * SQL keeps: random rows go through the records API into a real table, a random filter is listed through the API
 * (bindFilter → compileFilter) and evaluated locally over the rows as the API returned them.
 */
import { compileLocalFilter, type SyncFieldInfo } from '@bastide/protocol'
import fc from 'fast-check'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Collection } from '../src/core/collections/types.ts'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'

type Row = Record<string, unknown>

let s: TestServer
let itemFields: SyncFieldInfo[]
let ownerFields: SyncFieldInfo[]
let owners: Row[]

const fieldsOf = (c: Collection): SyncFieldInfo[] =>
  c.fields.map((f) => ({
    name: f.name,
    type: f.type,
    multiple: f.options.multiple === true,
    ...(f.options.collection === undefined ? {} : { collection: f.options.collection }),
  }))

beforeAll(async () => {
  s = await startTestServer()
  const open = { list: '', view: '', create: '', update: '', delete: '' }
  const ownersC = await createCollection(s, {
    name: 'owners',
    fields: [
      { name: 'name', type: 'text' },
      { name: 'score', type: 'number' },
    ],
    rules: open,
  })
  const itemsC = await createCollection(s, {
    name: 'items',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'n', type: 'number' },
      { name: 'ok', type: 'bool' },
      { name: 'at', type: 'date' },
      { name: 'kind', type: 'select', options: { values: ['a', 'b', 'c'] } },
      { name: 'tags', type: 'select', options: { values: ['x', 'y', 'z'], multiple: true } },
      { name: 'owner', type: 'relation', options: { collection: 'owners' } },
    ],
    rules: open,
  })
  itemFields = fieldsOf(itemsC)
  ownerFields = fieldsOf(ownersC)
  // Text order is code-point order whatever the column's collation: give it a linguistic one.
  const c = new pg.Client({ connectionString: s.dbUrl })
  await c.connect()
  try {
    await c.query('ALTER TABLE data.items ALTER COLUMN title TYPE text COLLATE "en-x-icu"')
  } finally {
    await c.end()
  }
  for (const o of [
    { name: 'Ann', score: 3 },
    { name: 'bob', score: null },
    { name: null, score: -1.5 },
  ]) {
    await createRecord(s, 'owners', o)
  }
  owners = (await s.api('GET', '/api/collections/owners/records?sort=id')).body.items
})

afterAll(() => s?.close())

// ---------------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------------

const TEXTS = [
  '',
  'a',
  'A',
  'ab',
  'aB',
  'b%',
  'a_b',
  'x\\y',
  "O'N",
  'Zed',
  'Ann',
  'bob',
  '\u00e9t\u00e9',
  '\u{1F600}',
]
const NUMBERS = [0, 1, -1, 2.5, 3, -1.5, 0.1, 100]
const DATES = [
  '2024-01-31T12:00:00.000Z',
  '2024-01-31T00:00:00.000Z',
  '1999-12-31T23:59:59.999Z',
  '2024-02-29T10:00:00+02:00',
  '2030-06-15',
]

const rowArb = fc.record({
  title: fc.option(fc.constantFrom(...TEXTS), { nil: null, freq: 5 }),
  n: fc.option(fc.constantFrom(...NUMBERS), { nil: null, freq: 5 }),
  ok: fc.option(fc.boolean(), { nil: null, freq: 4 }),
  at: fc.option(fc.constantFrom(...DATES), { nil: null, freq: 4 }),
  kind: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null, freq: 4 }),
  tags: fc.shuffledSubarray(['x', 'y', 'z']),
  owner: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null, freq: 4 }),
})

// ---------------------------------------------------------------------------------------------------
// Filters: generated as trees, printed to source
// ---------------------------------------------------------------------------------------------------

type VT = 'text' | 'number' | 'bool' | 'date' | 'uuid'
const PATHS: { path: string; vt: VT; multi?: boolean }[] = [
  { path: 'title', vt: 'text' },
  { path: 'n', vt: 'number' },
  { path: 'ok', vt: 'bool' },
  { path: 'at', vt: 'date' },
  { path: 'kind', vt: 'text' },
  { path: 'tags', vt: 'text', multi: true },
  { path: 'owner', vt: 'uuid' },
  { path: 'owner.name', vt: 'text' },
  { path: 'owner.score', vt: 'number' },
  { path: 'id', vt: 'uuid' },
  { path: 'version', vt: 'number' },
  { path: 'created', vt: 'date' },
]
const OPS: Record<VT, string[]> = {
  // ~ and !~ twice: they have the most ways to differ (case, wildcards).
  text: ['=', '!=', '>', '>=', '<', '<=', '~', '!~', '~', '!~'],
  number: ['=', '!=', '>', '>=', '<', '<='],
  date: ['=', '!=', '>', '>=', '<', '<='],
  bool: ['=', '!='],
  uuid: ['=', '!='],
}

const quote = (v: string) => `'${v.replace(/[\\']/g, (c) => `\\${c}`)}'`

function literalArb(vt: VT): fc.Arbitrary<string> {
  switch (vt) {
    case 'text':
      return fc.constantFrom(...TEXTS, 'x', 'y', 'b', '%', '_', 'N').map(quote)
    case 'number':
      return fc.constantFrom('0', '1', '-1', '2.5', '3', '-1.5', '0.1', '2')
    case 'bool':
      return fc.constantFrom('true', 'false')
    case 'date':
      return fc
        .constantFrom(
          '2024-01-31',
          '2024-01-31T12:00:00Z',
          '2024-02-29T08:00:00.000Z',
          '2000-01-01',
          '2999-01-01',
        )
        .map(quote)
    case 'uuid':
      return fc.constantFrom(...owners.map((o) => o.id as string), 'not-a-uuid').map(quote)
  }
}

const leafArb: fc.Arbitrary<string> = fc.constantFrom(...PATHS).chain((p) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({
          op: fc.constantFrom(...OPS[p.vt]),
          lit: literalArb(p.vt),
          any: p.multi ? fc.boolean() : fc.constant(false),
          flip: fc.boolean(),
        })
        .map(({ op, lit, any, flip }) => {
          const o = `${any ? '?' : ''}${op}`
          return flip ? `${lit} ${o} ${p.path}` : `${p.path} ${o} ${lit}`
        }),
    },
    { weight: 1, arbitrary: fc.constantFrom('=', '!=').map((op) => `${p.path} ${op} null`) },
    {
      // Field against field of the same type.
      weight: 1,
      arbitrary: fc
        .record({
          other: fc.constantFrom(...PATHS.filter((q) => q.vt === p.vt && !(q.multi && p.multi))),
          op: fc.constantFrom(...OPS[p.vt]),
        })
        .map(({ other, op }) => `${p.path} ${op} ${other.path}`),
    },
  ),
)

const filterArb: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.tuple(tie('e'), fc.constantFrom('&&', '||'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
    tie('e').map((e) => `!(${e})`),
  ),
})).e

// ---------------------------------------------------------------------------------------------------

type RowIn = typeof rowArb extends fc.Arbitrary<infer T> ? T : never

const related = {
  fields: (c: string) => (c === 'owners' ? ownerFields : undefined),
  get: (c: string, id: string) => (c === 'owners' ? owners.find((o) => o.id === id) : undefined),
  all: (c: string) => (c === 'owners' ? owners : []),
}

async function replaceItems(rows: readonly RowIn[]) {
  const c = new pg.Client({ connectionString: s.dbUrl })
  await c.connect()
  try {
    await c.query('DELETE FROM data.items')
  } finally {
    await c.end()
  }
  for (const r of rows) {
    await createRecord(s, 'items', { ...r, owner: r.owner === null ? null : owners[r.owner]!.id })
  }
}

describe('compileLocalFilter keeps the records the server keeps', () => {
  it('on random rows and random filters', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rowArb, { minLength: 2, maxLength: 10 }),
        fc.array(filterArb, { minLength: 4, maxLength: 10 }),
        async (input, filters) => {
          await replaceItems(input)
          const all = (await s.api('GET', '/api/collections/items/records?perPage=500&sort=id')).body
            .items as Row[]
          expect(all).toHaveLength(input.length)
          for (const filter of filters) {
            const res = await s.api(
              'GET',
              `/api/collections/items/records?perPage=500&sort=id&filter=${encodeURIComponent(filter)}`,
            )
            expect(res.status, `${filter} → ${JSON.stringify(res.body)}`).toBe(200)
            const server = (res.body.items as Row[]).map((r) => r.id)
            const keep = compileLocalFilter(filter, { fields: itemFields, collection: 'items', related })
            const local = all.filter(keep).map((r) => r.id)
            expect(local, `filter: ${filter}\nrows: ${JSON.stringify(all)}`).toEqual(server)
          }
        },
      ),
      { numRuns: 60 },
    )
  })

  it('refuses the filters the server refuses, with the same message and position', async () => {
    for (const filter of ["n = 'x'", 'nope = 1', 'owner.nope = 1', "at > 'soon'", 'title >', 'ok ~ true']) {
      const res = await s.api('GET', `/api/collections/items/records?filter=${encodeURIComponent(filter)}`)
      expect(res.status).toBe(400)
      let local: unknown
      try {
        compileLocalFilter(filter, { fields: itemFields, collection: 'items', related })
      } catch (e) {
        local = e
      }
      expect(local, filter).toMatchObject({
        code: res.body.code,
        message: res.body.message,
        position: res.body.details.position,
      })
    }
  })
})
