import type { CompareOp } from './ast.ts'
import type { BExpr, BOperand, BPath, CollectionAlias } from './bind.ts'
import { coerce, compareValues, type ValueType } from './values.ts'

export type Row = Readonly<Record<string, unknown>>

/**
 * The records the evaluator may read besides the one under test. Rows are shaped as the records API
 * returns them: dates as ISO strings, multiple relations as arrays of ids.
 */
export interface Dataset {
  get(collection: string, id: string): Row | undefined
  all(collection: string): readonly Row[]
}

/**
 * Evaluates a bound filter in memory with exactly the semantics of `compileFilter` (realtime uses it to
 * decide who sees a change without a query per subscriber).
 */
export function evaluate(e: BExpr, row: Row, data: Dataset): boolean {
  return ev(e, { self: row, aliases: new Map() }, data)
}

interface Scope {
  readonly self: Row
  readonly aliases: ReadonlyMap<string, Row | null>
}

function ev(e: BExpr, s: Scope, data: Dataset): boolean {
  switch (e.kind) {
    case 'const':
      return e.value
    case 'not':
      return !ev(e.expr, s, data)
    case 'and':
      return ev(e.left, s, data) && ev(e.right, s, data)
    case 'or':
      return ev(e.left, s, data) || ev(e.right, s, data)
    case 'exists':
      return someCombination(
        e.aliases,
        0,
        new Map(s.aliases),
        (aliases) => ev(e.expr, { ...s, aliases }, data),
        data,
      )
    case 'cmp':
      return evCompare(e, s, data)
  }
}

function someCombination(
  list: readonly CollectionAlias[],
  i: number,
  acc: Map<string, Row | null>,
  test: (a: ReadonlyMap<string, Row | null>) => boolean,
  data: Dataset,
): boolean {
  if (i === list.length) return test(acc)
  const a = list[i]!
  const rows = data.all(a.collection.name).filter((r) => !a.guard || evaluate(a.guard, r, data))
  for (const r of rows.length ? rows : [null]) {
    acc.set(a.alias, r)
    if (someCombination(list, i + 1, acc, test, data)) return true
  }
  return false
}

function evCompare(e: Extract<BExpr, { kind: 'cmp' }>, s: Scope, data: Dataset): boolean {
  const vtype = (e.left.kind === 'path' ? e.left : (e.right as BPath)).vtype
  const lm = e.left.kind === 'path' && e.left.multi
  const rm = e.right.kind === 'path' && e.right.multi
  if (!lm && !rm) return compareValues(e.op, single(e.left, s, data, vtype), single(e.right, s, data, vtype))
  const elems = values(lm ? (e.left as BPath) : (e.right as BPath), s, data, vtype)
  const other = single(lm ? e.right : e.left, s, data, vtype)
  const cmp = (x: unknown) => (lm ? compareValues(e.op, x, other) : compareValues(e.op, other, x))
  if (elems.length === 0) return cmp(null)
  return e.any ? elems.some(cmp) : elems.every(cmp)
}

function single(o: BOperand, s: Scope, data: Dataset, vtype: ValueType): unknown {
  if (o.kind === 'value') return o.value
  return values(o, s, data, vtype)[0] ?? null
}

/** All values a path reaches, each normalized to the path's type (dates become Date objects). */
function values(p: BPath, s: Scope, data: Dataset, vtype: ValueType): unknown[] {
  const root = p.root === 'self' ? s.self : (s.aliases.get(p.root) ?? null)
  let rows: Row[] = root ? [root] : []
  for (const step of p.steps) {
    const next: Row[] = []
    for (const r of rows) {
      if (step.kind === 'forward') {
        const v = field(r, step.field.name)
        const ids = Array.isArray(v) ? v : v == null ? [] : [v]
        for (const id of ids) {
          const t = data.get(step.to.name, String(id))
          if (t) next.push(t)
        }
      } else {
        for (const t of data.all(step.to.name)) {
          const v = field(t, step.field.name)
          if (Array.isArray(v) ? v.includes(r.id) : v === r.id) next.push(t)
        }
      }
    }
    rows = step.guard ? next.filter((t) => evaluate(step.guard!, t, data)) : next
  }
  const out: unknown[] = []
  const col = p.final.kind === 'join' ? p.final.field.name : p.final.column
  for (const r of rows) {
    const v = field(r, col)
    if (Array.isArray(v)) for (const x of v) out.push(norm(x, vtype))
    else if (!(p.final.kind === 'join' || (p.final.kind === 'column' && p.final.array)) || v != null)
      out.push(norm(v, vtype))
  }
  return out
}

/** A row's own value: a field named `constructor` that a row lacks is null, not Object.prototype's. */
function field(r: Row, name: string): unknown {
  return Object.hasOwn(r, name) ? r[name] : undefined
}

function norm(v: unknown, t: ValueType): unknown {
  if (v === null || v === undefined) return null
  const c = coerce(v, t)
  return c.ok ? c.value : v
}

export type { CompareOp }
