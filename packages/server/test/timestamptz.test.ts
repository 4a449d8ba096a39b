import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { timestamptzToIso } from '../src/db/create-db.ts'

/** What PostgreSQL prints for a timestamptz in a UTC session (ISO DateStyle), from a date and a precision. */
function pgText(d: Date, digits: number): string {
  const iso = d.toISOString() // 2024-05-01T12:34:56.789Z
  let frac = iso.slice(20, 23).slice(0, digits).replace(/0+$/, '')
  if (digits === 0) frac = ''
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''}+00`
}

describe('timestamptzToIso', () => {
  it('answers what a Date makes of PostgreSQL’s UTC text, to the millisecond', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59.999Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: 0, max: 3 }),
        (d, digits) => {
          const text = pgText(d, digits)
          expect(timestamptzToIso(text)).toBe(
            new Date(text.replace(' ', 'T').replace('+00', 'Z')).toISOString(),
          )
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('leaves other shapes to a Date: microseconds, offsets, BC, infinity, garbage', () => {
    expect(timestamptzToIso('2024-05-01 12:34:56.123456+00')).toBe('2024-05-01T12:34:56.123Z')
    expect(timestamptzToIso('2024-05-01 12:34:56+02')).toBe('2024-05-01T10:34:56.000Z')
    expect(timestamptzToIso('infinity')).toBe(Infinity)
    expect(timestamptzToIso('2024-05-01 12:34:56.x+00')).not.toBe('2024-05-01T12:34:56.x00Z')
    expect(timestamptzToIso('0044-03-15 12:00:00+00 BC')).not.toBe('0044-03-15T12:00:00.000Z')
    expect(timestamptzToIso('2024-05-01 12:34:5a+00')).toBeNull()
    // The three-digit shape checked position by position, digits included.
    expect(timestamptzToIso('2024-05-01 12:34:56.1x3+00')).not.toBe('2024-05-01T12:34:56.1x3Z')
    expect(timestamptzToIso('2024-05-01T12:34:56.123+00')).toBeNull()
    expect(timestamptzToIso('2024-05-01 12:34:56.123+01')).toBe('2024-05-01T11:34:56.123Z')
  })
})
