import { describe, expect, it } from 'vitest'
import { PageCache } from './page-cache.ts'

const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: String(from + i) }))

describe('page cache', () => {
  it('asks by cursor after a known page, by number for a jump, and learns the total', () => {
    const c = new PageCache<{ id: string }>(100)
    expect(c.missing(0, 30)).toEqual([0])
    expect(c.begin(0)).toEqual({ page: 1 })
    expect(c.missing(0, 30)).toEqual([])
    c.store(0, { items: rows(0, 100), nextCursor: 'c1', totalItems: 1050 })
    expect(c.total).toBe(1050)
    expect(c.rowAt(99)).toEqual({ id: '99' })
    expect(c.rowAt(100)).toBeUndefined()
    expect(c.begin(1)).toEqual({ after: 'c1' })
    // A jump to the end: only the last page, by number; the end is clamped to the total.
    expect(c.missing(1000, 1200)).toEqual([10])
    expect(c.begin(10)).toEqual({ page: 11 })
    c.store(10, { items: rows(1000, 50), nextCursor: null })
    expect(c.total).toBe(1050)
    expect(c.rowAt(1049)).toEqual({ id: '1049' })
    expect(c.loadedPages).toBe(2)
  })

  it('a failed page can be asked again', () => {
    const c = new PageCache<{ id: string }>(10)
    c.begin(0)
    c.fail(0)
    expect(c.missing(0, 5)).toEqual([0])
  })

  it('patches and finds loaded rows by id', () => {
    const c = new PageCache<{ id: string; v?: number }>(10)
    c.begin(0)
    c.store(0, { items: rows(0, 10), nextCursor: 'x' })
    expect(c.patch({ id: '3', v: 2 })).toBe(true)
    expect(c.find('3')).toEqual({ id: '3', v: 2 })
    expect(c.patch({ id: 'nope' })).toBe(false)
    expect(c.loaded()).toHaveLength(10)
  })
})
