import type { CompareOp, Expr, Operand } from './ast.ts'
import { FilterError } from './errors.ts'
import { coerce, compareValues, opAllowed, parseDate, typeOfValue, type ValueType } from './values.ts'

/** What a rule may read about the request. Values resolve before the query runs and are bound as parameters. */
export interface RuleRequest {
  /** The signed-in user's record, or null when anonymous. */
  readonly auth: Readonly<Record<string, unknown>> | null
  readonly body?: Readonly<Record<string, unknown>>
  readonly query?: Readonly<Record<string, string>>
  readonly method?: string
  readonly now?: Date
}

/**
 * The part of a field the binder reads. The server's fields satisfy it; a client builds it from the fields the
 * changes feed lists.
 */
export interface FilterSchemaField {
  readonly name: string
  readonly type: string
  readonly hidden?: boolean
  readonly options: { readonly multiple?: boolean; readonly collection?: string }
}

/** The part of a collection the binder reads. `name: ''` is a collection whose name is not known (see bindPath). */
export interface FilterSchema<F extends FilterSchemaField = FilterSchemaField> {
  readonly name: string
  readonly fields: readonly F[]
  readonly rules: { readonly view: string | null }
}

type FieldOf<C extends FilterSchema> = C['fields'][number]

export type Lookup<C extends FilterSchema = FilterSchema> = (name: string) => C | undefined

export interface BindOptions<C extends FilterSchema = FilterSchema> {
  readonly collection: C
  readonly lookup: Lookup<C>
  readonly request: RuleRequest
  /**
   * A filter written by a principal that does not bypass rules: hidden fields are refused and related
   * rows (relations, back-relations, @collection) only count when that principal may view them.
   */
  readonly restricted: boolean
  readonly parse: (src: string) => Expr
  /**
   * A relation whose target collection the lookup does not know reads as a missing related row (null, or no
   * elements) instead of being an error: a client filters with the collections it has.
   */
  readonly unknownAsMissing?: boolean
}

export type Step<C extends FilterSchema = FilterSchema> =
  /** Follow a relation field of the current row to `to`. */
  | { readonly kind: 'forward'; readonly field: FieldOf<C>; readonly to: C; readonly guard?: BExpr<C> }
  /** Rows of `to` whose relation `field` points at the current row. */
  | { readonly kind: 'back'; readonly field: FieldOf<C>; readonly to: C; readonly guard?: BExpr<C> }

export type Final<C extends FilterSchema = FilterSchema> =
  | { readonly kind: 'column'; readonly column: string; readonly array: boolean }
  | { readonly kind: 'join'; readonly field: FieldOf<C> }

export interface BPath<C extends FilterSchema = FilterSchema> {
  readonly kind: 'path'
  /** 'self' for the record under test, otherwise an @collection alias. */
  readonly root: string
  readonly steps: readonly Step<C>[]
  readonly final: Final<C>
  readonly multi: boolean
  readonly vtype: ValueType
}

export interface BValue {
  readonly kind: 'value'
  readonly value: unknown
}

export type BOperand<C extends FilterSchema = FilterSchema> = BPath<C> | BValue

export interface CollectionAlias<C extends FilterSchema = FilterSchema> {
  readonly alias: string
  readonly collection: C
  readonly guard?: BExpr<C>
}

export type BExpr<C extends FilterSchema = FilterSchema> =
  | { readonly kind: 'and' | 'or'; readonly left: BExpr<C>; readonly right: BExpr<C> }
  | { readonly kind: 'not'; readonly expr: BExpr<C> }
  | { readonly kind: 'const'; readonly value: boolean }
  | {
      readonly kind: 'cmp'
      readonly op: CompareOp
      readonly any: boolean
      readonly left: BOperand<C>
      readonly right: BOperand<C>
    }
  /** There is a row of each aliased collection (or a row of nulls when it has none) for which expr holds. */
  | { readonly kind: 'exists'; readonly aliases: readonly CollectionAlias<C>[]; readonly expr: BExpr<C> }

// A Map, not an object literal: a path named `constructor` or `__proto__` must not find Object.prototype.
const SYSTEM_TYPES: ReadonlyMap<string, ValueType> = new Map([
  ['id', 'uuid'],
  ['created', 'date'],
  ['updated', 'date'],
  ['version', 'number'],
])

