import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ANONYMOUS } from '../src/core/auth/principal.ts'
import { type CollectionsService, createCollectionsService } from '../src/core/collections/service.ts'
import type { Collection } from '../src/core/collections/types.ts'
import { tableOf } from '../src/core/records/select.ts'
import { validateInput } from '../src/core/records/validate.ts'
import { authorize } from '../src/core/rules/authorize.ts'
import { type ColumnValues, columnValuesOf, rowRelation } from '../src/core/rules/row-relation.ts'
import { createEventBus } from '../src/events/bus.ts'
import { type Matcher, matchChange } from '../src/realtime/subscriptions.ts'
import { createCollection, startTestServer, type TestServer } from './support/harness.ts'

/**
 * A one-row relation (rowRelation) stands in for a row a rule cannot read from its table: a create that a
 * constraint refused (built from the validated input) and a deleted record (built from the record as its
 * event carries it). Both must compare exactly as the stored row does, json fields included.
 */
let s: TestServer
let collections: CollectionsService
let docs: Collection

const VALUES: readonly unknown[] = ['abc', [1, 2], { a: 1, b: [true, null] }, 42, true, '']

beforeAll(async () => {
  s = await startTestServer()
  const rule = 'data = twin'
  await createCollection(s, {
    name: 'docs',
    fields: [
      { name: 'slug', type: 'text', unique: true },
      { name: 'data', type: 'json' },
      { name: 'twin', type: 'json' },
    ],
    rules: { list: rule, view: rule, create: rule, update: null, delete: null },
  })
  collections = await createCollectionsService({ db: s.bastide.database.db, bus: createEventBus() })
  docs = collections.get('docs')
})
afterAll(() => s?.close())

/** Does every column of `values`, as a one-row relation, equal the stored row `id`'s? */
async function sameAsStored(id: string, values: ColumnValues): Promise<Record<string, boolean>> {
  const res = await sql<Record<string, boolean>>`SELECT
      (r.slug IS NOT DISTINCT FROM t.slug) AS slug, (r.data IS NOT DISTINCT FROM t.data) AS data,
      (r.twin IS NOT DISTINCT FROM t.twin) AS twin
    FROM (${rowRelation(docs, values)}) AS r, ${tableOf(docs)} AS t WHERE t.id = ${id}::uuid`.execute(
    s.bastide.database.db,
  )
  return res.rows[0]!
}

describe('one-row relations compare like the stored row', () => {
  it.each(VALUES.map((v) => [JSON.stringify(v), v]))(
    'json %s, from the input and from the record',
    async (_, v) => {
      const body = { slug: `s-${JSON.stringify(v)}`, data: v, twin: v }
      const created = await s.api('POST', '/api/collections/docs/records', body, { as: 'anon' })
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      const all = { slug: true, data: true, twin: true }
      // The create check's path: the validated input (json encoded as the INSERT writes it).
      expect(await sameAsStored(created.body.id, validateInput(docs, body, false, true).columns)).toEqual(all)
      // The deleted record's path: the record as events and answers carry it (json as JSON values).
      expect(await sameAsStored(created.body.id, columnValuesOf(docs, created.body))).toEqual(all)
    },
  )

  it('the create rule decides on the would-be row when a constraint refuses it', async () => {
    for (const v of VALUES) {
      const slug = `s-${JSON.stringify(v)}`
      // Allowed (data = twin): the caller is told about the taken value.
      const taken = await s.api(
        'POST',
        '/api/collections/docs/records',
        { slug, data: v, twin: v },
        { as: 'anon' },
      )
      expect(taken.status, JSON.stringify(taken.body)).toBe(400)
      expect(taken.body.details.fields.slug.code).toBe('not_unique')
      // Denied: the same constraint error stays hidden behind the rule.
      const other = await s.api(
        'POST',
        '/api/collections/docs/records',
        { slug, data: v, twin: 'x' },
        { as: 'anon' },
      )
      expect(other.status, JSON.stringify(other.body)).toBe(403)
    }
  })

  it('a subscriber sees a delete when the rule, evaluated in SQL on the last values, holds', async () => {
    const d = authorize(ANONYMOUS, {
      rule: docs.rules.view,
      scope: 'records:read',
      schema: docs,
      lookup: () => undefined,
    })
    if (d.kind !== 'expression') throw new Error(`expected an expression, got ${d.kind}`)
    const sub = { matcher: { kind: 'sql', expr: d.expr } satisfies Matcher }
    const listed = await s.api('GET', '/api/collections/docs/records?perPage=100')
    expect(listed.body.items).toHaveLength(VALUES.length)
    for (const record of listed.body.items) {
      const event = (r: Record<string, unknown>) =>
        ({ seq: 1, action: 'delete', collection: 'docs', record: r, at: new Date().toISOString() }) as const
      expect(await matchChange(s.bastide.database.db, docs, event(record), [sub])).toEqual([sub])
      const changed = { ...record, twin: 'something else' }
      expect(await matchChange(s.bastide.database.db, docs, event(changed), [sub])).toEqual([])
    }
  })
})
