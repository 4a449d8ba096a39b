import type { CompareOp } from './ast.ts'

/** The types comparisons are checked and coerced in. */
export type ValueType = 'text' | 'number' | 'bool' | 'date' | 'uuid' | 'json'

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DATE_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/

export function isUuid(v: unknown): v is string {
  return typeof v === 'string' && UUID_RE.test(v)
}

/** Parses the ISO-8601 forms we accept for dates; undefined when it is not one. */
export function parseDate(v: string): Date | undefined {
  if (!DATE_RE.test(v)) return undefined
  // Date would roll 2023-02-31 over into March: refuse what is not on the calendar.
  const [y, mo, da] = v.slice(0, 10).split('-').map(Number) as [number, number, number]
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
  if (mo < 1 || mo > 12 || da < 1 || da > days[mo - 1]!) return undefined
  const time = /^.{10}[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(v)
  if (time && (Number(time[1]) > 23 || Number(time[2]) > 59 || Number(time[3] ?? 0) > 59)) return undefined
  const d = new Date(
    v.length === 10 ? `${v}T00:00:00Z` : /[Zz]|[+-]\d{2}(:?\d{2})?$/.test(v.slice(10)) ? v : `${v}Z`,
  )
  // PostgreSQL timestamps start at year 1 (and we keep to four-digit years).
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) return undefined
  return d
}

export type Coerced = { ok: true; value: unknown } | { ok: false }

/**
 * Brings a request-time value (macro, body, query) into a column's type. Shared by the SQL compiler and
 * the in-memory evaluator so that both see the same value; `ok: false` means no value of that type can
 * equal it (the comparison then folds to a constant).
 */
export function coerce(v: unknown, to: ValueType): Coerced {
  if (v === null || v === undefined) return { ok: true, value: null }
  switch (to) {
    case 'text':
      if (typeof v === 'string') return { ok: true, value: v }
      if (typeof v === 'number' || typeof v === 'boolean') return { ok: true, value: String(v) }
      if (v instanceof Date) return { ok: true, value: v.toISOString() }
      return { ok: false }
    case 'number':
      if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: v }
      if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return { ok: true, value: Number(v) }
      return { ok: false }
    case 'bool':
      if (typeof v === 'boolean') return { ok: true, value: v }
      if (v === 'true' || v === 'false') return { ok: true, value: v === 'true' }
      return { ok: false }
    case 'date': {
      if (v instanceof Date) return { ok: true, value: v }
      const d = typeof v === 'string' ? parseDate(v) : undefined
      return d ? { ok: true, value: d } : { ok: false }
    }
    case 'uuid':
      return isUuid(v) ? { ok: true, value: v.toLowerCase() } : { ok: false }
    case 'json':
      return { ok: false }
  }
}

/** The type a JavaScript value has in the language, for values known before the query runs. */
export function typeOfValue(v: unknown): ValueType | 'null' {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'number') return 'number'
  if (typeof v === 'boolean') return 'bool'
  if (v instanceof Date) return 'date'
  if (typeof v === 'string') return 'text'
  return 'json'
}

/** Operators each type supports. */
export function opAllowed(op: CompareOp, t: ValueType): boolean {
  if (op === '=' || op === '!=') return true
  if (op === '~' || op === '!~') return t === 'text'
  return t === 'text' || t === 'number' || t === 'date'
}

/**
 * Two-valued comparison of two already-coerced values; the reference semantics the SQL compiler
 * reproduces: `=`/`!=` treat null as a value (IS [NOT] DISTINCT FROM), ordering and `~` with a null side
 * are false, and `!~` is the negation of `~`.
 */
export function compareValues(op: CompareOp, a: unknown, b: unknown): boolean {
  switch (op) {
    case '=':
      return same(a, b)
    case '!=':
      return !same(a, b)
    case '~':
      return contains(a, b)
    case '!~':
      return !contains(a, b)
  }
  if (a === null || a === undefined || b === null || b === undefined) return false
  const x = a instanceof Date ? a.getTime() : a
  const y = b instanceof Date ? b.getTime() : b
  if (typeof x !== typeof y) return false
  const c =
    typeof x === 'string'
      ? compareText(x, y as string)
      : (x as number) < (y as number)
        ? -1
        : (x as number) > (y as number)
          ? 1
          : 0
  return op === '>' ? c > 0 : op === '>=' ? c >= 0 : op === '<' ? c < 0 : c <= 0
}

function same(a: unknown, b: unknown): boolean {
  const an = a === null || a === undefined
  const bn = b === null || b === undefined
  if (an || bn) return an && bn
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime()
  return a === b
}

function contains(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false
  return a.toLowerCase().includes(b.toLowerCase())
}

/**
 * Code-point order, as PostgreSQL's `COLLATE "C"` orders UTF-8 text (the SQL compiler and the records API's sort use
 * it). JavaScript's `<` compares UTF-16 units, which puts U+E000..U+FFFF after astral characters; the units are
 * remapped where the two orders differ.
 */
export function compareText(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 0xd800 && y >= 0xd800) {
      x += x >= 0xe000 ? -0x800 : 0x2000
      y += y >= 0xe000 ? -0x800 : 0x2000
    }
    return x < y ? -1 : 1
  }
  return a.length - b.length < 0 ? -1 : a.length > b.length ? 1 : 0
}