export function fieldValueType(f: FilterSchemaField): ValueType {
  switch (f.type) {
    case 'number':
      return 'number'
    case 'bool':
      return 'bool'
    case 'date':
      return 'date'
    case 'json':
      return 'json'
    case 'relation':
      return 'uuid'
    default:
      return 'text'
  }
}

/**
 * Resolves a parsed filter against a collection's schema and the request: every field path becomes a
 * typed reference, every macro a value, literals are type-checked, and comparisons that cannot depend on
 * the row fold to constants. Unknown fields are errors (INVALID_FILTER), never nulls.
 */
export function bind<C extends FilterSchema>(expr: Expr, opts: BindOptions<C>, depth = 0): BExpr<C> {
  // Sound: every collection and field in the result comes from opts.collection or opts.lookup.
  return bindAny(expr, opts as unknown as BindOptions, depth) as unknown as BExpr<C>
}

function bindAny(expr: Expr, opts: BindOptions, depth: number): BExpr {
  const aliases = new Map<string, CollectionAlias>()
  const body = bindExpr(expr, opts, aliases, depth)
  return aliases.size === 0 ? body : { kind: 'exists', aliases: [...aliases.values()], expr: body }
}

function bindExpr(e: Expr, o: BindOptions, aliases: Map<string, CollectionAlias>, depth: number): BExpr {
  switch (e.type) {
    case 'and':
    case 'or': {
      const left = bindExpr(e.left, o, aliases, depth)
      const right = bindExpr(e.right, o, aliases, depth)
      // Constant folding keeps "@request.auth.id != '' && ..." from costing anything in SQL.
      if (left.kind === 'const') return (e.type === 'and') === left.value ? right : left
      if (right.kind === 'const') return (e.type === 'and') === right.value ? left : right
      return { kind: e.type, left, right }
    }
    case 'not': {
      const inner = bindExpr(e.expr, o, aliases, depth)
      return inner.kind === 'const' ? { kind: 'const', value: !inner.value } : { kind: 'not', expr: inner }
    }
    case 'compare':
      return bindCompare(e, o, aliases, depth)
  }
}

type Side =
  | { kind: 'path'; path: BPath }
  /** `unknown`: a path through a collection the lookup does not know (unknownAsMissing): null, typeless. */
  | { kind: 'value'; value: unknown; dynamic: boolean; unknown?: boolean }

function bindCompare(
  e: Extract<Expr, { type: 'compare' }>,
  o: BindOptions,
  aliases: Map<string, CollectionAlias>,
  depth: number,
): BExpr {
  const l = bindOperand(e.left, o, aliases, depth)
  const r = bindOperand(e.right, o, aliases, depth)
  const at = (msg: string) => new FilterError(msg, e.start)
  if (l.kind === 'value' && r.kind === 'value') {
    const lt = typeOfValue(l.value)
    const rt = typeOfValue(r.value)
    if (!l.dynamic && !r.dynamic && lt !== rt && lt !== 'null' && rt !== 'null') {
      throw at(`Cannot compare ${lt} with ${rt}.`)
    }
    const target = lt === 'null' ? rt : lt
    if (target === 'null') {
      // A missing row's value against null (or another missing one): as the evaluator would compare them.
      if (l.unknown || r.unknown) return { kind: 'const', value: compareValues(e.op, null, null) }
      return constCompare(e.op, null, null, at)
    }
    if (!opAllowed(e.op, target)) throw at(`Operator ${e.op} does not apply to ${target} values.`)
    const a = coerce(l.value, target)
    const b = coerce(r.value, target)
    if (!a.ok || !b.ok) return { kind: 'const', value: e.op === '!=' || e.op === '!~' }
    return constCompare(e.op, a.value, b.value, at)
  }
  if (l.kind === 'path' && r.kind === 'path') {
    if (l.path.multi && r.path.multi) throw at('Cannot compare two multi-valued operands.')
    if (l.path.vtype !== r.path.vtype) throw at(`Cannot compare ${l.path.vtype} with ${r.path.vtype}.`)
    if (!opAllowed(e.op, l.path.vtype)) throw at(`Operator ${e.op} does not apply to ${l.path.vtype} fields.`)
    return { kind: 'cmp', op: e.op, any: e.any, left: l.path, right: r.path }
  }
  const path = l.kind === 'path' ? l.path : (r as Extract<Side, { kind: 'path' }>).path
  const val = (l.kind === 'value' ? l : r) as Extract<Side, { kind: 'value' }>
  const t = path.vtype
  if (val.unknown) {
    // Compares as the path would with a related row that is not there.
  } else if (val.value === null || val.value === undefined) {
    if (e.op !== '=' && e.op !== '!=') throw at(`Only = and != compare with null.`)
  } else {
    if (!opAllowed(e.op, t)) throw at(`Operator ${e.op} does not apply to ${t} fields.`)
    if (!val.dynamic) checkLiteral(val.value, t, at)
  }
  const c = coerce(val.value, t)
  if (!c.ok) return { kind: 'const', value: e.op === '!=' || e.op === '!~' }
  const value: BValue = { kind: 'value', value: c.value }
  return l.kind === 'path'
    ? { kind: 'cmp', op: e.op, any: e.any, left: path, right: value }
    : { kind: 'cmp', op: e.op, any: e.any, left: value, right: path }
}

