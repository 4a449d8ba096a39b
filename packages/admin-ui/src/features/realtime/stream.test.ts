import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { chosenCollections, exampleChannel, prependBounded } from './stream.ts'

describe('prependBounded', () => {
  it('keeps the newest first and never more than the bound', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { maxLength: 30 }),
        fc.array(fc.integer(), { maxLength: 30 }),
        fc.integer({ min: 1, max: 20 }),
        (list, incoming, max) => {
          const out = prependBounded(list.slice(0, max), incoming, max)
          expect(out.length).toBe(Math.min(max, Math.min(list.length, max) + incoming.length))
          // The newest arrival leads; order within the arrivals is newest first.
          if (incoming.length > 0) expect(out[0]).toBe(incoming[incoming.length - 1])
          const expected = [...[...incoming].reverse(), ...list.slice(0, max)].slice(0, max)
          expect(out).toEqual(expected)
        },
      ),
    )
  })
})

describe('chosenCollections', () => {
  it('follows every collection or only the picked ones that exist', () => {
    expect(chosenCollections(['a', 'b'], ['b', 'gone'], false)).toEqual(['b'])
    expect(chosenCollections(['a', 'b'], [], true)).toEqual(['a', 'b'])
  })
})

describe('exampleChannel', () => {
  it('drops the trailing star of a pattern', () => {
    expect(exampleChannel('room:*')).toBe('room:')
    expect(exampleChannel('lobby')).toBe('lobby')
  })
})
