import { describe, expect, it } from 'vitest'
import { stableJson } from '../src/schema-document.ts'

describe('stableJson', () => {
  it('is the same for the same value whatever the key order, undefined members left out', () => {
    const a = { b: [1, { y: 'x', x: null }], a: true, skip: undefined }
    const b = { a: true, b: [1, { x: null, y: 'x' }] }
    expect(stableJson(a)).toBe(stableJson(b))
    expect(stableJson(a)).toBe('{"a":true,"b":[1,{"x":null,"y":"x"}]}')
  })

  it('keeps array order: a reordered list is a different value', () => {
    expect(stableJson([1, 2])).not.toBe(stableJson([2, 1]))
  })
})
