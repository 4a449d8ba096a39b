/**
 * Names that are members of JavaScript's Object.prototype (`constructor`, `__proto__`, `toString`…) are
 * names like any other: wherever a client can write a name (filter paths, macros, sort, fields, expand,
 * collection paths, body keys) an unknown one is a 4xx and never a 500, never a value borrowed from
 * Object.prototype (a "truthy hit"), and a field that really has such a name works like any field.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Collection } from '../src/core/collections/types.ts'
import { type BExpr, bindFilter, type RuleRequest } from '../src/core/rules/index.ts'
import { signUp } from './support/auth.ts'
import {
  type ApiResponse,
  createCollection,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

/** Every member of Object.prototype, plus a few of Function.prototype's. */
const PROTO_NAMES = [
  ...Object.getOwnPropertyNames(Object.prototype),
  'prototype',
  'call',
  'apply',
  'bind',
  'length',
] as const
const nameArb = fc.constantFrom(...PROTO_NAMES)
/** Read as an own key of parsed JSON (biome flags the accessor spelled out). */
const PROTO = '__proto__'

let s: TestServer
let user: { id: string; token: string }
const collections = new Map<string, Collection>()
const lookup = (n: string) => collections.get(n)

beforeAll(async () => {
  s = await startTestServer()
  await createCollection(s, {
    name: 'people',
    fields: [{ name: 'name', type: 'text' }],
    rules: { list: '', view: '' },
  })
  await createCollection(s, {
    name: 'things',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'owner', type: 'relation', options: { collection: 'people' } },
      { name: 'tags', type: 'select', options: { values: ['a', 'b'], multiple: true } },
    ],
    rules: { list: '', view: '', create: '', update: '' },
  })
  // Fields that really carry prototype names: legal names, so they must work.
  await createCollection(s, {
    name: 'odd',
    fields: [
      { name: 'constructor', type: 'text', required: true },
      { name: 'valueOf', type: 'number' },
      { name: 'toString', type: 'select', options: { values: ['a', 'b'], multiple: true } },
      { name: 'hasOwnProperty', type: 'relation', options: { collection: 'people' } },
    ],
    rules: { list: '', view: '', create: '' },
  })
  // Rules written with prototype names in every macro: none of them may read Object.prototype.
  const macros = ['auth', 'body', 'query'].flatMap((g) =>
    PROTO_NAMES.map((n) => `@request.${g}.${n} != null`),
  )
  expect(macros.length).toBeLessThanOrEqual(64)
  await createCollection(s, {
    name: 'guarded',
    fields: [{ name: 'title', type: 'text' }],
    rules: { list: macros.join(' || '), view: macros.join(' || '), create: macros.join(' || ') },
  })
  const p = await createRecord(s, 'people', { name: 'Ann' })
  await createRecord(s, 'things', { title: 'one', owner: p.id, tags: ['a'] })
  await createRecord(s, 'odd', { constructor: 'yes', valueOf: 3, toString: ['b'], hasOwnProperty: p.id })
  await createRecord(s, 'odd', { constructor: 'no', valueOf: 4, toString: [] })
  await createRecord(s, 'guarded', { title: 'secret' })
  for (const n of ['people', 'things', 'odd', 'guarded']) {
    collections.set(n, (await s.api('GET', `/api/collections/${n}`)).body)
  }
  const u = await signUp(s, 'proto@example.com')
  user = { id: u.id, token: u.token }
})

afterAll(async () => {
  await s?.close()
})

const q = encodeURIComponent
const list = (coll: string, query: string, as: string) =>
  s.api('GET', `/api/collections/${coll}/records?${query}`, undefined, { as })

/** A client error in the one error shape: never a 500, never a success. */
function expectClientError(r: ApiResponse, ctx: string, codes: readonly string[]) {
  expect(r.status, `${ctx}: ${JSON.stringify(r.body)}`).toBeGreaterThanOrEqual(400)
  expect(r.status, `${ctx}: ${JSON.stringify(r.body)}`).toBeLessThan(500)
  expect(codes, `${ctx}: ${JSON.stringify(r.body)}`).toContain(r.body?.code)
}