function constCompare(op: CompareOp, a: unknown, b: unknown, at: (m: string) => Error): BExpr {
  if (a === null && b === null && op !== '=' && op !== '!=') throw at('Only = and != compare with null.')
  return { kind: 'const', value: compareValues(op, a, b) }
}

/** Literals written in the filter must fit the field; a wrong type is the author's mistake. */
function checkLiteral(v: unknown, t: ValueType, at: (m: string) => Error): void {
  const lt = typeOfValue(v)
  const ok =
    lt === t ||
    (lt === 'text' && t === 'uuid') ||
    (lt === 'text' && t === 'date' && parseDate(v as string) !== undefined)
  if (!ok) {
    if (lt === 'text' && t === 'date')
      throw at(`'${String(v)}' is not a date (use ISO 8601, e.g. 2024-01-31T12:00:00Z).`)
    throw at(`Cannot compare a ${t} field with ${lt}.`)
  }
}

function bindOperand(
  op: Operand,
  o: BindOptions,
  aliases: Map<string, CollectionAlias>,
  depth: number,
): Side {
  switch (op.type) {
    case 'literal':
      return { kind: 'value', value: op.value, dynamic: false }
    case 'macro':
      return { kind: 'value', value: macroValue(op, o.request), dynamic: true }
    case 'field':
      return pathSide(bindPath(op.path, o.collection, 'self', o, op.start, depth))
    case 'collection': {
      let a = aliases.get(op.alias)
      const target = o.lookup(op.collection)
      if (!target) {
        // A collection without rows: its alias reads as a row of nulls.
        if (o.unknownAsMissing) return MISSING
        throw new FilterError(`Unknown collection '${op.collection}'.`, op.start)
      }
      if (a && a.collection.name !== target.name) {
        throw new FilterError(`Alias '${op.alias}' names two collections.`, op.start)
      }
      if (!a) {
        a = { alias: op.alias, collection: target, ...guardFor(target, o, depth) }
        aliases.set(op.alias, a)
      }
      return pathSide(bindPath(op.path, target, op.alias, o, op.start, depth))
    }
  }
}

const MISSING: Side = { kind: 'value', value: null, dynamic: true, unknown: true }

function pathSide(p: BPath | typeof MISSING_PATH): Side {
  return p === MISSING_PATH ? MISSING : { kind: 'path', path: p }
}

function macroValue(op: Extract<Operand, { type: 'macro' }>, req: RuleRequest): unknown {
  const [head, group, key, ...rest] = op.path
  const bad = () => new FilterError(`Unknown macro '@${op.path.join('.')}'.`, op.start)
  if (head === 'now' && op.path.length === 1) return req.now ?? new Date()
  if (head === 'todayStart' && op.path.length === 1) {
    const d = new Date(req.now ?? Date.now())
    d.setUTCHours(0, 0, 0, 0)
    return d
  }
  if (head !== 'request' || rest.length > 0) throw bad()
  if (group === 'method' && key === undefined) return req.method ?? 'GET'
  if (key === undefined) throw bad()
  if (group === 'auth') {
    if (key === 'id') return ownValue(req.auth, 'id') ?? ''
    return scalar(ownValue(req.auth, key))
  }
  if (group === 'body') return scalar(ownValue(req.body, key))
  if (group === 'query') {
    const v = ownValue(req.query, key)
    return typeof v === 'string' ? v : null
  }
  throw bad()
}

/**
 * The request's own value for `key`: `@request.body.constructor` is the body's `constructor` key if the
 * client sent one, never Object.prototype's (which would make a rule like `… != null` true for everyone).
 */
