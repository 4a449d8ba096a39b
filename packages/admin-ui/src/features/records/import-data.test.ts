import type { CollectionSchema } from '@bastide/sdk'
import { describe, expect, it } from 'vitest'
import { recordsToCsv } from './csv.ts'
import { defaultMapping, readImport, rowToRecord } from './import-data.ts'

const posts = {
  name: 'posts',
  fields: [
    { id: '1', name: 'title', type: 'text' },
    { id: '2', name: 'views', type: 'number' },
    { id: '3', name: 'tags', type: 'select', options: { values: ['a', 'b'], multiple: true } },
    { id: '4', name: 'meta', type: 'json' },
  ],
} as unknown as CollectionSchema

describe('import', () => {
  it('reads an export back: CSV cells converted per field type, server columns skipped', () => {
    const csv = recordsToCsv(
      ['id', 'created', 'title', 'views', 'tags', 'meta', 'other'],
      [
        {
          id: 'x1',
          created: 'now',
          title: 'Hi, "you"',
          views: 3,
          tags: ['a', 'b'],
          meta: { k: [1] },
          other: 1,
        },
      ],
    )
    const t = readImport('posts.csv', csv)
    const mapping = defaultMapping(t.columns, posts)
    expect(mapping).toEqual(['id', null, 'title', 'views', 'tags', 'meta', null])
    expect(rowToRecord(t, t.rows[0]!, mapping, posts)).toEqual({
      data: { id: 'x1', title: 'Hi, "you"', views: 3, tags: ['a', 'b'], meta: { k: [1] } },
    })
  })

  it('reads JSON arrays and {items}; reports a bad cell instead of sending it', () => {
    const t = readImport('x.json', JSON.stringify({ items: [{ title: 't', views: 2 }, { views: 'x' }] }))
    expect(t.columns).toEqual(['title', 'views'])
    expect(rowToRecord(t, t.rows[1]!, ['title', 'views'], posts)).toEqual({ data: { views: 'x' } })
    const c = readImport('x.csv', 'title,views\nok,many\n')
    expect(rowToRecord(c, c.rows[0]!, ['title', 'views'], posts)).toEqual({
      problem: 'views: “many” is not a number.',
    })
    expect(() => readImport('x.json', '[1,2]')).toThrow(/array of objects/)
  })
})
