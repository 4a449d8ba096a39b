/** One changed leaf between an entry's `before` and `after`, at a readable path (`fields.title.required`). */
export interface DiffLine {
  readonly path: string
  readonly kind: 'added' | 'removed' | 'changed'
  readonly before?: unknown
  readonly after?: unknown
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * An array of objects that each carry a distinct string `name` (or else `id`): keyed by it, so that inserting a
 * field reads as one added field, not as every later field changed.
 */
function keyOf(arr: readonly unknown[]): ((v: unknown, i: number) => string) | undefined {
  for (const k of ['name', 'id'] as const) {
    const keys = arr.map((v) => (isObject(v) && typeof v[k] === 'string' ? (v[k] as string) : undefined))
    if (arr.length > 0 && keys.every((x) => x !== undefined) && new Set(keys).size === keys.length)
      return (_v, i) => keys[i]!
  }
  return undefined
}

/** Path segments join with dots; a segment that is not a plain name is bracketed and quoted. */
function join(base: string, seg: string): string {
  if (/^[A-Za-z_$][\w$-]*$/.test(seg)) return base ? `${base}.${seg}` : seg
  return `${base}[${JSON.stringify(seg)}]`
}

function entries(v: unknown, byKey: boolean): Map<string, unknown> {
  if (Array.isArray(v)) {
    const key = byKey ? keyOf(v) : undefined
    return new Map(v.map((x, i) => [key ? key(x, i) : String(i), x]))
  }
  return new Map(Object.entries(v as Record<string, unknown>))
}

/**
 * The leaves that differ between `before` and `after`: objects are compared key by key, arrays element by
 * element (by `name`/`id` when both sides can be keyed that way), anything else by JSON value. Paths sort as
 * the keys appear (before's order, then after's new keys).
 */
export function diffValues(before: unknown, after: unknown, path = ''): DiffLine[] {
  if (before === undefined && after === undefined) return []
  if (before === undefined) return [{ path: path || '(value)', kind: 'added', after }]
  if (after === undefined) return [{ path: path || '(value)', kind: 'removed', before }]
  const bothArrays = Array.isArray(before) && Array.isArray(after)
  const bothObjects = isObject(before) && isObject(after)
  if (bothArrays || bothObjects) {
    const byKey =
      bothArrays && keyOf(before as unknown[]) !== undefined && keyOf(after as unknown[]) !== undefined
    const b = entries(before, byKey)
    const a = entries(after, byKey)
    const keys = [...b.keys(), ...[...a.keys()].filter((k) => !b.has(k))]
    return keys.flatMap((k) => diffValues(b.get(k), a.get(k), join(path, k)))
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return []
  return [{ path: path || '(value)', kind: 'changed', before, after }]
}

/** A value on one line, for the diff table: strings quoted, objects as compact JSON. */
export function showJson(v: unknown): string {
  if (v === undefined) return ''
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s
}
