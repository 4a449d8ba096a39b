import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareRecords,
  compileLocalFilter,
  FilterError,
  type LocalFilterOptions,
  parseFilter,
  type SyncFieldInfo,
} from '../src/index.ts'

type Row = Record<string, unknown>

const field = (name: string, type: string, extra: Partial<SyncFieldInfo> = {}): SyncFieldInfo => ({
  name,
  type,
  multiple: false,
  ...extra,
})

const POSTS: SyncFieldInfo[] = [
  field('title', 'text'),
  field('views', 'number'),
  field('draft', 'bool'),
  field('published', 'date'),
  field('tags', 'select', { multiple: true }),
  field('author', 'relation', { collection: 'users' }),
  field('editors', 'relation', { collection: 'users', multiple: true }),
  field('meta', 'json'),
]
const USERS: SyncFieldInfo[] = [field('name', 'text'), field('age', 'number')]
const COMMENTS: SyncFieldInfo[] = [field('post', 'relation', { collection: 'posts' }), field('body', 'text')]

const ID = (n: number) => `0190a5b0-0000-7000-8000-${String(n).padStart(12, '0')}`
const base = (n: number, extra: Row): Row => ({
  id: ID(n),
  created: `2024-01-0${n}T00:00:00.000Z`,
  updated: `2024-01-0${n}T00:00:00.000Z`,
  version: 1,
  ...extra,
})

const users: Row[] = [base(1, { name: 'Ann', age: 30 }), base(2, { name: 'bob', age: null })]
const posts: Row[] = [
  base(3, {
    title: 'Hello',
    views: 10,
    draft: false,
    published: '2024-02-01T10:00:00.000Z',
    tags: ['a', 'b'],
    author: ID(1),
    editors: [ID(1), ID(2)],
    meta: { x: 1 },
  }),
  base(4, {
    title: null,
    views: null,
    draft: true,
    published: null,
    tags: [],
    author: ID(2),
    editors: [],
    meta: null,
  }),
  base(5, {
    title: 'a%b',
    views: 2.5,
    draft: null,
    published: '2023-12-31T23:00:00.000Z',
    tags: ['b'],
    author: null,
    editors: [ID(2)],
    meta: null,
  }),
]
const comments: Row[] = [base(6, { post: ID(3), body: 'nice' }), base(7, { post: ID(3), body: 'meh' })]

const tables: Record<string, { fields: SyncFieldInfo[]; rows: Row[] }> = {
  users: { fields: USERS, rows: users },
  posts: { fields: POSTS, rows: posts },
  comments: { fields: COMMENTS, rows: comments },
}
const related: NonNullable<LocalFilterOptions['related']> = {
  fields: (c) => tables[c]?.fields,
  get: (c, id) => tables[c]?.rows.find((r) => r.id === id),
  all: (c) => tables[c]?.rows ?? [],
}

/** The ids (by number) of the posts a filter keeps. */
function ids(src: string, o: Partial<LocalFilterOptions> = {}): number[] {
  const keep = compileLocalFilter(src, { fields: POSTS, collection: 'posts', related, ...o })
  return posts.filter(keep).map((r) => Number((r.id as string).slice(-2)))
}

