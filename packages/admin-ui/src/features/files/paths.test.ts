import { describe, expect, it } from 'vitest'
import {
  breadcrumb,
  collectFolderPage,
  type FolderPage,
  normalizePrefix,
  parentPrefix,
  uploadKey,
  type ViewCursor,
} from './paths.ts'

// Properties over seeded random inputs (fast-check is not a dependency of the console package).
function rng(seed: number) {
  let s = seed >>> 0
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % n
  }
}
const ALPHABET = 'abz09. -/\\é'
function word(r: (n: number) => number, alphabet: string, min: number, max: number): string {
  let out = ''
  const len = min + r(max - min + 1)
  for (let i = 0; i < len; i++) out += alphabet[r(alphabet.length)]
  return out
}
const RUNS = 300

describe('prefixes as folders', () => {
  it('builds a breadcrumb from the root down', () => {
    expect(breadcrumb('')).toEqual([{ label: '', prefix: '' }])
    expect(breadcrumb('photos/2024/')).toEqual([
      { label: '', prefix: '' },
      { label: 'photos', prefix: 'photos/' },
      { label: '2024', prefix: 'photos/2024/' },
    ])
    expect(parentPrefix('photos/2024/')).toBe('photos/')
    expect(parentPrefix('photos/')).toBe('')
    expect(parentPrefix('')).toBe('')
  })

  it('normalizes typed prefixes', () => {
    expect(normalizePrefix('')).toBe('')
    expect(normalizePrefix('/a/b')).toBe('a/b/')
    expect(normalizePrefix('a/')).toBe('a/')
  })

  it('breadcrumb and parent agree for any prefix (property)', () => {
    for (let seed = 1; seed <= RUNS; seed++) {
      const r = rng(seed)
      const parts = Array.from({ length: r(6) }, () => word(r, 'ab0. -é', 1, 5))
      const prefix = parts.map((p) => `${p}/`).join('')
      const crumbs = breadcrumb(prefix)
      expect(crumbs.length).toBe(parts.length + 1)
      expect(crumbs[crumbs.length - 1]!.prefix).toBe(prefix)
      if (parts.length) expect(parentPrefix(prefix)).toBe(crumbs[crumbs.length - 2]!.prefix)
    }
  })

  it('keys of uploads stay under the prefix', () => {
    expect(uploadKey('docs/', 'a.txt')).toBe('docs/a.txt')
    expect(uploadKey('docs/', '../../etc/passwd')).toBe('docs/etc/passwd')
    expect(uploadKey('', 'dir\\sub\\f.png')).toBe('dir/sub/f.png')
    expect(uploadKey('p/', '../.')).toBeUndefined()
    for (let seed = 1; seed <= RUNS; seed++) {
      const k = uploadKey('p/', word(rng(seed), ALPHABET, 0, 12))
      if (k === undefined) continue
      expect(k.startsWith('p/')).toBe(true)
      expect(k.split('/').slice(1)).not.toContain('..')
      expect(k.split('/').slice(1)).not.toContain('')
    }
  })
})

describe('folder pages over a flat listing', () => {
  /** The listing as the server answers it: keys in byte order, `perPage` at a time, cursor = last key. */
  function lister(keys: readonly string[], prefix: string, calls: number[] = []) {
    const sorted = [...new Set(keys)].filter((k) => k.startsWith(prefix)).sort()
    return async (after: string | undefined, limit: number) => {
      calls.push(limit)
      const from = after === undefined ? 0 : sorted.findIndex((k) => k > after)
      const items = from < 0 ? [] : sorted.slice(from, from + limit).map((key) => ({ key }))
      const more = from >= 0 && from + limit < sorted.length
      return { items, nextCursor: more ? items[items.length - 1]!.key : null }
    }
  }

  async function walk(keys: readonly string[], prefix: string, want: number, maxRequests = 12) {
    const list = lister(keys, prefix)
    const pages: FolderPage<{ key: string }>[] = []
    let at: ViewCursor | null = {}
    while (at) {
      const page: FolderPage<{ key: string }> = await collectFolderPage(list, prefix, at, {
        want,
        maxLimit: 7,
        maxRequests,
      })
      pages.push(page)
      at = page.next
      if (pages.length > 1000) throw new Error('no end')
    }
    return pages
  }

  it('shows a big folder once, and files after it on the same page, in a few growing requests', async () => {
    const keys = [...Array.from({ length: 500 }, (_, i) => `big/${String(i).padStart(4, '0')}`), 'z1', 'z2']
    const calls: number[] = []
    const page = await collectFolderPage(lister(keys, '', calls), '', {}, { want: 3 })
    expect(page.folders.map((f) => f.name)).toEqual(['big'])
    expect(page.files.map((f) => f.name)).toEqual(['z1', 'z2'])
    expect(page.next).toBeNull()
    expect(calls).toEqual([3, 6, 12, 24, 48, 96, 192, 384])
  })

  it('cuts a page at exactly `want` entries and goes on from there', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `f${String(i).padStart(2, '0')}`)
    const calls: number[] = []
    const list = lister(['dir/a', 'dir/b', ...keys], '', calls)
    const first = await collectFolderPage(list, '', {}, { want: 10 })
    expect([...first.folders.map((f) => f.name), ...first.files.map((f) => f.name)]).toEqual([
      'dir',
      ...keys.slice(0, 9),
    ])
    // 10 keys read (2 of them the folder's), 20 more asked for; the page filled at the first of those, so that
    // one is asked again alone for its cursor.
    expect(calls).toEqual([10, 20, 1])
    const second = await collectFolderPage(list, '', first.next!, { want: 10 })
    expect(second.files.map((f) => f.name)).toEqual(keys.slice(9, 19))
  })

  it('stops after maxRequests and continues without showing the folder again', async () => {
    const keys = [...Array.from({ length: 100 }, (_, i) => `a/${String(i).padStart(3, '0')}`), 'b.txt']
    const pages = await walk(keys, '', 5, 2)
    expect(pages.length).toBeGreaterThan(1)
    expect(pages.flatMap((p) => p.folders.map((f) => f.name))).toEqual(['a'])
    expect(pages.flatMap((p) => p.files.map((f) => f.name))).toEqual(['b.txt'])
  })

  it('across all pages, every folder once and every file once, in key order (property)', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const r = rng(seed)
      const seg = () => word(r, 'ab-/', 1, 2).replace(/\//g, '') || 'x'
      const keys = Array.from({ length: r(60) }, () => Array.from({ length: 1 + r(3) }, seg).join('/'))
      const prefix = r(3) === 0 ? 'a/' : ''
      const want = 1 + r(6)
      const pages = await walk(keys, prefix, want, 1 + r(3))
      const under = [...new Set(keys)].filter((k) => k.startsWith(prefix)).sort()
      const expectFiles = under.filter((k) => !k.slice(prefix.length).includes('/'))
      const expectFolders = [
        ...new Set(
          under
            .filter((k) => k.slice(prefix.length).includes('/'))
            .map((k) => k.slice(prefix.length).split('/')[0]),
        ),
      ]
      expect(pages.flatMap((p) => p.files.map((f) => f.item.key))).toEqual(expectFiles)
      expect(pages.flatMap((p) => p.folders.map((f) => f.name))).toEqual(expectFolders)
      // Without the request cap biting, every page but the last is full.
      const full = await walk(keys, prefix, want, 1000)
      for (const p of full.slice(0, -1)) expect(p.folders.length + p.files.length).toBe(want)
    }
  })
})
