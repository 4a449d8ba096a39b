/**
 * Property-based tests of the filter/rule language end to end:
 *  1. the SQL compiler and the in-memory evaluator agree (same ids) on random well-formed filters;
 *  2. garbage filters answer 200 or 400 (INVALID_FILTER with a position), never 500, and the parser
 *     only ever throws AppError INVALID_FILTER;
 *  3. user input never reaches SQL text (only bound parameters), whatever the position.
 */
import fc from 'fast-check'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Collection } from '../src/core/collections/types.ts'
import { bindFilter, type Dataset, evaluate, parseFilter, type Row } from '../src/core/rules/index.ts'
import { AppError } from '../src/errors/index.ts'
import {
  type ApiResponse,
  createCollection,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

// ---------------------------------------------------------------------------------------------------
// Data set (generated once, deterministically)
// ---------------------------------------------------------------------------------------------------

const SEED = 20240131
/** ASCII only, with the LIKE wildcards, the escape character, quotes and mixed case. */
const CHARS = ['a', 'A', 'b', 'B', 'z', 'Z', '%', '_', '\\', "'", '"', ' ', '-', '(', ')', '.', '0'] as const
const shortText = (max: number) => fc.string({ unit: fc.constantFrom(...CHARS), maxLength: max })
const NAMED = ['Alice', 'alice', 'ALICE', 'a%b', 'a_b', 'a\\b', "O'Neil", 'say "hi"', '', 'aB', 'ab', 'Ab']
const DATES = [
  '2024-01-31T12:00:00.000Z',
  '2024-01-31T00:00:00.000Z',
  '2024-02-29T08:00:00.000Z',
  '1999-12-31T23:59:59.999Z',
  '1970-01-01T00:00:00.000Z',
  '0001-01-01T00:00:00.000Z',
  '9999-12-31T23:59:59.999Z',
  '2030-06-15T06:30:00.000Z',
]
const SCORES = [0, 0.1, 0.2, 0.30000000000000004, 0.3, 1.5, -2.25, 1e-7, 123456.789, 2, -1]

interface PersonIn {
  name: string | null
  age: number | null
  score: number | null
  active: boolean | null
  born: string | null
  kind: string | null
  tags: string[] | null
}

const personArb: fc.Arbitrary<PersonIn> = fc.record({
  name: fc.option(fc.oneof(shortText(4), fc.constantFrom(...NAMED)), { nil: null, freq: 6 }),
  age: fc.option(fc.oneof(fc.integer({ min: -3, max: 8 }), fc.constantFrom(2 ** 53 - 1, -(2 ** 31), 100)), {
    nil: null,
    freq: 6,
  }),
  score: fc.option(fc.constantFrom(...SCORES), { nil: null, freq: 6 }),
  active: fc.option(fc.boolean(), { nil: null, freq: 4 }),
  born: fc.option(
    fc.oneof(fc.constantFrom(...DATES), fc.constantFrom('2024-02-29T10:00:00+02:00', '2024-01-31')),
    { nil: null, freq: 5 },
  ),
  kind: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null, freq: 5 }),
  tags: fc.option(fc.shuffledSubarray(['x', 'y', 'z']), { nil: null, freq: 8 }),
})

interface ItemIn {
  title: string | null
  price: number | null
  owner: number | null
  buyers: number[]
}

const N_PEOPLE = 40
const N_ITEMS = 40
/** Owners concentrate on a few people so that back-relations have several elements. */
const itemArb: fc.Arbitrary<ItemIn> = fc.record({
  title: fc.option(fc.oneof(shortText(4), fc.constantFrom(...NAMED)), { nil: null, freq: 6 }),
  price: fc.option(fc.oneof(fc.integer({ min: -2, max: 12 }), fc.constantFrom(0.5, 9.99, 0.1, 2.5)), {
    nil: null,
    freq: 6,
  }),
  owner: fc.option(fc.integer({ min: 0, max: 14 }), { nil: null, freq: 5 }),
  buyers: fc.uniqueArray(fc.integer({ min: 0, max: N_PEOPLE - 1 }), { maxLength: 4 }),
})

/** Hand-picked rows first, so that the examples below always have something to find. */
const FIXED_PEOPLE: PersonIn[] = [
  { name: 'a%b', age: 1, score: 0.1, active: true, born: DATES[0]!, kind: 'a', tags: ['x'] },
  { name: 'a_b', age: 2, score: 0.30000000000000004, active: false, born: DATES[1]!, kind: 'b', tags: [] },
  { name: 'a\\b', age: null, score: null, active: null, born: null, kind: null, tags: ['x', 'y'] },
  { name: 'ALICE', age: 5, score: 0.3, active: true, born: DATES[3]!, kind: 'c', tags: ['y', 'x'] },
  { name: null, age: 5, score: -2.25, active: false, born: DATES[4]!, kind: 'a', tags: ['z'] },
  { name: "O'Neil", age: -3, score: 2, active: true, born: DATES[2]!, kind: 'b', tags: ['x', 'z', 'y'] },
  { name: 'Zed', age: 8, score: 1.5, active: null, born: DATES[6]!, kind: null, tags: null },
  { name: '', age: 0, score: 0, active: true, born: DATES[5]!, kind: 'a', tags: ['y'] },
]
const FIXED_ITEMS: ItemIn[] = [
  { title: 'cheap', price: 1, owner: 0, buyers: [1, 2] },
  { title: 'dear', price: 10, owner: 0, buyers: [] },
  { title: null, price: null, owner: 1, buyers: [3] },
  { title: 'Mid%', price: 5, owner: 3, buyers: [0, 4] },
  { title: 'x_y', price: 7, owner: null, buyers: [4] },
]

// ---------------------------------------------------------------------------------------------------
// Server and data
// ---------------------------------------------------------------------------------------------------

let s: TestServer
let collections: Map<string, Collection>
const lookup = (n: string) => collections.get(n)
let rows: { people: Row[]; items: Row[] }
let dataset: Dataset
let personIds: string[]
let itemIds: string[]

async function loadAll(name: string): Promise<Row[]> {
  const r = await s.api('GET', `/api/collections/${name}/records?perPage=500&sort=id`)
  if (r.status !== 200) throw new Error(`list ${name}: ${r.status} ${JSON.stringify(r.body)}`)
  expect(r.body.nextCursor).toBeNull()
  return r.body.items
}

