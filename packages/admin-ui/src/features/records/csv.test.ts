import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CsvError, parseCsv, recordsToCsv, toCsv } from './csv.ts'

describe('CSV', () => {
  it('round-trips any rows: quotes, commas, CR, LF, spaces, unicode, empty cells', () => {
    const cell = fc.oneof(
      fc.string(),
      fc.constantFrom('', '"', ',', '\n', '\r\n', '\r', ' lead', 'trail ', '""', 'a,"b"\nc', 'é😀'),
    )
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 1, maxLength: 6 }), { maxLength: 12 }), (rows) => {
        expect(parseCsv(toCsv(rows))).toEqual(rows)
      }),
      { numRuns: 500 },
    )
  })

  it('parses what spreadsheets write: LF or CRLF, a BOM, no final line end, quoted line breaks', () => {
    expect(parseCsv('\ufeffa,b\nc,"d\ne"')).toEqual([
      ['a', 'b'],
      ['c', 'd\ne'],
    ])
    expect(parseCsv('x,"say ""hi"""\r\n')).toEqual([['x', 'say "hi"']])
    expect(parseCsv('a,,\n')).toEqual([['a', '', '']])
  })

  it('refuses an unclosed quote and text after a closing quote, with the line', () => {
    expect(() => parseCsv('a\n"b,c')).toThrow(CsvError)
    expect(() => parseCsv('a\n"b,c')).toThrow(/Line 2/)
    expect(() => parseCsv('"a"b')).toThrow(/after a closing quote/)
  })

  it('writes records with a header; arrays and objects as JSON, null as empty', () => {
    const csv = recordsToCsv(
      ['id', 'tags', 'meta', 'n', 'gone'],
      [{ id: '1', tags: ['a', 'b'], meta: { k: 'v, w' }, n: 3, gone: null }],
    )
    expect(parseCsv(csv)).toEqual([
      ['id', 'tags', 'meta', 'n', 'gone'],
      ['1', '["a","b"]', '{"k":"v, w"}', '3', ''],
    ])
  })
})
