import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseCron } from '../src/cron.ts'

const at = (iso: string) => new Date(iso)

describe('parseCron', () => {
  it('finds the next minute of common schedules (UTC)', () => {
    const from = at('2026-12-03T09:17:30Z')
    expect(parseCron('* * * * *').next(from)).toEqual(at('2026-12-03T09:18:00Z'))
    expect(parseCron('@daily').next(from)).toEqual(at('2026-12-04T00:00:00Z'))
    expect(parseCron('30 2 * * *').next(from)).toEqual(at('2026-12-04T02:30:00Z'))
    expect(parseCron('*/15 * * * *').next(from)).toEqual(at('2026-12-03T09:30:00Z'))
    expect(parseCron('0 0 1 jan *').next(from)).toEqual(at('2027-01-01T00:00:00Z'))
    expect(parseCron('0 12 * * mon-fri').next(at('2026-12-05T13:00:00Z'))).toEqual(at('2026-12-07T12:00:00Z'))
    // Both day fields restricted: either matches (Vixie cron).
    expect(parseCron('0 0 13 * 5').next(at('2026-12-03T00:00:00Z'))).toEqual(at('2026-12-04T00:00:00Z'))
    expect(parseCron('0 0 * * 7').next(at('2026-12-03T00:00:00Z'))).toEqual(at('2026-12-06T00:00:00Z'))
    expect(parseCron('0 0 30 2 *').next(from)).toBeUndefined()
  })

  it('exposes the parsed fields, Sunday as 0', () => {
    expect(parseCron('0 4 * * 7,sat').fields).toEqual({
      minutes: [0],
      hours: [4],
      daysOfMonth: Array.from({ length: 31 }, (_, i) => i + 1),
      months: Array.from({ length: 12 }, (_, i) => i + 1),
      daysOfWeek: [0, 6],
      anyDayOfMonth: true,
      anyDayOfWeek: false,
    })
    expect(parseCron('@hourly').fields.minutes).toEqual([0])
    expect(parseCron('*/20 * * * *').fields.minutes).toEqual([0, 20, 40])
  })

  it('names the wrong field', () => {
    expect(() => parseCron('* * * *')).toThrow('has 4 fields')
    expect(() => parseCron('60 * * * *')).toThrow('minute "60": 60 is not in 0-59')
    expect(() => parseCron('* 5-2 * * *')).toThrow('hour "5-2": range 5-2 is backwards')
    expect(() => parseCron('* * * foo *')).toThrow('month "foo"')
    expect(() => parseCron('*/0 * * * *')).toThrow('step 0')
  })

  const field = (min: number, max: number) =>
    fc.oneof(
      fc.constant('*'),
      fc.integer({ min, max }).map(String),
      fc
        .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
        .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
      fc.integer({ min: 1, max: Math.max(1, max - min) }).map((n) => `*/${n}`),
    )
  const expression = fc
    .tuple(field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 6))
    .map((parts) => parts.join(' '))
  const date = fc.date({
    min: at('2000-01-01T00:00:00Z'),
    max: at('2090-01-01T00:00:00Z'),
    noInvalidDate: true,
  })

  it('next() is a later minute that matches, and no minute before it does', () => {
    fc.assert(
      fc.property(expression, date, (expr, d) => {
        const cron = parseCron(expr)
        const n = cron.next(d)
        expect(n).toBeDefined()
        expect(n!.getTime()).toBeGreaterThan(d.getTime())
        expect(n!.getUTCSeconds()).toBe(0)
        expect(cron.matches(n!)).toBe(true)
        // Every minute in between (up to a day of them) does not match.
        // (One expect for the lot: 150 runs × 1440 expect calls took seconds on a busy machine.)
        const first = Math.floor(d.getTime() / 60_000) * 60_000 + 60_000
        let earlier: number | undefined
        for (
          let t = first;
          earlier === undefined && t < Math.min(n!.getTime(), first + 1440 * 60_000);
          t += 60_000
        )
          if (cron.matches(new Date(t))) earlier = t
        expect(earlier).toBeUndefined()
      }),
      { numRuns: 150 },
    )
  }, 30_000)

  it('matches() agrees with next() from the minute before', () => {
    fc.assert(
      fc.property(expression, date, (expr, d) => {
        const cron = parseCron(expr)
        const minute = new Date(Math.floor(d.getTime() / 60_000) * 60_000)
        const prev = new Date(minute.getTime() - 1)
        expect(cron.next(prev)?.getTime() === minute.getTime()).toBe(cron.matches(minute))
      }),
      { numRuns: 500 },
    )
  })
})