beforeAll(async () => {
  s = await startTestServer()
  await createCollection(s, {
    name: 'people',
    fields: [
      { name: 'name', type: 'text' },
      { name: 'age', type: 'number', options: { integer: true } },
      { name: 'score', type: 'number' },
      { name: 'active', type: 'bool' },
      { name: 'born', type: 'date' },
      { name: 'kind', type: 'select', options: { values: ['a', 'b', 'c'] } },
      { name: 'tags', type: 'select', options: { values: ['x', 'y', 'z'], multiple: true } },
    ],
    rules: { list: '', view: '' },
  })
  await createCollection(s, {
    name: 'items',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'price', type: 'number' },
      { name: 'owner', type: 'relation', options: { collection: 'people' } },
      { name: 'buyers', type: 'relation', options: { collection: 'people', multiple: true } },
    ],
    rules: { list: '', view: '' },
  })
  // Every rule open, and rules that read the body: for the sentinel checks on anonymous writes.
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'n', type: 'number' },
    ],
    rules: {
      list: "title != 'zzz' || title = null",
      view: '',
      create: "@request.body.title != 'nope' && (title = @request.body.title || n > 0)",
      update: 'title != @request.body.title || title = null || @request.query.x = null',
      delete: '',
    },
  })

  // Text order must be code-point order whatever the database's default collation: give the text
  // columns a linguistic one (as on a server initialized with en_US), where 'Z' sorts after 'a'.
  const pgc = new pg.Client({ connectionString: s.dbUrl })
  await pgc.connect()
  try {
    for (const [t, c, type] of [
      ['people', 'name', 'text'],
      ['people', 'kind', 'text'],
      ['people', 'tags', 'text[]'],
      ['items', 'title', 'text'],
    ]) {
      await pgc.query(`ALTER TABLE data.${t} ALTER COLUMN ${c} TYPE ${type} COLLATE "en-x-icu"`)
    }
    const check = await pgc.query(`SELECT 'Zed' < 'a' COLLATE "en-x-icu" AS linguistic`)
    expect(check.rows[0].linguistic).toBe(false)
  } finally {
    await pgc.end()
  }

  const people = [
    ...FIXED_PEOPLE,
    ...fc.sample(personArb, { seed: SEED, numRuns: N_PEOPLE - FIXED_PEOPLE.length }),
  ]
  personIds = []
  for (const p of people) personIds.push((await createRecord(s, 'people', p)).id)
  const items = [
    ...FIXED_ITEMS,
    ...fc.sample(itemArb, { seed: SEED + 1, numRuns: N_ITEMS - FIXED_ITEMS.length }),
  ]
  itemIds = []
  for (const it of items) {
    const rec = await createRecord(s, 'items', {
      title: it.title,
      price: it.price,
      owner: it.owner === null ? null : personIds[it.owner],
      buyers: it.buyers.map((i) => personIds[i]),
    })
    itemIds.push(rec.id)
  }
  await createRecord(s, 'notes', { title: 'first', n: 1 })

  const cols = await s.api('GET', '/api/collections')
  collections = new Map((cols.body.items as Collection[]).map((c) => [c.name, c]))
  rows = { people: await loadAll('people'), items: await loadAll('items') }
  const byId = new Map<string, Map<string, Row>>(
    Object.entries(rows).map(([k, list]) => [k, new Map(list.map((r) => [String(r.id), r]))]),
  )
  dataset = {
    get: (c, id) => byId.get(c)?.get(id),
    all: (c) => (rows as Record<string, Row[]>)[c] ?? [],
  }
})

afterAll(() => s?.close())

// ---------------------------------------------------------------------------------------------------
// Filter generation and printing
// ---------------------------------------------------------------------------------------------------

type VT = 'text' | 'number' | 'bool' | 'date' | 'uuid'
type Coll = 'people' | 'items'
interface FieldSpec {
  readonly path: string
  readonly vt: VT
  readonly multi: boolean
}

const f = (path: string, vt: VT, multi = false): FieldSpec => ({ path, vt, multi })

const FIELDS: Record<Coll, FieldSpec[]> = {
  people: [
    f('name', 'text'),
    f('age', 'number'),
    f('score', 'number'),
    f('active', 'bool'),
    f('born', 'date'),
    f('kind', 'text'),
    f('tags', 'text', true),
    f('id', 'uuid'),
    f('version', 'number'),
    f('items_via_owner.price', 'number', true),
    f('items_via_owner.title', 'text', true),
    f('items_via_buyers.title', 'text', true),
    f('items_via_owner.buyers', 'uuid', true),
    f('items_via_owner.owner.name', 'text', true),
  ],
  items: [
    f('title', 'text'),
    f('price', 'number'),
    f('owner', 'uuid'),
    f('buyers', 'uuid', true),
    f('id', 'uuid'),
    f('owner.name', 'text'),
    f('owner.age', 'number'),
    f('owner.score', 'number'),
    f('owner.active', 'bool'),
    f('owner.born', 'date'),
    f('owner.kind', 'text'),
    f('owner.tags', 'text', true),
    f('owner.id', 'uuid'),
    f('buyers.name', 'text', true),
    f('buyers.age', 'number', true),
    f('buyers.tags', 'text', true),
    f('owner.items_via_owner.price', 'number', true),
  ],
}

const OPS: Record<VT, readonly string[]> = {
  text: ['=', '!=', '>', '>=', '<', '<=', '~', '!~'],
  number: ['=', '!=', '>', '>=', '<', '<='],
  date: ['=', '!=', '>', '>=', '<', '<='],
  bool: ['=', '!='],
  uuid: ['=', '!='],
}

/** Filter AST as generated: operands keep the exact token they print as. */
type Operand = { k: 'field'; path: string } | { k: 'lit'; token: string }
type GExpr =
  | { t: 'cmp'; op: string; any: boolean; l: Operand; r: Operand; ws: string; paren: boolean }
  | { t: 'and' | 'or'; a: GExpr; b: GExpr; ws: string; paren: boolean }
  | { t: 'not'; e: GExpr; paren: boolean }

function quote(v: string, q: "'" | '"', extraEscapes: boolean): string {
  let out = ''
  for (const ch of v) {
    if (ch === '\\' || ch === q) out += `\\${ch}`
    // A backslash before any character stands for that character.
    else if (extraEscapes && /[a-z%_]/.test(ch)) out += `\\${ch}`
    else out += ch
  }
  return q + out + q
}

const stringToken = (v: fc.Arbitrary<string>) =>
  fc.tuple(v, fc.constantFrom("'" as const, '"' as const), fc.boolean()).map(([x, q, e]) => quote(x, q, e))

/** Number literals as decimal text (the language has no exponents). */
const NUMBER_TOKENS = [
  '0',
  '1',
  '-1',
  '2',
  '3',
  '5',
  '8',
  '10',
  '-3',
  '100',
  '2.5',
  '-0',
  '0.1',
  '0.2',
  '0.3',
  '0.30000000000000004',
  '1.5',
  '-2.25',
  '9.99',
  '0.5',
  '0.0000001',
  '123456.789',
  '9007199254740991',
  '-2147483648',
  '1.0',
  '5.00',
]
const DATE_TOKENS = [
  ...DATES,
  '2024-01-31',
  '2024-01-31T12:00:00Z',
  '2024-01-31T14:00:00+02:00',
  '2024-02-29 08:00:00',
  '2024-02-29T08:00',
  '1999-12-31T23:59:59.999+00:00',
]