function ownValue(o: Readonly<Record<string, unknown>> | null | undefined, key: string): unknown {
  return o != null && Object.hasOwn(o, key) ? o[key] : undefined
}

/** Arrays and objects from a request body cannot be compared; they behave as "no value of this type". */
function scalar(v: unknown): unknown {
  if (v === undefined || v === null) return null
  return typeof v === 'object' || typeof v === 'function' ? Symbol('uncomparable') : v
}

function guardFor(target: FilterSchema, o: BindOptions, depth: number): { guard?: BExpr } {
  if (!o.restricted) return {}
  const rule = target.rules.view
  if (rule === null) return { guard: { kind: 'const', value: false } }
  if (rule === '') return {}
  if (depth >= 2) return { guard: { kind: 'const', value: false } }
  // The target's own view rule is trusted (an admin wrote it): it may use hidden fields.
  return { guard: bindAny(o.parse(rule), { ...o, collection: target, restricted: false }, depth + 1) }
}

const MAX_STEPS = 3

/** A path through a collection the lookup does not know, with unknownAsMissing. */
const MISSING_PATH = Symbol('missing')

/** `comments_via_post` → { collection: 'comments', field: 'post' }: a back-relation's name in paths and expand. */
export function parseBackRelation(name: string): { collection: string; field: string } | undefined {
  const m = /^([A-Za-z][A-Za-z0-9_]*)_via_([A-Za-z][A-Za-z0-9_]*)$/.exec(name)
  return m ? { collection: m[1]!, field: m[2]! } : undefined
}

function bindPath(
  path: readonly string[],
  root: FilterSchema,
  rootName: string,
  o: BindOptions,
  position: number,
  depth: number,
): BPath | typeof MISSING_PATH {
  const steps: Step[] = []
  let cur = root
  let multi = false
  for (let i = 0; i < path.length; i++) {
    const name = path[i]!
    const last = i === path.length - 1
    const unknown = () => new FilterError(`Unknown field '${path.slice(0, i + 1).join('.')}'.`, position)
    const system = SYSTEM_TYPES.get(name)
    if (system) {
      if (!last) throw unknown()
      return {
        kind: 'path',
        root: rootName,
        steps,
        final: { kind: 'column', column: name, array: false },
        multi,
        vtype: system,
      }
    }
    const via = parseBackRelation(name)
    if (via) {
      const to = o.lookup(via.collection)
      if (!to && o.unknownAsMissing && !last) return MISSING_PATH
      const field = to?.fields.find((f) => f.name === via.field)
      // A collection of unknown name (cur.name '') takes a relation to any collection: ids are unique anyway.
      const pointsHere = field?.options.collection === cur.name || cur.name === ''
      if (!to || !field || field.type !== 'relation' || !pointsHere) throw unknown()
      if (o.restricted && field.hidden) throw hiddenError(path, position)
      if (last) throw new FilterError(`'${name}' needs a field after it, e.g. ${name}.id.`, position)
      steps.push({ kind: 'back', field, to, ...guardFor(to, o, depth) })
      if (steps.length > MAX_STEPS) throw new FilterError('A path follows at most 3 relations.', position)
      multi = true
      cur = to
      continue
    }
    const field = cur.fields.find((f) => f.name === name)
    if (!field) throw unknown()
    if (o.restricted && field.hidden) throw hiddenError(path, position)
    const isMulti =
      field.options.multiple === true &&
      (field.type === 'select' || field.type === 'relation' || field.type === 'file')
    if (last) {
      const final: Final =
        field.type === 'relation' && isMulti
          ? { kind: 'join', field }
          : { kind: 'column', column: field.name, array: isMulti }
      return {
        kind: 'path',
        root: rootName,
        steps,
        final,
        multi: multi || isMulti,
        vtype: fieldValueType(field),
      }
    }
    if (field.type !== 'relation') throw unknown()
    const to = o.lookup(field.options.collection ?? '')
    if (!to) {
      if (o.unknownAsMissing) return MISSING_PATH
      throw unknown()
    }
    steps.push({ kind: 'forward', field, to, ...guardFor(to, o, depth) })
    if (steps.length > MAX_STEPS) throw new FilterError('A path follows at most 3 relations.', position)
    multi ||= isMulti
    cur = to
  }
  throw new FilterError('Empty field path.', position)
}

function hiddenError(path: readonly string[], position: number) {
  return new FilterError(`Field '${path.join('.')}' cannot be used here.`, position)
}
