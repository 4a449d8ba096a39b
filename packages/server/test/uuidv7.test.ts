/**
 * uuidv7(): RFC 9562 layout (version 7, variant 10xx), and the 12-bit counter that keeps one process's ids
 * strictly increasing: a new millisecond takes its time and a random counter start below 0x400; a time not after
 * the last one keeps the last time and counts on, moving to the next millisecond when the counter passes 0xfff.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { uuidv7 } from '../src/core/records/uuidv7.ts'

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

function decode(id: string): { ms: number; seq: number; variant: number } {
  const h = id.replaceAll('-', '')
  return {
    ms: Number.parseInt(h.slice(0, 12), 16),
    seq: Number.parseInt(h.slice(13, 16), 16),
    variant: Number.parseInt(h[16]!, 16) >> 2,
  }
}

/** Times for each run start past every time used so far: the generator's state is the process's. */
let base = Date.now()

describe('uuidv7', () => {
  // First: later tests move the generator's last time into the future.
  it('decodes to the current time by default, and refuses a time past 48 bits', () => {
    const before = Date.now()
    const d = decode(uuidv7())
    expect(d.ms).toBeGreaterThanOrEqual(before)
    expect(d.ms).toBeLessThanOrEqual(Date.now())
    expect(() => uuidv7(2 ** 48)).toThrow(RangeError)
  })

  it('follows the layout and the counter semantics for any sequence of times', () => {
    fc.assert(
      fc.property(
        // Offsets from the run's base: repeats (same ms), steps back (clock moves backwards) and jumps.
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }),
        (offsets) => {
          const start = base + 10_000
          let last: string | undefined
          let lastMs = -1
          let lastSeq = -1
          for (const off of offsets) {
            const now = start + off
            const id = uuidv7(now)
            expect(id).toMatch(FORMAT)
            const d = decode(id)
            expect(d.variant).toBe(0b10)
            if (now > lastMs) {
              // A new millisecond: its own time, a counter start in the lower 10 bits.
              expect(d.ms).toBe(now)
              expect(d.seq).toBeLessThanOrEqual(0x3ff)
            } else if (lastSeq === 0xfff) {
              expect([d.ms, d.seq]).toEqual([lastMs + 1, 0])
            } else {
              expect([d.ms, d.seq]).toEqual([lastMs, lastSeq + 1])
            }
            if (last !== undefined) expect(id > last).toBe(true)
            last = id
            lastMs = d.ms
            lastSeq = d.seq
          }
          base = lastMs + 1
        },
      ),
      { numRuns: 200 },
    )
  })

  it('stays strictly increasing within one millisecond and across counter overflow', () => {
    const now = base + 10_000
    const ids = Array.from({ length: 10_000 }, () => uuidv7(now))
    const decoded = ids.map(decode)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
    expect(decoded[0]!.ms).toBe(now)
    // 10,000 ids from a start below 0x400: the counter wraps at least twice, each time into the next ms.
    const wraps = decoded.filter((d, i) => i > 0 && d.seq === 0 && d.ms === decoded[i - 1]!.ms + 1).length
    expect(wraps).toBeGreaterThanOrEqual(2)
    expect(new Set(ids).size).toBe(ids.length)
    base = decoded[decoded.length - 1]!.ms + 1
  })

  it('draws fresh random bits for every id (the pool refills)', () => {
    const now = base + 10_000
    // More ids than one 4 KiB pool holds: the random tails never repeat.
    const tails = Array.from({ length: 3000 }, () => uuidv7(now + 0).slice(19))
    expect(new Set(tails).size).toBe(tails.length)
    base = decode(uuidv7(now)).ms + 1
  })
})
