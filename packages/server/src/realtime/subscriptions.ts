import { type RawBuilder, sql } from 'kysely'
import { authRecord, type Principal } from '../core/auth/principal.ts'
import type { Collection } from '../core/collections/types.ts'
import { tableOf } from '../core/records/select.ts'
import { authorize } from '../core/rules/authorize.ts'
import { type BExpr, bindFilter, compileFilter, evaluate, type Lookup } from '../core/rules/index.ts'
import { columnValuesOf, rowRelation } from '../core/rules/row-relation.ts'
import type { Db } from '../db/create-db.ts'
import { AppError, errors } from '../errors/index.ts'
import type { RecordEvent } from '../events/catalog.ts'

/**
 * How a subscription decides whether a change concerns its subscriber: everything (admins, keys, open
 * rules), nothing (a rule that is false for this principal), an expression evaluated in memory (it reads
 * only the record's own fields), or one evaluated in SQL (relations, back-relations, @collection), batched:
 * one query per change for all such subscriptions, never one per subscriber.
 */
export type Matcher =
  | { readonly kind: 'all' }
  | { readonly kind: 'none' }
  | { readonly kind: 'memory'; readonly expr: BExpr }
  | { readonly kind: 'sql'; readonly expr: BExpr }

export interface SubscriptionSpec {
  readonly collection: string
  readonly id?: string | undefined
  readonly filter?: string | undefined
}

/** What a subscriber may see of `spec`'s records: its view rule AND its filter, bound for `p`. */
export function compileSubscription(
  spec: SubscriptionSpec,
  c: Collection,
  p: Principal,
  lookup: Lookup,
): { matcher: Matcher; seeHidden: boolean } {
  const d = authorize(p, {
    rule: c.rules.view,
    scope: 'records:read',
    schema: c,
    lookup,
    request: { method: 'GET' },
  })
  if (d.kind === 'locked') throw errors.forbidden(`Only admins can view ${c.name} records.`)
  const bypass = d.kind === 'bypass'
  const request = { auth: authRecord(p), method: 'GET' }
  const rule: BExpr | undefined =
    d.kind === 'expression' ? d.expr : d.kind === 'denied' ? { kind: 'const', value: false } : undefined
  // A subscriber's own filter: hidden fields refused and related rows only those it may view, as in REST.
  const filter = spec.filter?.trim() ? bindFilter(spec.filter, c, lookup, request, !bypass) : undefined
  const expr = and(rule, filter)
  if (!expr) return { matcher: { kind: 'all' }, seeHidden: bypass }
  if (expr.kind === 'const') return { matcher: { kind: expr.value ? 'all' : 'none' }, seeHidden: bypass }
  return { matcher: { kind: readsOnlySelf(expr) ? 'memory' : 'sql', expr }, seeHidden: bypass }
}

function and(a: BExpr | undefined, b: BExpr | undefined): BExpr | undefined {
  if (!a) return b
  if (!b) return a
  if (a.kind === 'const') return a.value ? b : a
  if (b.kind === 'const') return b.value ? a : b
  return { kind: 'and', left: a, right: b }
}

/** No relation to follow and no other collection to look at: the change itself answers. */
function readsOnlySelf(e: BExpr): boolean {
  switch (e.kind) {
    case 'const':
      return true
    case 'not':
      return readsOnlySelf(e.expr)
    case 'and':
    case 'or':
      return readsOnlySelf(e.left) && readsOnlySelf(e.right)
    case 'exists':
      return false
    case 'cmp':
      return [e.left, e.right].every(
        (o) => o.kind === 'value' || (o.root === 'self' && o.steps.length === 0 && o.final.kind === 'column'),
      )
  }
}

const NO_DATA = { get: () => undefined, all: () => [] }

export interface Matchable {
  readonly matcher: Matcher
  readonly recordId?: string | undefined
}

/**
 * Which of `subs` see `e`. In-memory matchers answer at once; SQL matchers are answered together by one
 * query against the record (or, for a delete, against the record as it was).
 */
