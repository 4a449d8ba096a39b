import type { FieldSchema } from '@bastide/sdk'
import { describe, expect, it } from 'vitest'
import { cellText, displayField, fileName, inlineEditable, parseValue, ValueError } from './values.ts'

const f = (type: FieldSchema['type'], options: FieldSchema['options'] = {}): FieldSchema => ({
  name: 'x',
  type,
  options,
})

describe('field values', () => {
  it('parses typed text per field type; empty is null (or [] / false)', () => {
    expect(parseValue(f('number'), ' 4.5 ')).toBe(4.5)
    expect(() => parseValue(f('number'), 'four')).toThrow(ValueError)
    expect(parseValue(f('bool'), 'yes')).toBe(true)
    expect(parseValue(f('bool'), '')).toBe(false)
    expect(parseValue(f('json'), '{"a":[1]}')).toEqual({ a: [1] })
    expect(() => parseValue(f('json'), '{a')).toThrow(/Not valid JSON/)
    expect(parseValue(f('select', { multiple: true }), 'a, b')).toEqual(['a', 'b'])
    expect(parseValue(f('relation', { multiple: true }), '["1","2"]')).toEqual(['1', '2'])
    expect(parseValue(f('text'), '')).toBeNull()
    expect(parseValue(f('date'), '2024-01-02T03:04:05Z')).toBe('2024-01-02T03:04:05.000Z')
  })

  it('shows values as cell text and names files and records', () => {
    expect(cellText(['a', 2, null])).toBe('a, 2, ')
    expect(cellText({ k: 1 })).toBe('{"k":1}')
    expect(fileName('posts/1/photo/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b-cat.png')).toBe('cat.png')
    expect(inlineEditable(f('json'))).toBe(false)
    expect(inlineEditable(f('select'))).toBe(true)
    expect(
      displayField({
        fields: [
          { id: '1', name: 'body', type: 'text' },
          { id: '2', name: 'title', type: 'text' },
        ],
      } as never),
    ).toBe('title')
  })
})
