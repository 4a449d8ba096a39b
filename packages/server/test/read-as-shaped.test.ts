import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Collection, FIELD_TYPES, type Field, SYSTEM_FIELDS } from '../src/core/collections/types.ts'
import { readAsShaped, shapeRecord } from '../src/core/records/select.ts'

/**
 * Reads without `fields` or `expand` answer the row as PostgreSQL returned it when readAsShaped says so
 * (core/records/read-records.ts): that must be exactly what shapeRecord makes of it, keys in the same order.
 */
const field = fc.record({
  name: fc
    .stringMatching(/^[a-z][a-z0-9_]{0,8}$/)
    .filter((n) => !(SYSTEM_FIELDS as readonly string[]).includes(n)),
  type: fc.constantFrom(...FIELD_TYPES),
  hidden: fc.boolean(),
  multiple: fc.boolean(),
})

const value = fc.oneof(
  fc.constant(null),
  fc.string(),
  fc.integer(),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 3 }),
)

describe('readAsShaped', () => {
  it('holds only when shapeRecord would give the row back as it is read', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(field, { selector: (f) => f.name, maxLength: 6 }),
        fc.boolean(),
        fc.infiniteStream(value),
        (defs, seeHidden, values) => {
          const fields: Field[] = defs.map((d, i) => ({
            id: `f${i}`,
            name: d.name,
            type: d.type,
            required: false,
            unique: false,
            hidden: d.hidden,
            options: d.multiple ? { multiple: true } : {},
          }))
          const c = {
            id: 'c',
            name: 'c',
            fields,
            indexes: [],
            created: '',
            updated: '',
          } as unknown as Collection
          // A row as selectList reads it: every system column, then every field, in that order.
          const row: Record<string, unknown> = {}
          for (const s of SYSTEM_FIELDS) row[s] = values.next().value
          for (const f of fields) row[f.name] = values.next().value
          const shaped = shapeRecord(c, row, seeHidden)
          if (readAsShaped(c, seeHidden)) expect(JSON.stringify(row)).toBe(JSON.stringify(shaped))
          else {
            // It says no only for a reason: a multiple field, or a hidden field the caller may not see.
            expect(fields.some((f) => f.options.multiple === true || (f.hidden && !seeHidden))).toBe(true)
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