/** Where a client can write a name, and what an unknown name there must answer. */
type Position = {
  readonly label: string
  readonly request: (n: string, as: string) => Promise<ApiResponse>
  readonly codes: readonly string[]
}
const POSITIONS: readonly Position[] = [
  ...[
    (n: string) => `${n} = 'x'`,
    (n: string) => `${n} != null`,
    (n: string) => `${n}.name = 'x'`,
    (n: string) => `owner.${n} = 'x'`,
    (n: string) => `owner.${n}.name = 'x'`,
    (n: string) => `${n}_via_owner.title = 'x'`,
    (n: string) => `tags ?= ${n}`,
    (n: string) => `@collection.${n}.title = 'x'`,
    (n: string) => `@collection.people.${n} = 'x'`,
    (n: string) => `@collection.people:${n}.${n} = 'x'`,
    (n: string) => `@request.${n} = 'x'`,
    (n: string) => `@${n} = 'x'`,
    (n: string) => `@request.auth.id.${n} = 'x'`,
  ].map((f) => ({
    label: `filter ${f('N')}`,
    request: (n: string, as: string) => list('things', `filter=${q(f(n))}`, as),
    codes: ['INVALID_FILTER'],
  })),
  {
    label: 'back-relation filter on people',
    request: (n, as) => list('people', `filter=${q(`things_via_${n}.title = 'x'`)}`, as),
    codes: ['INVALID_FILTER'],
  },
  ...['N', '-N', '+N', 'title,N'].map((spec) => ({
    label: `sort=${spec}`,
    request: (n: string, as: string) => list('things', `sort=${q(spec.replace('N', n))}`, as),
    codes: ['BAD_REQUEST'],
  })),
  ...['N', 'id,N', 'owner.N', 'N.id'].map((spec) => ({
    label: `fields=${spec}`,
    request: (n: string, as: string) => list('things', `fields=${q(spec.replace('N', n))}`, as),
    codes: ['BAD_REQUEST'],
  })),
  ...['N', 'owner.N', 'N_via_owner', 'owner.things_via_N'].map((spec) => ({
    label: `expand=${spec}`,
    request: (n: string, as: string) => list('things', `expand=${q(spec.replace('N', n))}`, as),
    codes: ['BAD_REQUEST'],
  })),
  {
    label: 'collection path',
    request: (n, as) => s.api('GET', `/api/collections/${n}/records`, undefined, { as }),
    codes: ['NOT_FOUND'],
  },
  {
    label: 'body key on create',
    request: (n, as) => s.api('POST', '/api/collections/things/records', { title: 't', [n]: 'x' }, { as }),
    codes: ['VALIDATION_FAILED'],
  },
  {
    label: 'nested body key on create',
    request: (n, as) =>
      s.api('POST', '/api/collections/things/records', { title: 't', [n]: { [n]: 'x' } }, { as }),
    codes: ['VALIDATION_FAILED'],
  },
]

describe('prototype member names are unknown names, in every position', () => {
  it('answer 4xx with the documented code, never 500 (admin, anonymous and a user)', async () => {
    await fc.assert(
      fc.asyncProperty(
        nameArb,
        fc.constantFrom(...POSITIONS),
        fc.constantFrom('admin', 'anon', 'user'),
        async (n, pos, who) => {
          const r = await pos.request(n, who === 'user' ? user.token : who)
          expectClientError(r, `${pos.label} with ${n} as ${who}`, pos.codes)
        },
      ),
      { numRuns: 400 },
    )
  })

  it('a body key names the field it is about, even __proto__', async () => {
    for (const n of PROTO_NAMES) {
      const r = await s.api(
        'POST',
        '/api/collections/things/records',
        { title: 't', [n]: 'x' },
        { as: 'anon' },
      )
      expect(r.status, n).toBe(400)
      expect(r.body.details.fields[n]?.code, n).toBe('unknown')
    }
    // Through JSON text, as a client sends it: "__proto__" is an own key of the parsed body.
    const raw = await s.api('POST', '/api/collections/things/records', '{"title":"t","__proto__":{"x":1}}', {
      as: 'anon',
    })
    expect(raw.status).toBe(400)
    expect(raw.body.details.fields[PROTO].code).toBe('unknown')
    // In a batch too: the key is not dropped on the way, the request fails like a single one.
    const batch = await s.api(
      'POST',
      '/api/batch',
      '{"requests":[{"method":"POST","path":"/api/collections/things/records","body":{"__proto__":{"title":"x"}}}]}',
      { as: 'anon' },
    )
    expect(batch.status).toBe(400)
    expect(batch.body.details.index).toBe(0)
    expect(batch.body.details.fields[PROTO].code).toBe('unknown')
    expect((await list('things', `filter=${q("title = 'x'")}`, 'admin')).body.items).toEqual([])
  })
})