function literalToken(vt: VT): fc.Arbitrary<string> {
  switch (vt) {
    case 'text':
      return stringToken(
        fc.oneof(
          { weight: 2, arbitrary: shortText(3) },
          // LIKE wildcards and the escape character must match literally.
          {
            weight: 2,
            arbitrary: fc.constantFrom('%', '_', '\\', 'a_', '_b', '%a', 'A%', '\\b', 'a\\', '%%', '__'),
          },
          {
            weight: 1,
            arbitrary: fc.constantFrom(...NAMED, 'x', 'y', 'z', 'a', 'b', 'c', 'X', 'cheap', 'dear', 'Mid%'),
          },
          { weight: 1, arbitrary: fc.constantFrom(...rows.people.map((p) => String(p.name ?? ''))) },
        ),
      )
    case 'number':
      return fc.constantFrom(...NUMBER_TOKENS)
    case 'bool':
      return fc.constantFrom('true', 'false')
    case 'date':
      return stringToken(fc.constantFrom(...DATE_TOKENS))
    case 'uuid':
      return stringToken(
        fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom(...personIds) },
          { weight: 2, arbitrary: fc.constantFrom(...itemIds) },
          { weight: 1, arbitrary: fc.constantFrom(...personIds.map((x) => x.toUpperCase())) },
          { weight: 1, arbitrary: fc.constantFrom('0190a5b0-0000-7000-8000-00000000dead', 'not-a-uuid', '') },
        ),
      )
  }
}

const wsArb = fc.constantFrom(' ', ' ', ' ', '', '\n', '  ', '\t')

function compareArb(fields: readonly FieldSpec[]): fc.Arbitrary<GExpr> {
  return fc.constantFrom(...fields).chain((fs) => {
    const nonNull = fc.record({
      // Text: ~ and !~ twice as often, they have the most ways to go wrong.
      op: fc.constantFrom(...OPS[fs.vt], ...(fs.vt === 'text' ? ['~', '!~'] : [])),
      token: literalToken(fs.vt),
    })
    const withNull = fc.record({ op: fc.constantFrom('=', '!='), token: fc.constant('null') })
    return fc
      .record({
        lit: fc.oneof({ weight: 6, arbitrary: nonNull }, { weight: 1, arbitrary: withNull }),
        // `?` on a single value means the same as without it.
        any: fs.multi ? fc.boolean() : fc.constantFrom(false, false, false, true),
        flip: fc.boolean(),
        ws: wsArb,
        paren: fc.constantFrom(false, false, false, true),
      })
      .map(({ lit, any, flip, ws, paren }): GExpr => {
        const field: Operand = { k: 'field', path: fs.path }
        const value: Operand = { k: 'lit', token: lit.token }
        return {
          t: 'cmp',
          op: lit.op,
          any,
          l: flip ? value : field,
          r: flip ? field : value,
          ws,
          paren,
        }
      })
  })
}

function exprArb(leaf: fc.Arbitrary<GExpr>, maxDepth = 4): fc.Arbitrary<GExpr> {
  const paren = fc.oneof(
    { weight: 4, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  )
  const memo: fc.Memo<GExpr> = fc.memo((n) => {
    if (n <= 1) return leaf
    return fc.oneof(
      { weight: 3, arbitrary: leaf },
      {
        weight: 2,
        arbitrary: fc.record({
          t: fc.constantFrom('and' as const, 'or' as const),
          a: memo(n - 1),
          b: memo(n - 1),
          ws: wsArb,
          paren,
        }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('not' as const), e: memo(n - 1), paren }) },
    )
  })
  return memo(maxDepth)
}

const PREC = { or: 1, and: 2, not: 3, cmp: 3 } as const

function printOperand(o: Operand): string {
  return o.k === 'field' ? o.path : o.token
}

/** Prints with the fewest parentheses precedence needs (plus the ones a node asks for). */
function print(e: GExpr, min = 0): string {
  let out: string
  switch (e.t) {
    case 'cmp':
      out = `${printOperand(e.l)}${e.ws}${e.any ? '?' : ''}${e.op}${e.ws}${printOperand(e.r)}`
      break
    case 'not':
      out = `!${print(e.e, 3)}`
      break
    case 'and':
    case 'or': {
      const p = PREC[e.t]
      out = `${print(e.a, p)}${e.ws}${e.t === 'and' ? '&&' : '||'}${e.ws}${print(e.b, p + 1)}`
    }
  }
  return e.paren || PREC[e.t] < min ? `(${out})` : out
}

/** `@collection.<name>.<path>` operands: an existence join over the other collection's rows. */
const COLLECTION_OPERANDS: FieldSpec[] = [
  f('@collection.people.name', 'text'),
  f('@collection.people.age', 'number'),
  f('@collection.people.born', 'date'),
  f('@collection.people.tags', 'text', true),
  f('@collection.people.id', 'uuid'),
  f('@collection.items.title', 'text'),
  f('@collection.items.price', 'number'),
  f('@collection.items.owner', 'uuid'),
  f('@collection.items.buyers', 'uuid', true),
  f('@collection.items.owner.name', 'text'),
]

