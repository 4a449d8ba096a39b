import fc from 'fast-check'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { rowBuilder } from '../src/db/create-db.ts'

/**
 * Rows of a named statement are built by a function made for the statement's columns (db/create-db.ts
 * rowBuilder) instead of pg's Result.parseRow: for any columns and values, the same object, keys in the same
 * order, prototype and values alike, parsers applied the same way.
 */
const name = fc.oneof(
  fc.constantFrom(
    'id',
    'created',
    'title',
    '1',
    '10',
    'x y',
    '"q"',
    "it's",
    '\\',
    '\u2028',
    'constructor',
    'toString',
  ),
  fc.string({ maxLength: 6 }),
)
const parsers = [
  (v: string) => v,
  (v: string) => Number(v),
  (v: string) => `<${v}>`,
  (v: string) => v.length > 3,
]

describe('rowBuilder', () => {
  it('builds the row pg would', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(name, fc.nat(parsers.length - 1)), { maxLength: 8 }),
        fc.infiniteStream(fc.option(fc.string({ maxLength: 8 }), { nil: null })),
        (cols, values) => {
          const fields = cols.map(([n], i) => ({ name: n, dataTypeID: 25 + i, format: 'text' }))
          const ps = cols.map(([, p]) => parsers[p]!)
          const data = cols.map(() => values.next().value as string | null)
          const result = new pg.Result(
            undefined as never,
            {
              getTypeParser: (oid: number) => ps[oid - 25],
            } as never,
          ) as unknown as {
            addFields(f: unknown): void
            parseRow(d: unknown): Record<string, unknown>
          }
          result.addFields(fields)
          const expected = result.parseRow(data)
          const build = rowBuilder(fields, ps)
          if (build === undefined) {
            // Only for a name it cannot write as a literal's own key, or a repeated one.
            expect(
              new Set(cols.map(([n]) => n)).size < cols.length || cols.some(([n]) => n === '__proto__'),
            ).toBe(true)
            return
          }
          const got = build(data)
          expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(expected))
          expect(Object.keys(got)).toEqual(Object.keys(expected))
          for (const k of Object.keys(expected)) expect(Object.is(got[k], expected[k]), k).toBe(true)
          expect(JSON.stringify(got)).toBe(JSON.stringify(expected))
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('leaves binary columns, repeated names and __proto__ to pg', () => {
    const p = [(v: string) => v, (v: string) => v]
    expect(rowBuilder([{ name: 'a', dataTypeID: 17, format: 'binary' }], [p[0]!])).toBeUndefined()
    expect(
      rowBuilder(
        [
          { name: 'a', dataTypeID: 25, format: 'text' },
          { name: 'a', dataTypeID: 25, format: 'text' },
        ],
        p,
      ),
    ).toBeUndefined()
    expect(rowBuilder([{ name: '__proto__', dataTypeID: 25, format: 'text' }], [p[0]!])).toBeUndefined()
  })
})
