import type { SyncFieldInfo } from '../sync.ts'
import { compareText, parseDate } from './values.ts'

type Rec = Readonly<Record<string, unknown>>

const DATE_FIELDS = new Set(['created', 'updated'])

/**
 * Orders records as the records API's `sort` does: `-created,title` (`-` descending, `+` or nothing ascending),
 * default `-created`, then `id` in the last key's direction. Nulls order as PostgreSQL's defaults: last ascending,
 * first descending. Text compares by code point, which is what the API's `COLLATE "C"` does. With `fields`, date
 * fields compare as instants (a local edit may hold `2024-01-31` or an offset); without, as the ISO strings the API
 * returns, which order alike.
 *
 * @example
 * rows.sort(compareRecords('-created,title'))
 */
export function compareRecords(sort: string, fields?: readonly SyncFieldInfo[]): (a: Rec, b: Rec) => number {
  const keys: { name: string; desc: boolean; date: boolean }[] = []
  for (const part of sort.trim() ? sort.split(',') : ['-created']) {
    const p = part.trim()
    const desc = p.startsWith('-')
    const name = desc || p.startsWith('+') ? p.slice(1) : p
    if (!name || keys.some((k) => k.name === name)) continue
    const date = DATE_FIELDS.has(name) || fields?.some((f) => f.name === name && f.type === 'date') === true
    keys.push({ name, desc, date })
  }
  if (!keys.some((k) => k.name === 'id'))
    keys.push({ name: 'id', desc: keys[keys.length - 1]?.desc ?? false, date: false })
  return (a, b) => {
    for (const k of keys) {
      let x = own(a, k.name)
      let y = own(b, k.name)
      if (k.date) {
        x = instant(x)
        y = instant(y)
      }
      const c = compareValue(x, y)
      if (c !== 0) return k.desc ? -c : c
    }
    return 0
  }
}

function own(r: Rec, name: string): unknown {
  return Object.hasOwn(r, name) ? r[name] : undefined
}

function instant(v: unknown): unknown {
  if (v instanceof Date) return v.getTime()
  return typeof v === 'string' ? (parseDate(v)?.getTime() ?? v) : v
}

/** Ascending order; null is greater than every value (so it comes last ascending and first descending). */
function compareValue(x: unknown, y: unknown): number {
  const xn = x === null || x === undefined
  const yn = y === null || y === undefined
  if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1
  if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : x > y ? 1 : 0
  if (typeof x === 'boolean' && typeof y === 'boolean') return x === y ? 0 : x ? 1 : -1
  return compareText(String(x), String(y))
}