describe('parseFilter', () => {
  it('throws FilterError INVALID_FILTER with the position', () => {
    const e = (() => {
      try {
        parseFilter("title = 'x' &&")
      } catch (err) {
        return err
      }
    })()
    expect(e).toBeInstanceOf(FilterError)
    expect(e).toMatchObject({ code: 'INVALID_FILTER', position: 14, message: 'Unexpected end of filter.' })
  })

  it('throws only FilterError, with a position inside the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ab =!<>~?&|()\'"@.1-_'.split('')) }), (src) => {
        try {
          parseFilter(src)
        } catch (e) {
          expect(e).toBeInstanceOf(FilterError)
          const p = (e as FilterError).position!
          expect(p).toBeGreaterThanOrEqual(0)
          expect(p).toBeLessThanOrEqual(src.length)
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('compileLocalFilter', () => {
  it('keeps everything for an empty filter', () => {
    expect(ids('')).toEqual([3, 4, 5])
    expect(ids('  ')).toEqual([3, 4, 5])
  })

  it('compares text, numbers, booleans and dates as the server does', () => {
    expect(ids("title = 'Hello'")).toEqual([3])
    expect(ids("title != 'Hello'")).toEqual([4, 5])
    expect(ids('title = null')).toEqual([4])
    // ~ is a case-insensitive "contains"; the LIKE wildcards match literally.
    expect(ids("title ~ 'HEL'")).toEqual([3])
    expect(ids("title ~ '%'")).toEqual([5])
    expect(ids("title !~ 'hel'")).toEqual([4, 5])
    // Ordering with null is false, and its negation true.
    expect(ids('views > 2')).toEqual([3, 5])
    expect(ids('!(views > 2)')).toEqual([4])
    expect(ids('draft = false')).toEqual([3])
    expect(ids('draft != true')).toEqual([3, 5])
    expect(ids("published >= '2024-01-01'")).toEqual([3])
    expect(ids("published = '2024-02-01T12:00:00+02:00'")).toEqual([3])
    expect(ids("created > '2024-01-03T00:00:00Z'")).toEqual([4, 5])
    expect(ids(`id = '${ID(4).toUpperCase()}'`)).toEqual([4])
    expect(ids('version = 1 && meta = null')).toEqual([4, 5])
  })

  it('reads multi-values: plain compares every element, ? any, empty as null', () => {
    expect(ids("tags ?= 'a'")).toEqual([3])
    expect(ids("tags = 'b'")).toEqual([5])
    expect(ids('tags = null')).toEqual([4])
    expect(ids(`editors ?= '${ID(2)}'`)).toEqual([3, 5])
  })

  it('follows relations, back-relations and @collection through `related`', () => {
    expect(ids("author.name = 'Ann'")).toEqual([3])
    expect(ids('author.age = null')).toEqual([4, 5])
    expect(ids("editors.name ?~ 'B'")).toEqual([3, 5])
    expect(ids("comments_via_post.body ?= 'meh'")).toEqual([3])
    expect(ids('comments_via_post.id = null')).toEqual([4, 5])
    expect(ids('@collection.users.age > 20')).toEqual([3, 4, 5])
    expect(ids('@collection.users.age > 40')).toEqual([])
    expect(ids('@collection.users:u.id = author && @collection.users:u.age > 20')).toEqual([3])
  })

  it('reads a path through a collection it does not know as a missing row', () => {
    const none = { related: undefined }
    expect(ids("author.name = 'Ann'", none)).toEqual([])
    expect(ids("author.name != 'Ann'", none)).toEqual([3, 4, 5])
    expect(ids('author.name = null', none)).toEqual([3, 4, 5])
    expect(ids('author.age > 1', none)).toEqual([])
    expect(ids("comments_via_post.body ?= 'meh'", none)).toEqual([])
    expect(ids('@collection.users.age > 1', none)).toEqual([])
    // The record's own fields still work, and relation ids are its own values.
    expect(ids(`author = '${ID(1)}'`, none)).toEqual([3])
  })

  it('resolves @request.auth and @now', () => {
    const auth = { id: ID(1), name: 'Ann' }
    expect(ids('author = @request.auth.id', { auth })).toEqual([3])
    expect(ids('author = @request.auth.id', { auth: null })).toEqual([])
    expect(ids("@request.auth.id != ''", { auth })).toEqual([3, 4, 5])
    expect(ids('published < @now', { now: new Date('2024-01-15T00:00:00Z') })).toEqual([5])
  })

  it('refuses what the server refuses, with FilterError', () => {
    const bad = [
      'nope = 1',
      "views = 'x'",
      "published > 'tomorrow'",
      "draft > 'x'",
      'title >',
      'author.nope = 1',
      "comments_via_post = 'x'",
      'title > null',
    ]
    for (const src of bad) {
      expect(() => compileLocalFilter(src, { fields: POSTS, collection: 'posts', related }), src).toThrow(
        FilterError,
      )
    }
  })
})

describe('compareRecords', () => {
  const rows: Row[] = [
    { id: 'c', created: '2024-01-02T00:00:00.000Z', title: 'b', n: 2, ok: true },
    { id: 'a', created: '2024-01-03T00:00:00.000Z', title: null, n: 1, ok: false },
    { id: 'b', created: '2024-01-01T00:00:00.000Z', title: 'B', n: 2, ok: null },
    { id: 'd', created: '2024-01-02T00:00:00.000Z', title: 'a', n: null, ok: true },
  ]
  const order = (sort: string) => [...rows].sort(compareRecords(sort)).map((r) => r.id)

  it('sorts by -created by default, id breaking ties in the last key direction', () => {
    expect(order('')).toEqual(['a', 'd', 'c', 'b'])
    expect(order('created')).toEqual(['b', 'c', 'd', 'a'])
  })

  it('puts nulls last ascending and first descending, text by code point', () => {
    expect(order('title')).toEqual(['b', 'd', 'c', 'a'])
    expect(order('-title')).toEqual(['a', 'c', 'd', 'b'])
    expect(order('n,-id')).toEqual(['a', 'c', 'b', 'd'])
    expect(order('-n,+id')).toEqual(['d', 'b', 'c', 'a'])
    expect(order('ok')).toEqual(['a', 'c', 'd', 'b'])
  })

  it('orders astral characters after U+FFFD, as PostgreSQL orders UTF-8', () => {
    const r = [
      { id: '1', t: '\u{1F600}' },
      { id: '2', t: '\uFFFD' },
      { id: '3', t: 'z' },
    ]
    expect(r.sort(compareRecords('t')).map((x) => x.id)).toEqual(['3', '2', '1'])
  })

  it('compares date fields as instants when given the fields', () => {
    const r = [
      { id: '1', at: '2024-01-01T01:00:00+02:00' },
      { id: '2', at: '2024-01-01T00:00:00.000Z' },
    ]
    expect(r.sort(compareRecords('at', [field('at', 'date')])).map((x) => x.id)).toEqual(['1', '2'])
  })
})
