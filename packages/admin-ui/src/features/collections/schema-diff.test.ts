import type { FieldSchema } from '@bastide/protocol'
import { describe, expect, it } from 'vitest'
import { schemaChanges } from './schema-diff.ts'

const title: FieldSchema = { id: 'f1', name: 'title', type: 'text', required: true, options: {} }
const views: FieldSchema = { id: 'f2', name: 'views', type: 'text', options: {} }
const author: FieldSchema = { id: 'f3', name: 'author', type: 'relation', options: { collection: 'authors' } }

describe('schema history diffs', () => {
  it('lists what a created collection holds', () => {
    const c = schemaChanges('collection.create', {
      after: {
        name: 'posts',
        fields: [title, author],
        indexes: [{ name: 'ix', fields: ['title'], unique: true }],
        rules: { list: '', view: null, create: null, update: null, delete: null },
      },
    })
    expect(c.map((x) => x.text)).toEqual([
      'Created posts',
      'Field title (text, required)',
      'Field author (relation → authors)',
      'With unique index on (title)',
      'list rule: everyone',
    ])
  })

  it('matches fields by id: a rename is a rename, a retype a retype', () => {
    const c = schemaChanges('collection.update', {
      before: { fields: [title, views], updated: 'a' },
      after: {
        fields: [
          { ...title, name: 'headline' },
          { ...views, type: 'number' },
        ],
        updated: 'b',
      },
    })
    expect(c).toEqual([
      { kind: 'renamed', text: 'Field title renamed to headline' },
      { kind: 'retyped', text: 'Field views changed type: text → number' },
    ])
  })

  it('tells added, removed, flags, options, order, indexes and rules apart', () => {
    const c = schemaChanges('collection.update', {
      before: {
        name: 'posts',
        fields: [title, views, author],
        indexes: [{ name: 'a', fields: ['title'], unique: false }],
        rules: { list: null, view: '', create: null, update: null, delete: null },
      },
      after: {
        name: 'articles',
        fields: [
          { ...views, hidden: true, options: { max: 10 } },
          { ...title, required: false },
          { name: 'body', type: 'text', options: {} },
        ],
        indexes: [{ name: 'b', fields: ['title', 'views'], unique: true }],
        rules: { list: "title != ''", view: '', create: null, update: null, delete: null },
      },
    })
    expect(c.map((x) => x.kind)).toEqual([
      'renamed',
      'changed',
      'changed',
      'changed',
      'added',
      'removed',
      'changed',
      'index',
      'index',
      'rule',
    ])
    const texts = c.map((x) => x.text)
    expect(texts).toContain('Collection renamed from posts to articles')
    expect(texts).toContain('Field views is now hidden')
    expect(texts).toContain('Field views: max set to 10')
    expect(texts).toContain('Field title is no longer required')
    expect(texts).toContain('Field body (text) added')
    expect(texts).toContain('Field author removed')
    expect(texts).toContain('Fields reordered')
    expect(texts).toContain('Added unique index on (title, views)')
    expect(texts).toContain('Removed index on (title)')
    expect(c.at(-1)).toEqual({
      kind: 'rule',
      text: "list rule: locked → title != ''",
      before: 'locked',
      after: "title != ''",
    })
  })

  it('says deleted, and nothing for an update that only touched `updated`', () => {
    expect(schemaChanges('collection.delete', { before: { name: 'posts' } })).toEqual([
      { kind: 'deleted', text: 'Deleted posts' },
    ])
    expect(schemaChanges('collection.update', { before: { updated: 'a' }, after: { updated: 'b' } })).toEqual(
      [],
    )
    expect(schemaChanges('collection.update', null)).toEqual([])
  })
})
