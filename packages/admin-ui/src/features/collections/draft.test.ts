import type { CollectionSchema } from '@bastide/protocol'
import { describe, expect, it } from 'vitest'
import { cleanOptions, fromSchema, move, sameDraft, toInput } from './draft.ts'

const posts = {
  id: 'c1',
  name: 'posts',
  created: '',
  updated: '',
  rules: { list: '', view: null, create: null, update: null, delete: null },
  fields: [
    {
      id: 'a1',
      name: 'title',
      type: 'text',
      required: true,
      unique: false,
      hidden: false,
      options: { max: 10 },
    },
    {
      id: 'a2',
      name: 'email',
      type: 'email',
      required: true,
      unique: true,
      hidden: false,
      system: true,
      options: { z: 1, a: 2 },
    },
  ],
  indexes: [{ name: 'ix_1', fields: ['title', 'created'], unique: true }],
} as unknown as CollectionSchema

describe('drafts', () => {
  it('round-trips a saved collection unchanged (a PATCH of nothing changes nothing)', () => {
    const d = fromSchema(posts)
    expect(toInput(d)).toEqual({
      name: 'posts',
      fields: [
        {
          id: 'a1',
          name: 'title',
          type: 'text',
          required: true,
          unique: false,
          hidden: false,
          options: { max: 10 },
        },
        // System fields go back verbatim, option order included: the server compares them as sent.
        {
          id: 'a2',
          name: 'email',
          type: 'email',
          required: true,
          unique: true,
          hidden: false,
          system: true,
          options: { z: 1, a: 2 },
        },
      ],
      indexes: [{ name: 'ix_1', fields: ['title', 'created'], unique: true }],
      rules: posts.rules,
    })
    expect(JSON.stringify(Object.keys(toInput(d).fields![1]!.options!))).toBe('["z","a"]')
    expect(sameDraft(d, fromSchema(posts))).toBe(true)
  })

  it('keeps an index on a field renamed in the same edit', () => {
    const d = fromSchema(posts)
    const renamed = {
      ...d,
      fields: d.fields.map((f) => (f.name === 'title' ? { ...f, name: 'headline' } : f)),
    }
    expect(toInput(renamed).indexes).toEqual([
      { name: 'ix_1', fields: ['headline', 'created'], unique: true },
    ])
    expect(sameDraft(d, renamed)).toBe(false)
  })

  it('drops a removed field from its indexes, and an index left with no field', () => {
    const d = fromSchema(posts)
    const without = { ...d, fields: d.fields.filter((f) => f.name !== 'title') }
    expect(toInput(without).indexes).toEqual([{ name: 'ix_1', fields: ['created'], unique: true }])
    const onlyTitle = { ...d, indexes: [{ ...d.indexes[0]!, fields: [d.fields[0]!.key] }] }
    expect(toInput({ ...onlyTitle, fields: without.fields }).indexes).toEqual([])
  })

  it('sends only the options a type takes, without blanks', () => {
    expect(cleanOptions('text', { min: Number.NaN, max: 5, pattern: '', values: ['x'] })).toEqual({ max: 5 })
    expect(cleanOptions('select', { values: [' a', 'b ', ' '], multiple: false })).toEqual({
      values: ['a', 'b'],
    })
    expect(
      cleanOptions('relation', { collection: 'x', onDelete: 'cascade', multiple: true, bucket: 'b' }),
    ).toEqual({
      collection: 'x',
      onDelete: 'cascade',
      multiple: true,
    })
  })

  it('moves items and ignores moves past either end', () => {
    expect(move([1, 2, 3], 0, 1)).toEqual([2, 1, 3])
    expect(move([1, 2, 3], 2, 3)).toEqual([1, 2, 3])
    expect(move([1, 2, 3], 0, -1)).toEqual([1, 2, 3])
  })
})
