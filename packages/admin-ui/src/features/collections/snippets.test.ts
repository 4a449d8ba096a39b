import type { CollectionSchema } from '@bastide/protocol'
import { describe, expect, it } from 'vitest'
import { buildSnippets, describeRule, describeRules, sampleValue } from './snippets.ts'

const posts: CollectionSchema = {
  id: 'c1',
  name: 'posts',
  created: '',
  updated: '',
  indexes: [],
  rules: {
    list: '',
    view: "@request.auth.id != ''",
    create: null,
    update: 'owner = @request.auth.id',
    delete: null,
  },
  fields: [
    { id: 'a', name: 'title', type: 'text', required: true, options: { min: 5 } },
    { id: 'b', name: 'status', type: 'select', options: { values: ['draft', 'live'] } },
    { id: 'c', name: 'author', type: 'relation', options: { collection: 'authors', onDelete: 'cascade' } },
    { id: 'd', name: 'cover', type: 'file', options: { bucket: 'media' } },
    { id: 'e', name: 'score', type: 'number', options: { min: 50, integer: true } },
    { id: 'f', name: 'emailVerified', type: 'bool', system: true },
  ] as unknown as CollectionSchema['fields'],
}

describe('API snippets', () => {
  const byAction = Object.fromEntries(
    buildSnippets(posts, 'http://localhost:8787/').map((s) => [s.action, s]),
  )

  it('covers the five actions against the collection’s own path', () => {
    expect(Object.keys(byAction)).toEqual(['list', 'view', 'create', 'update', 'delete'])
    for (const s of Object.values(byAction)) {
      expect(s.curl).toContain("'http://localhost:8787/api/collections/posts/records")
      expect(s.sdk).toContain('client.collection("posts")')
    }
  })

  it('writes the real fields with values their options accept, files as uploads, system fields left out', () => {
    const create = byAction.create!
    expect(create.sdk).toContain('title: "Some title",')
    expect(create.sdk).toContain('status: "draft",')
    expect(create.sdk).toContain('author: "AUTHORS_ID",')
    expect(create.sdk).toContain('score: 50,')
    expect(create.sdk).toContain('cover: file')
    expect(create.sdk).not.toContain('emailVerified')
    expect(create.curl).toContain("-F 'cover=@./cover.jpg'")
    expect(create.curl).toContain("-F 'title=Some title'")
  })

  it('lists with a filter on a real field and expands relations', () => {
    expect(byAction.list!.sdk).toContain(`filter: "title ~ 'hello'"`)
    expect(byAction.list!.sdk).toContain('expand: ["author"]')
    expect(byAction.list!.curl).toContain("--data-urlencode 'expand=author'")
    // A quote inside a shell single-quoted string is closed, escaped, reopened.
    expect(byAction.list!.curl).toContain(`'filter=title ~ '\\''hello'\\'''`)
  })

  it('updates with optimistic concurrency', () => {
    expect(byAction.update!.curl).toContain(`-H 'If-Match: "1"'`)
    expect(byAction.update!.sdk).toContain('{ version: record.version }')
  })

  it('sends JSON when there is no file field', () => {
    const c = { ...posts, fields: posts.fields.filter((f) => f.type !== 'file') }
    const create = buildSnippets(c, 'http://x').find((s) => s.action === 'create')!
    expect(create.curl).toContain("-H 'Content-Type: application/json'")
    expect(JSON.parse(/-d '([\s\S]*)'$/.exec(create.curl)![1]!)).toEqual({
      title: 'Some title',
      status: 'draft',
      author: 'AUTHORS_ID',
      score: 50,
    })
  })

  it('makes sample values that fit the options', () => {
    expect(sampleValue({ name: 'n', type: 'number', options: { max: 10, integer: true } })).toBe(10)
    expect(sampleValue({ name: 't', type: 'select', options: { values: ['x'], multiple: true } })).toEqual([
      'x',
    ])
    expect(String(sampleValue({ name: 'x', type: 'text', options: { min: 30 } })).length).toBe(30)
  })
})

describe('rules in plain words', () => {
  it('says locked, everyone, or the condition', () => {
    expect(describeRule(null)).toMatch(/^Locked/)
    expect(describeRule('')).toBe('Everyone, signed in or not.')
    expect(describeRule("@request.auth.id != ''")).toContain('signed-in users')
    expect(describeRule('owner = @request.auth.id')).toContain('tied to the signed-in user')
    expect(describeRules(posts.rules).map((r) => r.action)).toEqual([
      'list',
      'view',
      'create',
      'update',
      'delete',
    ])
  })
})