/** Two operands that both read the database: field vs field, field vs @collection. */
function pathPairArb(coll: Coll, withCollection: boolean): fc.Arbitrary<GExpr> {
  const all = [...FIELDS[coll], ...(withCollection ? COLLECTION_OPERANDS : [])]
  return fc.constantFrom(...all).chain((a) => {
    const partners = all.filter((b) => b.vt === a.vt && !(a.multi && b.multi))
    return fc
      .record({
        b: fc.constantFrom(...partners),
        op: fc.constantFrom(...OPS[a.vt]),
        any: fc.boolean(),
        ws: wsArb,
      })
      .map(
        ({ b, op, any, ws }): GExpr => ({
          t: 'cmp',
          op,
          any,
          l: { k: 'field', path: a.path },
          r: { k: 'field', path: b.path },
          ws,
          paren: false,
        }),
      )
  })
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

function listUrl(coll: string, filter: string): string {
  return `/api/collections/${coll}/records?filter=${encodeURIComponent(filter)}&perPage=500&sort=id`
}

/**
 * The ids the in-memory evaluator accepts, sorted like the API (sort=id, uuidv7 order = text order). The
 * request is the list request's: anonymous or admin (auth null), GET, its query string as @request.query.
 */
function evaluatorIds(coll: Coll, filter: string, restricted: boolean): string[] {
  const query = { filter, perPage: '500', sort: 'id' }
  const bound = bindFilter(
    filter,
    collections.get(coll)!,
    lookup,
    { auth: null, method: 'GET', query },
    restricted,
  )
  return rows[coll]
    .filter((r) => evaluate(bound, r, dataset))
    .map((r) => String(r.id))
    .sort()
}

async function apiIds(coll: Coll, filter: string, as: 'admin' | 'anon' = 'admin'): Promise<ApiResponse> {
  return s.api('GET', listUrl(coll, filter), undefined, { as })
}

/** Describes how the two id sets differ, with the rows, so a counterexample explains itself. */
function diff(coll: Coll, sqlIds: string[], evalIds: string[]): string {
  const a = new Set(sqlIds)
  const b = new Set(evalIds)
  const show = (id: string) => JSON.stringify(rows[coll].find((r) => r.id === id))
  const onlySql = sqlIds.filter((x) => !b.has(x)).map(show)
  const onlyEval = evalIds.filter((x) => !a.has(x)).map(show)
  return `only SQL: ${onlySql.slice(0, 3).join(' ')} | only evaluator: ${onlyEval.slice(0, 3).join(' ')}`
}

async function checkAgreement(coll: Coll, filter: string, as: 'admin' | 'anon' = 'admin'): Promise<string[]> {
  const res = await apiIds(coll, filter, as)
  expect(res.status, `GET ${coll} filter=${JSON.stringify(filter)} → ${JSON.stringify(res.body)}`).toBe(200)
  expect(res.body.nextCursor).toBeNull()
  const got = (res.body.items as Row[]).map((r) => String(r.id))
  const want = evaluatorIds(coll, filter, as === 'anon')
  expect(got, `${coll} filter=${JSON.stringify(filter)}: ${diff(coll, got, want)}`).toEqual(want)
  return got
}

const idsWhere = (coll: Coll, pred: (r: Row) => boolean) =>
  rows[coll]
    .filter(pred)
    .map((r) => String(r.id))
    .sort()

// ---------------------------------------------------------------------------------------------------
// 1. SQL ≡ evaluator
// ---------------------------------------------------------------------------------------------------

describe('filters: the SQL compiler and the in-memory evaluator agree', () => {
  it('on hand-written filters with known results (independent oracle)', async () => {
    const P = (pred: (r: any) => boolean) => idsWhere('people', pred)
    const I = (pred: (r: any) => boolean) => idsWhere('items', pred)
    const lc = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : null)
    const ownerOf = (it: any) => rows.people.find((p) => p.id === it.owner)
    const ownedBy = (p: any) => rows.items.filter((it) => it.owner === p.id)
    const cases: [Coll, string, string[]][] = [
      // ~ is case-insensitive "contains"; LIKE wildcards and the escape character match literally.
      ['people', "name ~ '%'", P((r) => lc(r.name)?.includes('%') ?? false)],
      ['people', "name ~ '_'", P((r) => lc(r.name)?.includes('_') ?? false)],
      ['people', "name ~ '\\\\'", P((r) => lc(r.name)?.includes('\\') ?? false)],
      ['people', "name ~ 'A%B'", P((r) => lc(r.name)?.includes('a%b') ?? false)],
      ['people', "name ~ 'alice'", P((r) => lc(r.name)?.includes('alice') ?? false)],
      ['people', "name ~ ''", P((r) => r.name !== null)],
      // !~ is NOT ~: a null name does not contain anything.
      ['people', "name !~ 'a'", P((r) => !(lc(r.name)?.includes('a') ?? false))],
      ['people', 'name = "O\'Neil"', P((r) => r.name === "O'Neil")],
      ['people', "name = 'O\\'Neil'", P((r) => r.name === "O'Neil")],
      ['people', 'name = null', P((r) => r.name === null)],
      ['people', "name != ''", P((r) => r.name !== '')],
      // Text order is code-point order: 'Z' < 'a'.
      ['people', "name < 'a'", P((r) => r.name !== null && r.name < 'a')],
      ['people', "name >= 'Zed'", P((r) => r.name !== null && r.name >= 'Zed')],
      // Ordering with null is false; != keeps nulls.
      ['people', 'age > 3', P((r) => r.age !== null && r.age > 3)],
      ['people', 'age != 5', P((r) => r.age !== 5)],
      ['people', '!(age > 3)', P((r) => !(r.age !== null && r.age > 3))],
      ['people', 'age = 2.5', []],
      ['people', 'score = 0.30000000000000004', P((r) => r.score === 0.30000000000000004)],
      ['people', 'score = 0.3', P((r) => r.score === 0.3)],
      ['people', 'score <= 0.1', P((r) => r.score !== null && r.score <= 0.1)],
      ['people', 'active = false', P((r) => r.active === false)],
      ['people', 'active != true', P((r) => r.active !== true)],
      ['people', "born >= '2024-01-31'", P((r) => r.born !== null && r.born >= '2024-01-31T00:00:00.000Z')],
      ['people', "born = '2024-02-29T10:00:00+02:00'", P((r) => r.born === '2024-02-29T08:00:00.000Z')],
      [
        'people',
        "kind = 'a' && age >= 1 || kind = 'c'",
        P((r) => (r.kind === 'a' && r.age >= 1) || r.kind === 'c'),
      ],
      [
        'people',
        "kind = 'a' && (age >= 1 || kind = 'c')",
        P((r) => r.kind === 'a' && r.age !== null && r.age >= 1),
      ],
      // Multi-values: plain = every element, ? = some element, empty = a single null.
      ['people', "tags = 'x'", P((r) => r.tags.length > 0 && r.tags.every((t: string) => t === 'x'))],
      ['people', "tags ?= 'x'", P((r) => r.tags.includes('x'))],
      ['people', "tags != 'x'", P((r) => r.tags.length === 0 || r.tags.every((t: string) => t !== 'x'))],
      ['people', "tags ?!= 'x'", P((r) => r.tags.length === 0 || r.tags.some((t: string) => t !== 'x'))],
      ['people', 'tags = null', P((r) => r.tags.length === 0)],
      ['people', 'tags != null', P((r) => r.tags.length > 0)],
      ['people', "tags > 'x'", P((r) => r.tags.length > 0 && r.tags.every((t: string) => t > 'x'))],
      ['people', "'y' ?= tags", P((r) => r.tags.includes('y'))],
      [
        'people',
        'items_via_owner.price > 5',
        P((r) => {
          const own = ownedBy(r)
          return own.length > 0 && own.every((it) => it.price !== null && (it.price as number) > 5)
        }),
      ],
      ['people', 'items_via_owner.price ?> 5', P((r) => ownedBy(r).some((it) => (it.price as number) > 5))],
      ['people', 'items_via_owner.price = null', P((r) => ownedBy(r).every((it) => it.price === null))],
      // Relations.
      ['items', "owner.name ~ 'a'", I((it) => lc(ownerOf(it)?.name)?.includes('a') ?? false)],
      ['items', 'owner = null', I((it) => it.owner === null)],
      ['items', 'owner.name = null', I((it) => (ownerOf(it)?.name ?? null) === null)],
      ['items', `owner = '${personIds[0]}'`, I((it) => it.owner === personIds[0])],
      ['items', `owner = '${personIds[0]!.toUpperCase()}'`, I((it) => it.owner === personIds[0])],
      ['items', `buyers ?= '${personIds[4]}'`, I((it) => (it.buyers as string[]).includes(personIds[4]!))],
      ['items', "owner = 'not-a-uuid'", []],
      ['items', "owner != 'not-a-uuid'", I(() => true)],
      [
        'items',
        "buyers.name ?~ 'a'",
        I((it) =>
          (it.buyers as string[]).some((b) => lc(rows.people.find((p) => p.id === b)!.name)?.includes('a')),
        ),
      ],
      [
        'items',
        "owner.tags ?= 'x'",
        I((it) => ((ownerOf(it)?.tags as string[] | undefined) ?? []).includes('x')),
      ],
    ]
    for (const [coll, filter, want] of cases) {
      const got = await checkAgreement(coll, filter)
      expect(got, `${coll} filter=${JSON.stringify(filter)} (expected by hand)`).toEqual(want)
    }
    // The examples are meaningful: the data set makes several of them non-trivial.
    expect(cases.filter(([, , w]) => w.length > 0 && w.length < 40).length).toBeGreaterThan(30)
  })

  it('on random filters comparing fields with literals (admin and anonymous)', async () => {
    const arb = fc.constantFrom<Coll>('people', 'items').chain((coll) =>
      fc.record({
        coll: fc.constant(coll),
        filter: exprArb(compareArb(FIELDS[coll])).map((e) => print(e)),
        as: fc.constantFrom<'admin' | 'anon'>('admin', 'admin', 'anon'),
      }),
    )
    await fc.assert(
      fc.asyncProperty(arb, async ({ coll, filter, as }) => {
        await checkAgreement(coll, filter, as)
      }),
      { numRuns: 150 },
    )
  })
})

