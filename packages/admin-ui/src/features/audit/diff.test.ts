import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { diffValues } from './diff.ts'

describe('diffValues', () => {
  it('finds nothing between equal values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(diffValues(v, structuredClone(v))).toEqual([])
      }),
    )
  })

  it('finds something between any two values that differ as JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b))
        expect(diffValues(a, b).length).toBeGreaterThan(0)
      }),
    )
  })

  it('names fields of arrays by their name, so an inserted field is one addition', () => {
    const before = {
      fields: [
        { name: 'title', type: 'text' },
        { name: 'body', type: 'text', required: false },
      ],
    }
    const after = {
      fields: [
        { name: 'slug', type: 'text' },
        { name: 'title', type: 'text' },
        { name: 'body', type: 'text', required: true },
      ],
      rules: { list: '' },
    }
    expect(diffValues(before, after)).toEqual([
      { path: 'fields.body.required', kind: 'changed', before: false, after: true },
      { path: 'fields.slug', kind: 'added', after: { name: 'slug', type: 'text' } },
      { path: 'rules', kind: 'added', after: { list: '' } },
    ])
  })

  it('quotes path segments that are not plain names', () => {
    expect(diffValues({ 'a b': 1 }, { 'a b': 2 })).toEqual([
      { path: '["a b"]', kind: 'changed', before: 1, after: 2 },
    ])
    expect(diffValues([1, 2], [1])).toEqual([{ path: '["1"]', kind: 'removed', before: 2 }])
  })

  it('reports a whole value created or deleted', () => {
    expect(diffValues(undefined, { a: 1 })).toEqual([{ path: '(value)', kind: 'added', after: { a: 1 } }])
    expect(diffValues({ a: 1 }, undefined)).toEqual([{ path: '(value)', kind: 'removed', before: { a: 1 } }])
  })
})
