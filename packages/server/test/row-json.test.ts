import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { pageJson } from '../src/http/json-etag.ts'
import { clearRowJson, rowJsonAndDigest } from '../src/http/row-json.ts'

const rowJson = (r: Record<string, unknown>) => rowJsonAndDigest(r).text

/**
 * A record's JSON text is kept and reused while the record is the same (src/http/row-json.ts): whatever
 * happens to a record between two answers, the text answered must be JSON.stringify's of the record as it is now.
 */
const ids = ['0193a0b0-0000-7000-8000-000000000001', '0193a0b0-0000-7000-8000-000000000002']
const key = fc.constantFrom('title', 'body', 'score', 'owner', 'done', '1', 'x y', '"q"')
const primitive = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constantFrom(0, -0, Number.NaN, '', 'same'),
)
const value = fc.oneof(
  { weight: 5, arbitrary: primitive },
  fc.array(fc.string(), { maxLength: 2 }),
  fc.object(),
)
const row = fc
  .tuple(fc.constantFrom(...ids), fc.array(fc.tuple(key, value), { maxLength: 6 }))
  .map(([id, pairs]) => {
    const r: Record<string, unknown> = { id }
    for (const [k, v] of pairs) r[k] = v
    return r
  })

afterEach(() => clearRowJson())

describe('rowJson', () => {
  it('is JSON.stringify of the row as it is now, through any sequence of reads and changes', () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 30 }), (rows) => {
        clearRowJson()
        for (const r of rows) {
          expect(rowJson(r)).toBe(JSON.stringify(r))
          // The same object read again (from the cache now, when it could be kept).
          expect(rowJson(r)).toBe(JSON.stringify(r))
        }
      }),
      { numRuns: 500 },
    )
  })

  it('notices a changed value, a key moved, added or removed, and an object changed in place', () => {
    const id = ids[0]!
    const base = { id, title: 'a', score: 1 }
    expect(rowJson(base)).toBe(JSON.stringify(base))
    const cases: Record<string, unknown>[] = [
      { id, title: 'b', score: 1 },
      { id, score: 1, title: 'a' },
      { id, title: 'a', score: 1, extra: true },
      { id, title: 'a' },
      { id, title: 'a', score: '1' },
      { id, title: 'a', score: 1 },
    ]
    for (const c of cases) expect(rowJson(c)).toBe(JSON.stringify(c))
    const tags = { id, tags: ['x'] }
    expect(rowJson(tags)).toBe(JSON.stringify(tags))
    tags.tags.push('y')
    expect(rowJson(tags)).toBe(JSON.stringify(tags))
  })

  it('gives the SHA-1 of the text with it', async () => {
    const { createHash } = await import('node:crypto')
    const r = { id: ids[1], title: 'digest me' }
    const { text, digest } = rowJsonAndDigest(r)
    expect(text).toBe(JSON.stringify(r))
    expect(digest).toBe(createHash('sha1').update(text).digest('base64'))
    expect(rowJsonAndDigest({ ...r }).digest).toBe(digest)
    expect(rowJsonAndDigest({ ...r, title: 'other' }).digest).not.toBe(digest)
  })
})

describe('pageJson', () => {
  const page = fc.record(
    {
      items: fc.array(row, { maxLength: 5 }),
      page: fc.integer({ min: 1, max: 9 }),
      perPage: fc.integer({ min: 1, max: 500 }),
      totalItems: fc.nat(),
      nextCursor: fc.option(fc.string(), { nil: null }),
    },
    { requiredKeys: ['items'] },
  )

  it('is JSON.stringify of the page, with a tag that changes exactly when the text does', () => {
    const seen = new Map<string, string>()
    fc.assert(
      fc.property(page, (p) => {
        const { text, etag } = pageJson(p)
        expect(text).toBe(JSON.stringify(p))
        expect(etag).toMatch(/^"[0-9a-f]{40}"$/)
        const before = seen.get(etag)
        if (before !== undefined) expect(before).toBe(text)
        seen.set(etag, text)
        expect(pageJson(structuredClone(p)).etag).toBe(etag)
      }),
      { numRuns: 500 },
    )
  })

  it('serializes a page whose first key is not items as it is', () => {
    const p = { page: 1, items: [{ id: ids[0], a: 1 }] }
    expect(pageJson(p).text).toBe(JSON.stringify(p))
  })
})
