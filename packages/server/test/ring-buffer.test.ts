/**
 * RingBuffer: the last `capacity` items, oldest first, as an array with push + splice(0, excess) keeps them; the
 * model below is that array.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RingBuffer } from '../src/realtime/ring-buffer.ts'

describe('RingBuffer', () => {
  it('keeps the last `capacity` items in order and hands back each one that falls out', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 20 }),
        (capacity, values, probe) => {
          const ring = new RingBuffer<{ v: number; i: number }>(capacity)
          const model: { v: number; i: number }[] = []
          values.forEach((v, i) => {
            const item = { v, i }
            model.push(item)
            const expected = model.length > capacity ? model.splice(0, model.length - capacity) : []
            const dropped = ring.push(item)
            expect(dropped === undefined ? [] : [dropped]).toEqual(expected)
            expect(ring.length).toBe(model.length)
            expect([...ring]).toEqual(model)
            expect(ring.find((x) => x.v === probe)).toBe(model.find((x) => x.v === probe))
            expect(ring.filter((x) => x.v >= probe)).toEqual(model.filter((x) => x.v >= probe))
          })
        },
      ),
      { numRuns: 300 },
    )
  })

  it('returns the very item on find, and refuses a capacity that is not a whole number', () => {
    const ring = new RingBuffer<{ k: string }>(2)
    const a = { k: 'a' }
    const b = { k: 'b' }
    ring.push(a)
    ring.push(b)
    expect(ring.find((x) => x.k === 'b')).toBe(b)
    expect(ring.push({ k: 'c' })).toBe(a)
    expect(ring.find((x) => x.k === 'a')).toBeUndefined()
    expect(() => new RingBuffer(-1)).toThrow(RangeError)
    expect(() => new RingBuffer(1.5)).toThrow(RangeError)
  })
})