describe('filters: SQL ≡ evaluator when both sides of a comparison read the database', () => {
  const arb = (withCollection: boolean) =>
    fc.constantFrom<Coll>('people', 'items').chain((coll) =>
      fc.record({
        coll: fc.constant(coll),
        filter: exprArb(
          fc.oneof(
            { weight: 3, arbitrary: pathPairArb(coll, withCollection) },
            { weight: 1, arbitrary: compareArb(FIELDS[coll]) },
          ),
          3,
        ).map((e) => print(e)),
      }),
    )

  it('field against field (relations, back-relations, multi-values)', async () => {
    await fc.assert(
      fc.asyncProperty(arb(false), async ({ coll, filter }) => {
        await checkAgreement(coll, filter)
      }),
      { numRuns: 100 },
    )
  })

  it('field against @collection.<other>.<field>', async () => {
    await fc.assert(
      fc.asyncProperty(arb(true), async ({ coll, filter }) => {
        await checkAgreement(coll, filter)
      }),
      { numRuns: 60 },
    )
  })
})

describe('filters: concrete cases the properties found', () => {
  /**
   * The API and the evaluator must agree on whether a filter is valid (200 vs 400 INVALID_FILTER),
   * and on the ids when it is. `want`, when given, is the expected result by an independent oracle.
   */
  async function agree(coll: Coll, filter: string, want?: string[]): Promise<void> {
    const res = await apiIds(coll, filter)
    let evalIds: string[] | AppError
    try {
      evalIds = evaluatorIds(coll, filter, false)
    } catch (e) {
      if (!(e instanceof AppError)) throw e
      evalIds = e
    }
    const ctx = `${coll} filter=${JSON.stringify(filter)} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`
    if (evalIds instanceof AppError) {
      expect.soft(res.status, ctx).toBe(400)
      expect.soft(res.body?.code, ctx).toBe('INVALID_FILTER')
      return
    }
    expect.soft(res.status, `${ctx} (the evaluator accepts it)`).toBe(200)
    if (res.status !== 200) return
    const got = (res.body.items as Row[]).map((r) => String(r.id))
    expect.soft(got, `${ctx}: ${diff(coll, got, evalIds)}`).toEqual(evalIds)
    if (want) expect.soft(evalIds, `${ctx} (oracle)`).toEqual(want)
  }
  const P = (pred: (r: any) => boolean) => idsWhere('people', pred)
  const I = (pred: (r: any) => boolean) => idsWhere('items', pred)
  const personById = (id: unknown) => rows.people.find((p) => p.id === id)

  it('integer literals beyond the column type range compare, they are not "wrong format"', async () => {
    // version is an int4 column, age an int8 (bigint) column.
    await agree('people', 'version = 9007199254740991', [])
    await agree(
      'people',
      'version < 2147483648',
      P(() => true),
    )
    await agree(
      'people',
      'version != -2147483649',
      P(() => true),
    )
    await agree(
      'people',
      'age < 99999999999999999999',
      P((r) => r.age !== null),
    )
    await agree(
      'people',
      'age != 9223372036854775807',
      P(() => true),
    )
    await agree(
      'people',
      'age > -9223372036854775809',
      P((r) => r.age !== null),
    )
    await agree(
      'items',
      'owner.age < 99999999999999999999',
      I((it) => (personById(it.owner)?.age ?? null) !== null),
    )
    // Control: the same on a double precision column works.
    await agree(
      'people',
      'score < 99999999999999999999',
      P((r) => r.score !== null),
    )
  })

  it('dates the evaluator accepts are accepted by SQL too (year 0)', async () => {
    await agree('people', "born > '0000-01-01'")
    await agree('people', "born >= '0001-01-01T00:30:00+01:00'")
    await agree('people', "born != '0000-06-15T00:00:00Z'")
  })

  it('= between two operands that both read the database treats null = null as true, like the evaluator', async () => {
    await agree(
      'items',
      'price = price',
      I(() => true),
    )
    await agree(
      'items',
      '!(price != price)',
      I(() => true),
    )
    await agree(
      'people',
      'name = name',
      P(() => true),
    )
    await agree(
      'items',
      'title = owner.name',
      I((it) => it.title === (personById(it.owner)?.name ?? null)),
    )
    // An empty multi-value is a single null: [] = null-kind holds.
    await agree(
      'people',
      'tags = kind',
      P((r) =>
        r.tags.length === 0 ? r.kind === null : r.kind !== null && r.tags.every((t: string) => t === r.kind),
      ),
    )
    // Some buyer's name equals the owner's name (null equals null; no buyers is a single null).
    const ownerName = (it: any) => personById(it.owner)?.name ?? null
    await agree(
      'items',
      'buyers.name ?= owner.name',
      I((it) =>
        it.buyers.length === 0
          ? ownerName(it) === null
          : (it.buyers as string[]).some((b) => (personById(b)?.name ?? null) === ownerName(it)),
      ),
    )
    await agree('people', '@collection.items.title = name')
  })
})