export async function matchChange<S extends Matchable>(
  db: Db,
  c: Collection,
  e: RecordEvent,
  subs: Iterable<S>,
): Promise<S[]> {
  const hit: S[] = []
  const viaSql: S[] = []
  const id = e.record.id as string
  for (const s of subs) {
    if (s.recordId !== undefined && s.recordId !== id) continue
    const m = s.matcher
    if (m.kind === 'all') hit.push(s)
    else if (m.kind === 'memory') {
      if (evaluate(m.expr, e.record, NO_DATA)) hit.push(s)
    } else if (m.kind === 'sql') viaSql.push(s)
  }
  for (let i = 0; i < viaSql.length; i += SQL_BATCH) {
    const batch = viaSql.slice(i, i + SQL_BATCH)
    const cols = batch.map(
      (s, j) => sql`(${compileFilter((s.matcher as { expr: BExpr }).expr, 'r')}) AS ${sql.id(`m${j}`)}`,
    )
    const from: RawBuilder<unknown> =
      e.action === 'delete'
        ? sql`(${deletedRow(c, e.record)}) AS r`
        : sql`${tableOf(c)} AS r WHERE r.id = ${id}::uuid`
    const res = await sql<Record<string, boolean>>`SELECT ${sql.join(cols)} FROM ${from}`.execute(db)
    const row = res.rows[0]
    if (!row) continue
    batch.forEach((s, j) => {
      if (row[`m${j}`] === true) hit.push(s)
    })
  }
  return hit
}

const SQL_BATCH = 200

/** A deleted record as a one-row relation with its last values, for rules that look beyond it. */
const deletedRow = (c: Collection, r: Readonly<Record<string, unknown>>) =>
  rowRelation(c, {
    ...columnValuesOf(c, r),
    created: r.created ?? null,
    updated: r.updated ?? null,
    version: r.version ?? 1,
  })

/** The record as this subscriber may see it: a copy of its own, hidden fields gone unless it bypasses rules. */
export function render(c: Collection, record: Readonly<Record<string, unknown>>, seeHidden: boolean) {
  const out: Record<string, unknown> = { ...record }
  if (!seeHidden) for (const f of c.fields) if (f.hidden) delete out[f.name]
  return out
}

/** A rule or filter error as an ack error, in the HTTP error shape. */
export function ackError(err: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  if (err instanceof AppError) {
    return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }
  }
  return { code: 'INTERNAL', message: 'Internal error.' }
}

const NULL_KEY = Symbol('null')
type IndexKey = { readonly column: string; readonly value: string | typeof NULL_KEY }

/**
 * A column the record must equal for `e` to hold, when `e` says so at its top level (`owner = <id>`, alone or
 * ANDed with anything): subscriptions are then found by the changed record's value instead of each being
 * evaluated, which is what keeps thousands of owner-only subscribers cheap.
 */
function indexKeyOf(e: BExpr): IndexKey | undefined {
  if (e.kind === 'and') return indexKeyOf(e.left) ?? indexKeyOf(e.right)
  if (e.kind !== 'cmp' || e.op !== '=' || e.any) return undefined
  const [path, value] = e.left.kind === 'path' ? [e.left, e.right] : [e.right, e.left]
  if (path.kind !== 'path' || value.kind !== 'value') return undefined
  if (path.root !== 'self' || path.steps.length || path.final.kind !== 'column' || path.final.array)
    return undefined
  const v = value.value
  if (v === null || v === undefined) return { column: path.final.column, value: NULL_KEY }
  // Text and ids compare as strings in memory too; other types are left to the evaluator.
  return typeof v === 'string' ? { column: path.final.column, value: v } : undefined
}

/** The subscriptions of one collection, indexed so that a change only visits those it may concern. */
export class SubscriptionSet<S extends Matchable> {
  readonly #byColumn = new Map<string, Map<string | typeof NULL_KEY, Set<S>>>()
  readonly #keys = new Map<S, IndexKey>()
  readonly #rest = new Set<S>()

  get size(): number {
    return this.#keys.size + this.#rest.size
  }

  add(s: S): void {
    const m = s.matcher
    const key: IndexKey | undefined =
      s.recordId !== undefined
        ? { column: 'id', value: s.recordId }
        : m.kind === 'memory' || m.kind === 'sql'
          ? indexKeyOf(m.expr)
          : undefined
    if (!key) {
      this.#rest.add(s)
      return
    }
    let byValue = this.#byColumn.get(key.column)
    if (!byValue) this.#byColumn.set(key.column, (byValue = new Map()))
    let set = byValue.get(key.value)
    if (!set) byValue.set(key.value, (set = new Set()))
    set.add(s)
    this.#keys.set(s, key)
  }

  delete(s: S): void {
    const key = this.#keys.get(s)
    if (!key) {
      this.#rest.delete(s)
      return
    }
    this.#keys.delete(s)
    const byValue = this.#byColumn.get(key.column)
    const set = byValue?.get(key.value)
    set?.delete(s)
    if (set && set.size === 0) byValue!.delete(key.value)
  }

  /** Those that may match a change to `record`; each still goes through matchChange. */
  *candidates(record: Readonly<Record<string, unknown>>): Iterable<S> {
    yield* this.#rest
    for (const [column, byValue] of this.#byColumn) {
      const v = record[column]
      const set = byValue.get(v === null || v === undefined ? NULL_KEY : String(v))
      if (set) yield* set
    }
  }
}
