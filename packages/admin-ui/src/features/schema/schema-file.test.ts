import { describe, expect, it } from 'vitest'
import { conflictReason, formatSchema, parseSchemaText } from './schema-file.ts'

const doc = {
  collections: [],
  buckets: [],
  channels: [{ pattern: 'room:*', presence: true, rules: { join: '', send: null } }],
}

describe('parseSchemaText', () => {
  it('reads a whole document, and reads back what formatSchema writes', () => {
    expect(parseSchemaText(formatSchema(doc as never))).toEqual({ ok: true, schema: doc, missing: [] })
  })

  it('plans a migration file by its schema', () => {
    const m = { id: '0002_add_posts', changes: [], checksum: 'abc', schema: doc }
    expect(parseSchemaText(JSON.stringify(m))).toEqual({
      ok: true,
      schema: doc,
      fromMigration: '0002_add_posts',
      missing: [],
    })
  })

  it('names the lists a document lacks (the server takes them as empty)', () => {
    const r = parseSchemaText('{"collections": []}')
    expect(r.ok && r.missing).toEqual(['buckets', 'channels'])
  })

  it('refuses what is not a schema document, saying why', () => {
    const msg = (t: string) => {
      const r = parseSchemaText(t)
      return r.ok ? 'ok' : r.message
    }
    expect(msg('')).toBe('The file is empty.')
    expect(msg('{"collections": [')).toMatch(/^This is not JSON: /)
    expect(msg('[]')).toMatch(/^This is not a schema document/)
    expect(msg('{"name": "posts"}')).toMatch(/^This is not a schema document/)
    expect(msg('{"collections": {}}')).toBe('“collections” must be a list.')
  })
})

describe('formatSchema', () => {
  it('writes 2-space JSON with a final newline, as `bastide schema pull` does', () => {
    expect(formatSchema(doc as never)).toBe(`${JSON.stringify(doc, null, 2)}\n`)
  })
})

describe('conflictReason', () => {
  it('is the reason of a 409 only', () => {
    expect(conflictReason({ status: 409, details: { reason: 'plan_changed' } })).toBe('plan_changed')
    expect(conflictReason({ status: 400, details: { reason: 'plan_changed' } })).toBeUndefined()
    expect(conflictReason(new Error('x'))).toBeUndefined()
    expect(conflictReason(null)).toBeUndefined()
  })
})