// ---------------------------------------------------------------------------------------------------
// 2. Garbage never answers 500
// ---------------------------------------------------------------------------------------------------

const SOUP_TOKENS = [
  // fields, good and bad
  'name',
  'age',
  'score',
  'active',
  'born',
  'kind',
  'tags',
  'id',
  'created',
  'updated',
  'version',
  'items_via_owner.price',
  'items_via_owner',
  'items_via_buyers.title',
  'x_via_y.z',
  'nope',
  'name.x',
  'tags.x',
  'people_via_owner.x',
  'a.b.c.d.e.f.g.h.i',
  'items_via_owner.owner.items_via_owner.owner.name',
  // macros, good and bad
  '@now',
  '@todayStart',
  '@request.auth.id',
  '@request.auth.name',
  '@request.method',
  '@request.query.x',
  '@request.body.name',
  '@request.query.sort',
  '@request.query.perPage',
  '@request.nope',
  '@request',
  '@collection.items.price',
  '@collection.items:i.title',
  '@collection.nope.x',
  '@collection.items',
  '@',
  '@collection.items:i',
  '@collection.items:i.',
  // literals, good and bad
  "'x'",
  '"y"',
  "'a%b'",
  "''",
  '1',
  '-2.5',
  '0',
  'true',
  'false',
  'null',
  "'2024-01-31'",
  "'0000-01-01'",
  "'not a date'",
  '99999999999999999999',
  '1e5',
  '-',
  '1.',
  '.5',
  "'\\",
  "'unterminated",
  '"\\"',
  "'a\u0000b'",
  // operators and punctuation
  '=',
  '!=',
  '>',
  '>=',
  '<',
  '<=',
  '~',
  '!~',
  '?=',
  '?!=',
  '?>',
  '?~',
  '?',
  '!',
  '?!',
  '==',
  '&&',
  '||',
  '&',
  '|',
  '(',
  ')',
  '((',
  '))',
  ',',
  '.',
  ':',
  ';',
  '#',
  '$1',
  '\\',
]

const soupArb = fc
  .array(fc.tuple(fc.constantFrom(...SOUP_TOKENS), fc.constantFrom(' ', ' ', '', '\n')), {
    minLength: 1,
    maxLength: 12,
  })
  .map((parts) => parts.map(([t, w]) => t + w).join(''))

/** Valid filters, then damaged: truncated, a character inserted or removed, a slice repeated. */
const mutatedArb = fc
  .tuple(
    exprArbLazy(),
    fc.nat(),
    fc.constantFrom('truncate', 'insert', 'delete', 'repeat'),
    fc.constantFrom(...'()\'"\\!?=&|~<>@.:- a0_%'.split(''), '\u0000', '\u00e9', '\u{1F600}'),
  )
  .map(([text, n, how, ch]) => {
    const at = text.length === 0 ? 0 : n % (text.length + 1)
    switch (how) {
      case 'truncate':
        return text.slice(0, at)
      case 'insert':
        return text.slice(0, at) + ch + text.slice(at)
      case 'delete':
        return text.slice(0, at) + text.slice(at + 1)
      default:
        return text.slice(0, at) + text.slice(at / 2, at) + text.slice(at)
    }
  })

function exprArbLazy(): fc.Arbitrary<string> {
  return fc.constant(null).chain(() => exprArb(compareArb(FIELDS.people), 3).map((e) => print(e)))
}

const garbageArb = () =>
  fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'binary-ascii', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...'()\'"\\!?=&|~<>@.:- a0_%'.split('')), maxLength: 40 }),
    soupArb,
    soupArb,
    mutatedArb,
    mutatedArb,
    fc.constantFrom(
      '('.repeat(10_000),
      '('.repeat(4000),
      `${'('.repeat(33)}name = 'x'${')'.repeat(33)}`,
      `${'!'.repeat(40)}name = 'x'`,
      Array.from({ length: 65 }, () => "name = 'x'").join(' && '),
      'a'.repeat(4096),
      'a'.repeat(4097),
      `name = '${'x'.repeat(5000)}'`,
      "name = 'x' && ",
      '',
      '   ',
    ),
  )

/** What a 400 for a filter must look like. */
function checkRejection(text: string, res: ApiResponse): void {
  const ctx = `filter=${JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`
  expect([200, 400], ctx).toContain(res.status)
  if (res.status !== 400) return
  if (res.body.code === 'BAD_REQUEST') {
    // Only the query-string limits (zod) may answer BAD_REQUEST for a filter.
    expect(res.body.details?.issues?.[0]?.param, ctx).toBe('filter')
    return
  }
  expect(res.body.code, ctx).toBe('INVALID_FILTER')
  const pos = res.body.details?.position
  expect(Number.isInteger(pos), ctx).toBe(true)
  expect(pos, ctx).toBeGreaterThanOrEqual(0)
  expect(pos, ctx).toBeLessThanOrEqual(text.length)
}

describe('garbage filters never answer 500', () => {
  it('random and damaged filters answer 200 (and then agree with the evaluator) or 400 INVALID_FILTER', async () => {
    await fc.assert(
      fc.asyncProperty(garbageArb(), fc.constantFrom<'admin' | 'anon'>('admin', 'anon'), async (text, as) => {
        const res = await apiIds('people', text, as)
        checkRejection(text, res)
        if (res.status !== 200) return
        const got = (res.body.items as Row[]).map((r) => String(r.id))
        const want =
          text.trim() === ''
            ? rows.people.map((r) => String(r.id)).sort()
            : evaluatorIds('people', text, as === 'anon')
        expect(got, `filter=${JSON.stringify(text)}: ${diff('people', got, want)}`).toEqual(want)
      }),
      { numRuns: 300 },
    )
  })

  it('malformed query strings (bad percent-encoding, lone surrogates, repeated params) answer 4xx or 200', async () => {
    const raw = [
      'filter=%E0%A4%A',
      'filter=%',
      'filter=%FF%FE',
      'filter=%ED%A0%80',
      "filter=name%20%3D%20'%ED%A0%80'",
      "filter=name%20%3D%20'%00'",
      'filter=%00',
      "filter=name='a'&filter=name='b'",
      "filter=name='a'&filter",
      'filter&perPage=1',
      'perPage=%FF',
      'perPage=-1',
      'perPage=0',
      'perPage=501',
      'page=99999999',
      'page=0',
      'count=yes',
      'sort=%00',
      'expand=%FF',
      'after=%FF',
      'after=',
      `filter=${'%28'.repeat(5000)}`,
    ]
    for (const q of raw) {
      for (const as of ['admin', 'anon'] as const) {
        const res = await s.api('GET', `/api/collections/people/records?${q}`, undefined, { as })
        expect.soft(res.status, `${q} as ${as} → ${JSON.stringify(res.body)}`).toBeLessThan(500)
        expect.soft(res.status, q).not.toBe(404)
      }
    }
  })
})

