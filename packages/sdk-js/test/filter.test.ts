import { parseFilter } from '@bastide/server/src/core/rules/parse.ts'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { f, literal } from '../src/filter.ts'

/** The right operand of `x = <literal>` as the server's parser reads it. */
function parsedValue(filter: string): unknown {
  const e = parseFilter(filter)
  if (e.type !== 'compare' || e.right.type !== 'literal') throw new Error(`not a comparison: ${filter}`)
  return e.right.value
}

describe('f()', () => {
  it('round-trips any string through the server parser as the same literal (never as syntax)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }).filter((s) => !s.includes('\u0000')),
        (s) => {
          expect(parsedValue(f('title = {:v}', { v: s }))).toBe(s)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('cannot be escaped into another condition', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('\u0000')),
        fc.string(),
        (a, b) => {
          const e = parseFilter(f('title = {:a} && body = {:b}', { a: `${a}' || true || '`, b }))
          expect(e.type).toBe('and')
        },
      ),
    )
  })

  it('writes every finite number in a form the parser reads back exactly', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        expect(parsedValue(f('views = {:n}', { n }))).toBe(Object.is(n, -0) ? 0 : n)
      }),
      { numRuns: 2000 },
    )
    expect(literal(1e-7)).toBe('0.0000001')
    expect(literal(1e21)).toBe('1000000000000000000000')
    expect(literal(-1.5e-10)).toBe('-0.00000000015')
  })

  it('renders booleans, null and dates', () => {
    expect(f('a = {:t} && b = {:f} && c = {:n}', { t: true, f: false, n: null })).toBe(
      'a = true && b = false && c = null',
    )
    expect(f('created > {:d}', { d: new Date('2026-01-02T03:04:05.678Z') })).toBe(
      "created > '2026-01-02T03:04:05.678Z'",
    )
  })

  it('leaves placeholders inside quoted strings alone', () => {
    expect(f("title = '{:x}' && id = {:x}", { x: 'a' })).toBe("title = '{:x}' && id = 'a'")
    expect(f("title = 'it\\'s {:x}' || id = {:x}", { x: 1 })).toBe("title = 'it\\'s {:x}' || id = 1")
  })

  it('refuses missing values, NUL, NaN, infinities and objects', () => {
    expect(() => f('a = {:x}', {} as { x: string })).toThrow(/no value for \{:x\}/)
    expect(() => f('a = {:x}', { x: 'a\u0000b' })).toThrow(/NUL/)
    expect(() => f('a = {:x}', { x: Number.NaN })).toThrow(/finite/)
    expect(() => f('a = {:x}', { x: Number.POSITIVE_INFINITY })).toThrow(/finite/)
    expect(() => f('a = {:x}', { x: new Date('nope') })).toThrow(/invalid Date/)
    expect(() => f('a = {:x}', { x: {} as unknown as string })).toThrow(/must be a string/)
  })
})
