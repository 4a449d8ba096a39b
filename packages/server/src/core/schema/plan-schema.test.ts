import type { SchemaDocument } from '@bastide/protocol'
import { describe, expect, it } from 'vitest'
import { parseSchemaDocument } from './canonical-schema.ts'
import { planHash, planSchema } from './plan-schema.ts'

const doc = (fields: unknown[], extra: Record<string, unknown> = {}): SchemaDocument =>
  parseSchemaDocument({ collections: [{ name: 'items', fields, ...extra }] })
const field = (name: string, type: string, more: Record<string, unknown> = {}) => ({ name, type, ...more })
const changes = (from: SchemaDocument, to: SchemaDocument) =>
  planSchema(from, to).map((c) => `${c.op}${c.destructive ? '!' : ''} ${c.target}`)

describe('planSchema: which changes can lose data', () => {
  const cases: { name: string; from: unknown; to: unknown; expect: string[] }[] = [
    { name: 'same field', from: field('a', 'text'), to: field('a', 'text'), expect: [] },
    {
      name: 'text → number',
      from: field('a', 'text'),
      to: field('a', 'number'),
      expect: ['field.update! items.a'],
    },
    {
      name: 'number → text',
      from: field('a', 'number'),
      to: field('a', 'text'),
      expect: ['field.update items.a'],
    },
    {
      name: 'integer → decimal',
      from: field('a', 'number', { options: { integer: true } }),
      to: field('a', 'number'),
      expect: ['field.update items.a'],
    },
    {
      name: 'decimal → integer (rounds)',
      from: field('a', 'number'),
      to: field('a', 'number', { options: { integer: true } }),
      expect: ['field.update! items.a'],
    },
    {
      name: 'select narrowed',
      from: field('a', 'select', { options: { values: ['x', 'y'] } }),
      to: field('a', 'select', { options: { values: ['x'] } }),
      expect: ['field.update! items.a'],
    },
    {
      name: 'select widened',
      from: field('a', 'select', { options: { values: ['x'] } }),
      to: field('a', 'select', { options: { values: ['x', 'y'] } }),
      expect: ['field.update items.a'],
    },
    {
      name: 'made required',
      from: field('a', 'text'),
      to: field('a', 'text', { required: true }),
      expect: ['field.update items.a'],
    },
    {
      name: 'renamed by hint',
      from: field('a', 'text'),
      to: field('b', 'text', { renamedFrom: 'a' }),
      expect: ['field.rename items.b'],
    },
    {
      name: 'renamed without hint',
      from: field('a', 'text'),
      to: field('b', 'text'),
      expect: ['field.add items.b', 'field.drop! items.a'],
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      expect(changes(doc([c.from]), doc([c.to]))).toEqual(c.expect)
    })
  }

  it('a relation without onDelete means what the server would store (no spurious change)', () => {
    const stored = doc([
      field('r', 'relation', { required: true, options: { collection: 'items', onDelete: 'restrict' } }),
    ])
    const written = doc([field('r', 'relation', { required: true, options: { collection: 'items' } })])
    expect(changes(stored, written)).toEqual([])
  })

  it('leaves built-in collections alone when the target omits them, and drops other collections', () => {
    const current = parseSchemaDocument({
      collections: [{ name: 'users', system: true }, { name: 'old' }],
    })
    expect(changes(current, parseSchemaDocument({}))).toEqual(['collection.drop! old'])
  })

  it('hashes the instance and the target: a different instance gives a different hash', () => {
    const target = doc([field('a', 'text')])
    expect(planHash(doc([]), target)).toBe(planHash(doc([]), target))
    expect(planHash(doc([field('z', 'bool')]), target)).not.toBe(planHash(doc([]), target))
  })
})