describe('the parser and the binder only ever throw INVALID_FILTER', () => {
  const expectFilterError = (text: string, fn: () => unknown) => {
    try {
      fn()
    } catch (e) {
      const ctx = `${JSON.stringify(text.slice(0, 200))} threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`
      expect(e instanceof AppError, ctx).toBe(true)
      expect((e as AppError).code, ctx).toBe('INVALID_FILTER')
      const pos = (e as AppError).details?.position
      expect(Number.isInteger(pos), ctx).toBe(true)
      expect(pos as number, ctx).toBeGreaterThanOrEqual(0)
      expect(pos as number, ctx).toBeLessThanOrEqual(Math.max(text.length, 0))
    }
  }

  it('parseFilter on random input', () => {
    fc.assert(
      fc.property(garbageArb(), (text) => {
        expectFilterError(text, () => parseFilter(text))
      }),
      { numRuns: 3000 },
    )
  })

  it('bindFilter on random input (admin and restricted)', () => {
    fc.assert(
      fc.property(garbageArb(), fc.boolean(), (text, restricted) => {
        expectFilterError(text, () =>
          bindFilter(text, collections.get('people')!, lookup, { auth: null }, restricted),
        )
      }),
      { numRuns: 3000 },
    )
  })

  it('deep nesting fails cleanly, without a stack overflow', () => {
    for (const text of [
      '('.repeat(10_000),
      '!'.repeat(10_000),
      '('.repeat(4096),
      '!'.repeat(4096),
      '(!'.repeat(2048),
      `${'('.repeat(2000)}a = 1${')'.repeat(2000)}`,
      `${'!('.repeat(1000)}a = 1${')'.repeat(1000)}`,
      'a = 1 || '.repeat(455),
      'a.'.repeat(2000),
      '@collection.'.repeat(300),
      "'".repeat(4096),
      '\\'.repeat(4096),
    ]) {
      expect(() => parseFilter(text), text.slice(0, 20)).toThrow(AppError)
      expectFilterError(text, () => parseFilter(text))
    }
    // Up to the depth limit, nesting works.
    expect(parseFilter(`${'('.repeat(30)}a = 1${')'.repeat(30)}`).type).toBe('compare')
  })
})

// ---------------------------------------------------------------------------------------------------
// 3. User input never reaches SQL text
// ---------------------------------------------------------------------------------------------------

const MARK = 'zqsnt'
const SENTINELS = [
  `${MARK}'"sentinel\\)--`,
  `${MARK}'); DROP TABLE data.people; --`,
  `${MARK}" OR 1=1 --`,
  `${MARK}$1::text`,
  `${MARK.toUpperCase()}%_\\'`,
  `${MARK}\u00e9\u{1F600}`,
  `${MARK}*/ /*`,
]
/** Sentinels that are also valid identifiers / idempotency keys: they get past the first checks. */
const IDENT_SENTINELS = [`${MARK}_ident`, `Zq${MARK}X`]

