import type { CollectionSchema } from '@bastide/sdk'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { applyCompletion, fieldPaths, suggest, wordAt } from './filter-complete.ts'

const col = (name: string, fields: unknown[]): CollectionSchema =>
  ({
    id: name,
    name,
    fields,
    indexes: [],
    rules: { list: null, view: null, create: null, update: null, delete: null },
    created: '',
    updated: '',
  }) as CollectionSchema

const people = col('people', [
  { id: 'f1', name: 'name', type: 'text' },
  { id: 'f2', name: 'team', type: 'relation', options: { collection: 'teams' } },
])
const teams = col('teams', [
  { id: 'f3', name: 'title', type: 'text' },
  { id: 'f4', name: 'lead', type: 'relation', options: { collection: 'people' } },
])
const posts = col('posts', [
  { id: 'f5', name: 'title', type: 'text' },
  { id: 'f6', name: 'author', type: 'relation', options: { collection: 'people' } },
])
const all = [people, teams, posts]

describe('filter completion', () => {
  it('lists fields, system fields and relation paths, depth-limited and without cycles', () => {
    const paths = fieldPaths(posts, all).map((p) => p.path)
    expect(paths).toContain('title')
    expect(paths).toContain('created')
    expect(paths).toContain('author.name')
    expect(paths).toContain('author.team.title')
    expect(paths).not.toContain('author.team.lead.name')
    const cyclic = fieldPaths(people, all, 5).map((p) => p.path)
    expect(cyclic).toContain('team.lead.name')
    expect(cyclic).not.toContain('team.lead.team.title')
  })

  it('finds the word at the caret, and none inside a string or a macro', () => {
    expect(wordAt("title = 'x' && auth", 19)).toEqual({ start: 15, end: 19, word: 'auth' })
    expect(wordAt("title = 'aut", 12)).toBeNull()
    expect(wordAt('x = @request.au', 15)).toBeNull()
    expect(wordAt('author.na = 1', 9)).toEqual({ start: 0, end: 9, word: 'author.na' })
  })

  it('suggests prefix matches first (shallow first), then substring matches', () => {
    const paths = fieldPaths(posts, all)
    expect(
      suggest(paths, 'au')
        .map((p) => p.path)
        .slice(0, 2),
    ).toEqual(['author', 'author.created'])
    expect(suggest(paths, 'author.n').map((p) => p.path)).toEqual(
      ['author.name', 'author.team.title'].slice(0, 1),
    )
    expect(suggest(paths, 'itle').map((p) => p.path)).toContain('title')
  })

  it('replaces exactly the word at the caret and keeps the rest of the text', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[ a-z=&|()0-9]*$/),
        fc.stringMatching(/^[a-z]{0,5}$/),
        fc.stringMatching(/^[ =&|()0-9]*$/),
        (before, word, after) => {
          const pre = before === '' || /[\s=&|()]$/.test(before) ? before : `${before} `
          const post = after === '' || /^[\s=&|()]/.test(after) ? after : ` ${after}`
          const text = pre + word + post
          const r = applyCompletion(text, pre.length + word.length, 'author.name')
          expect(r.text).toBe(`${pre}author.name${post}`)
          expect(r.caret).toBe(pre.length + 'author.name'.length)
        },
      ),
    )
  })
})