describe('rules and filters never read Object.prototype through a macro', () => {
  const request = (auth: Record<string, unknown> | null): RuleRequest => ({
    auth,
    body: { title: 'own' },
    query: { filter: 'x' },
    method: 'GET',
  })

  it('@request.auth|body|query.<prototype member> is null unless the request has that own key (binder)', () => {
    fc.assert(
      fc.property(
        nameArb,
        fc.constantFrom('auth', 'body', 'query'),
        fc.constantFrom('!= null', "= ''", "!= ''", '= null'),
        fc.boolean(),
        (n, group, cmp, restricted) => {
          const src = `@request.${group}.${n} ${cmp}`
          const bound: BExpr = bindFilter(
            src,
            collections.get('things')!,
            lookup,
            request({ id: user.id, name: 'proto' }),
            restricted,
          )
          // Both sides are known before the query: the comparison folds, as with any absent value (null).
          const expected = cmp === '= null' || cmp === "!= ''"
          expect(bound, src).toEqual({ kind: 'const', value: expected })
        },
      ),
      { numRuns: 500 },
    )
  })

  it('an own key of the request with a prototype name is read like any other', () => {
    const bound = bindFilter(
      "@request.body.constructor = 'mine' && @request.query.toString = 'q'",
      collections.get('things')!,
      lookup,
      { auth: null, body: { constructor: 'mine' }, query: { toString: 'q' } },
      true,
    )
    expect(bound).toEqual({ kind: 'const', value: true })
  })

  it('a rule naming prototype members in every macro lets nobody in (list, view, create)', async () => {
    for (const as of ['anon', user.token]) {
      const r = await list('guarded', '', as)
      expect(r.status).toBe(200)
      expect(r.body.items).toEqual([])
      const withQuery = await list('guarded', `constructor=1&toString=1&valueOf=1`, as)
      // Own query parameters do count: that is what @request.query reads.
      expect(withQuery.body.items.map((x: any) => x.title)).toEqual(['secret'])
      const created = await s.api('POST', '/api/collections/guarded/records', { title: 'x' }, { as })
      expect(created.status).toBe(403)
    }
    // A body that really sends the key passes the create rule, as for any other key.
    const own = await s.api(
      'POST',
      '/api/collections/guarded/records',
      { title: 'y', constructor: 1 },
      {
        as: 'anon',
      },
    )
    expect(own.status).toBe(400)
    expect(own.body.details.fields.constructor.code).toBe('unknown')
  })

  it('a user filter reading @request.auth.<prototype member> matches nothing', async () => {
    for (const n of PROTO_NAMES) {
      const r = await list('things', `filter=${q(`@request.auth.${n} != null`)}`, user.token)
      expect(r.status, n).toBe(200)
      expect(r.body.items, n).toEqual([])
      const qr = await list('things', `filter=${q(`@request.query.${n} != null`)}`, 'anon')
      expect(qr.body.items, n).toEqual([])
    }
  })
})

describe('fields named like prototype members work like any field', () => {
  it('filter, sort, fields and expand on them', async () => {
    const cases: [string, string[]][] = [
      [`constructor = 'yes'`, ['yes']],
      [`constructor != 'yes'`, ['no']],
      ['valueOf > 3', ['no']],
      [`toString ?= 'b'`, ['yes']],
      ['toString = null', ['no']],
      [`hasOwnProperty.name = 'Ann'`, ['yes']],
      ['hasOwnProperty = null', ['no']],
    ]
    for (const [filter, expected] of cases) {
      const r = await list('odd', `filter=${q(filter)}&sort=constructor`, 'anon')
      expect(r.status, `${filter}: ${JSON.stringify(r.body)}`).toBe(200)
      expect(
        r.body.items.map((x: any) => x.constructor),
        filter,
      ).toEqual(expected)
    }
    const sorted = await list('odd', 'sort=-valueOf&fields=constructor,valueOf', 'anon')
    expect(sorted.body.items).toEqual([
      { constructor: 'no', valueOf: 4 },
      { constructor: 'yes', valueOf: 3 },
    ])
    const expanded = await list('odd', `filter=${q("constructor = 'yes'")}&expand=hasOwnProperty`, 'anon')
    expect(expanded.body.items[0].expand.hasOwnProperty.name).toBe('Ann')
    const back = await list('people', 'expand=odd_via_hasOwnProperty', 'anon')
    expect(back.body.items[0].expand.odd_via_hasOwnProperty.map((x: any) => x.constructor)).toEqual(['yes'])
  })

  it('a required field named constructor is required; a multiple one defaults to []', async () => {
    const missing = await s.api('POST', '/api/collections/odd/records', { valueOf: 1 }, { as: 'anon' })
    expect(missing.status).toBe(400)
    expect(missing.body.details.fields.constructor.code).toBe('required')
    const made = await s.api('POST', '/api/collections/odd/records', { constructor: 'z' }, { as: 'anon' })
    expect(made.status).toBe(201)
    expect(made.body).toMatchObject({ constructor: 'z', valueOf: null, toString: [], hasOwnProperty: null })
    const stored = await list('odd', `filter=${q("constructor = 'z' && toString = null")}`, 'admin')
    expect(stored.body.items).toHaveLength(1)
  })
})