describe('user input never reaches SQL text, only bound parameters', () => {
  const enc = encodeURIComponent
  const lit = (v: string) => quote(v, "'", false)
  let noteId: string

  beforeAll(async () => {
    noteId = (await createRecord(s, 'notes', { title: 'target', n: 2 })).id
  })

  /** Problems are collected, so that one failure does not hide the others. */
  const problems: string[] = []

  async function check(
    label: string,
    method: string,
    path: string,
    body?: unknown,
    opts: { as?: 'admin' | 'anon'; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> {
    s.resetQueries()
    const res = await s.api(method, path, body, opts)
    const ctx = `${label}: ${method} ${path}${body === undefined ? '' : ` ${JSON.stringify(body)}`} as ${opts.as ?? 'admin'} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`
    if (res.status >= 500) problems.push(`5xx — ${ctx}`)
    for (const q of s.queries.filter((x) => x.toLowerCase().includes(MARK)))
      problems.push(`SQL text has the input — ${ctx}\n    ${q}`)
    return res
  }

  const expectNoProblems = () => {
    const list = problems.splice(0)
    expect(list, `${list.length} problem(s):\n${list.join('\n')}`).toEqual([])
  }

  /** Header values must be ByteStrings (fetch refuses others before the server sees them). */
  const latin1 = (v: string) => v.replace(/[^\x20-\xff]/gu, '')
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

  for (const as of ['admin', 'anon'] as const) {
    it(`in filters, sort, expand, fields, cursors, paths, bodies and headers (${as})`, async () => {
      const pid = personIds[0]!
      for (const S of [...SENTINELS, ...IDENT_SENTINELS]) {
        const L = lit(S)
        const filters: [Coll, string][] = [
          ['people', `name = ${L}`],
          ['people', `name != ${L}`],
          ['people', `name ~ ${L}`],
          ['people', `name !~ ${L}`],
          ['people', `!(name ~ ${L})`],
          ['people', `name < ${L}`],
          ['people', `${L} = name`],
          ['people', `${L} ~ name`],
          ['people', `tags ?= ${L}`],
          ['people', `tags ~ ${L}`],
          ['people', `kind = ${L}`],
          ['people', `born > ${L}`],
          ['people', `id = ${L}`],
          ['people', `items_via_owner.title ?~ ${L}`],
          ['people', `@collection.items.title = ${L}`],
          ['people', `@request.body.x = ${L}`],
          ['people', `${L} = ${L}`],
          ['items', `owner.name = ${L}`],
          ['items', `buyers.name ?~ ${L}`],
          ['items', `owner = ${L}`],
          ['items', `buyers ?= ${L}`],
          // Names: unknown fields, relations, collections, macros, aliases.
          ['people', S],
          ['people', `name = ${S}`],
          ['people', `${S} = 1`],
          ['people', `owner.${S} = 1`],
          ['items', `owner.${S} = 1`],
          ['people', `${S}_via_owner.price = 1`],
          ['people', `items_via_${S}.price = 1`],
          ['people', `@collection.${S}.x = 1`],
          ['people', `@collection.items:${S}.title = 'a'`],
          ['people', `@request.${S} = 1`],
          ['people', `@request.auth.${S} = 1`],
          ['people', `@request.body.${S} = 'a'`],
          ['people', `@request.query.${S} = 'a'`],
        ]
        for (const [coll, filter] of filters) {
          await check('filter', 'GET', `/api/collections/${coll}/records?filter=${enc(filter)}`, undefined, {
            as,
          })
        }
        const base = '/api/collections/people/records'
        for (const q of [
          `sort=${enc(S)}`,
          `sort=-${enc(S)}`,
          `sort=name,${enc(S)}`,
          `expand=${enc(S)}`,
          `expand=items_via_${enc(S)}`,
          `expand=${enc(S)}_via_owner`,
          `fields=${enc(S)}`,
          `fields=id,${enc(S)}`,
          `fields=items_via_owner.${enc(S)}`,
          `after=${enc(S)}`,
          `after=${b64({ s: 'id', v: [S] })}&sort=id`,
          `after=${b64({ s: 'name,id', v: [S, S] })}&sort=name`,
          `after=${b64({ s: 'name,id', v: [S, pid] })}&sort=name`,
          `after=${b64({ s: '-created,-id', v: [S, S] })}`,
          `after=${b64({ s: S, v: [] })}`,
          `page=${enc(S)}`,
          `perPage=${enc(S)}`,
          `count=${enc(S)}`,
          `${enc(S)}=${enc(S)}`,
          // Query parameters reach filters as @request.query.<name>.
          `q=${enc(S)}&filter=${enc('name = @request.query.q || name ~ @request.query.q')}`,
          `q=${enc(S)}&filter=${enc('tags ?= @request.query.q || @request.query.q = owner')}`,
          `q=${enc(S)}&filter=${enc('items_via_owner.title ?!~ @request.query.q')}`,
        ]) {
          await check('query', 'GET', `${base}?${q}`, undefined, { as })
        }
        await check(
          'expand+fields',
          'GET',
          `/api/collections/items/records?expand=owner&fields=owner.${enc(S)}`,
          undefined,
          { as },
        )
        await check(
          'expand nested',
          'GET',
          `/api/collections/items/records?expand=owner.${enc(S)}`,
          undefined,
          { as },
        )
        await check('view fields', 'GET', `${base}/${pid}?fields=${enc(S)}&expand=${enc(S)}`, undefined, {
          as,
        })
        // Paths.
        await check('collection in path', 'GET', `/api/collections/${enc(S)}/records`, undefined, { as })
        await check('collection in path', 'GET', `/api/collections/${enc(S)}/records/${pid}`, undefined, {
          as,
        })
        await check(
          'collection in path',
          'POST',
          `/api/collections/${enc(S)}/records`,
          { title: 'x' },
          { as },
        )
        await check(
          'collection in path',
          'PATCH',
          `/api/collections/${enc(S)}/records/${pid}`,
          { title: 'x' },
          { as },
        )
        await check('collection in path', 'DELETE', `/api/collections/${enc(S)}/records/${pid}`, undefined, {
          as,
        })
        await check('id in path', 'GET', `${base}/${enc(S)}`, undefined, { as })
        await check('id in path', 'PATCH', `/api/collections/notes/records/${enc(S)}`, { title: 'x' }, { as })
        await check('id in path', 'DELETE', `/api/collections/notes/records/${enc(S)}`, undefined, { as })
        // Bodies that fail validation (people and items are never changed here).
        for (const body of [
          { [S]: 1 },
          { name: 'ok', [S]: S },
          { kind: S },
          { tags: [S] },
          { tags: ['x', S] },
          { born: S },
          { id: S },
          { age: S },
          { active: S },
        ]) {
          await check('invalid body', 'POST', base, body, { as })
          await check('invalid body', 'PATCH', `${base}/${pid}`, body, { as })
        }
        for (const body of [{ owner: S }, { buyers: [S] }, { owner: S.replace(/./g, 'a') }]) {
          await check('invalid relation', 'POST', '/api/collections/items/records', body, { as })
        }
        // Writes that succeed (notes has open, body-reading rules): values go through rule SQL too.
        const created = await check(
          'create',
          'POST',
          '/api/collections/notes/records',
          { title: S, n: 1 },
          { as },
        )
        await check('create, key', 'POST', '/api/collections/notes/records', { n: 1, [S]: 1 }, { as })
        await check('update', 'PATCH', `/api/collections/notes/records/${noteId}`, { title: S }, { as })
        await check(
          'update if-match',
          'PATCH',
          `/api/collections/notes/records/${noteId}`,
          { title: 'y' },
          {
            as,
            headers: { 'if-match': latin1(S) },
          },
        )
        await check(
          'update $version',
          'PATCH',
          `/api/collections/notes/records/${noteId}`,
          { $version: S },
          { as },
        )
        await check(
          'idempotency key',
          'POST',
          '/api/collections/notes/records',
          { title: 'idem', n: 1 },
          {
            as,
            headers: { 'idempotency-key': latin1(S) },
          },
        )
        if (!S.includes('\u0000')) {
          // The title really went in as a value: the record can be found by it.
          expect(created.status, JSON.stringify(created.body)).toBe(201)
          const found = await check(
            'find',
            'GET',
            `/api/collections/notes/records?filter=${enc(`title = ${L}`)}`,
            undefined,
            { as },
          )
          expect(found.body.items.map((r: Row) => r.title)).toContain(S)
          await check('delete', 'DELETE', `/api/collections/notes/records/${created.body.id}`, undefined, {
            as,
          })
        }
      }
      expectNoProblems()
    })
  }

  it('a NUL character in a value answers 4xx, never 500', async () => {
    const S = `${MARK}\u0000x`
    const L = lit(S)
    const pid = personIds[0]!
    for (const as of ['admin', 'anon'] as const) {
      for (const [coll, filter] of [
        ['people', `name = ${L}`],
        ['people', `name ~ ${L}`],
        ['people', `tags ?= ${L}`],
        ['people', `'\u0000' = name`],
        ['items', `owner.name != ${L}`],
      ] as const) {
        await check(
          'NUL in filter',
          'GET',
          `/api/collections/${coll}/records?filter=${enc(filter)}`,
          undefined,
          { as },
        )
      }
      await check(
        'NUL in cursor',
        'GET',
        `/api/collections/people/records?sort=name&after=${b64({ s: 'name,id', v: [S, pid] })}`,
        undefined,
        { as },
      )
      await check(
        'NUL in cursor',
        'GET',
        `/api/collections/people/records?sort=id&after=${b64({ s: 'id', v: [S] })}`,
        undefined,
        { as },
      )
      await check(
        'NUL in @request.query',
        'GET',
        `/api/collections/people/records?q=${enc(S)}&filter=${enc('name = @request.query.q')}`,
        undefined,
        { as },
      )
      await check('NUL in body', 'POST', '/api/collections/notes/records', { title: S, n: 1 }, { as })
      await check('NUL in body key', 'POST', '/api/collections/notes/records', { [S]: 1 }, { as })
      await check('NUL in path', 'GET', `/api/collections/people/records/${enc(S)}`, undefined, { as })
      await check('NUL in sort', 'GET', `/api/collections/people/records?sort=${enc(S)}`, undefined, { as })
    }
    expectNoProblems()
  })
})
