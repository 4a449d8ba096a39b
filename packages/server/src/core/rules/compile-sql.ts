import { type RawBuilder, type SqlBool, sql } from 'kysely'
import { dataTable } from '../collections/tables.ts'
import { type Field, joinTableName } from '../collections/types.ts'
import type { CompareOp } from './ast.ts'
import type { BExpr, BOperand, BPath } from './bind.ts'
import { compareValues, type ValueType } from './values.ts'

type Sql = RawBuilder<unknown>

interface Env {
  /** SQL alias of the row 'self' refers to. */
  readonly self: string
  /** @collection alias → SQL alias. */
  readonly aliases: ReadonlyMap<string, string>
  readonly counter: { n: number }
  /** Where the links of the row aliased `alias` come from, when not from their join tables (CompileOptions). */
  readonly links?: { readonly alias: string; readonly ids: (f: Field) => Sql }
}

export interface CompileOptions {
  /**
   * The ids of a multiple relation of the row `self` itself (not of rows a path reaches), as a uuid[] expression
   * in link order, read instead of its join table: for a row that is not the table's, such as a past state in
   * sync's change log, whose links are logged with it.
   */
  readonly selfLinks?: (f: Field) => RawBuilder<unknown>
}

/**
 * Compiles a bound filter to a boolean SQL expression over the row aliased `self`. Every value is a bound
 * parameter; every identifier comes from the schema (validated names). NOT is pushed down to the
 * comparisons, so a positive `author = $1` stays a plain, index-friendly predicate while negations are
 * null-safe: the result matches the two-valued semantics of `compareValues`.
 */
export function compileFilter(e: BExpr, self: string, o: CompileOptions = {}): RawBuilder<SqlBool> {
  const links = o.selfLinks ? { alias: self, ids: o.selfLinks } : undefined
  return compile(
    e,
    { self, aliases: new Map(), counter: { n: 0 }, ...(links ? { links } : {}) },
    false,
  ) as RawBuilder<SqlBool>
}

function fresh(env: Env, prefix: string): string {
  env.counter.n++
  return `_${prefix}${env.counter.n}`
}

function compile(e: BExpr, env: Env, neg: boolean): Sql {
  switch (e.kind) {
    case 'const':
      return e.value !== neg ? sql`TRUE` : sql`FALSE`
    case 'not':
      return compile(e.expr, env, !neg)
    case 'and':
    case 'or': {
      const joiner = (e.kind === 'and') !== neg ? sql` AND ` : sql` OR `
      return sql`(${compile(e.left, env, neg)}${joiner}${compile(e.right, env, neg)})`
    }
    case 'exists': {
      const aliases = new Map(env.aliases)
      const joins: Sql[] = []
      for (const a of e.aliases) {
        const as = fresh(env, 'c')
        aliases.set(a.alias, as)
        const on = a.guard ? compile(a.guard, { ...env, self: as }, false) : sql`TRUE`
        joins.push(sql`LEFT JOIN ${dataTable(a.collection.name)} AS ${sql.id(as)} ON ${on}`)
      }
      const inner = compile(e.expr, { ...env, aliases }, false)
      const q = sql`EXISTS (SELECT 1 FROM (SELECT 1) AS ${sql.id(fresh(env, 'o'))} ${sql.join(joins, sql` `)} WHERE ${inner})`
      return neg ? sql`NOT ${q}` : q
    }
    case 'cmp':
      return compileCompare(e, env, neg)
  }
}

function compileCompare(e: Extract<BExpr, { kind: 'cmp' }>, env: Env, neg: boolean): Sql {
  const multi =
    e.left.kind === 'path' && e.left.multi
      ? 'left'
      : e.right.kind === 'path' && e.right.multi
        ? 'right'
        : undefined
  const vtype = (e.left.kind === 'path' ? e.left : (e.right as BPath)).vtype
  // Two database operands may both be null; a known value never is here (null literals take the IS NULL form).
  const bothDb = e.left.kind === 'path' && e.right.kind === 'path'
  if (!multi) {
    const withNull = isNullValue(e.left) || isNullValue(e.right)
    return atom(e.op, operand(e.left, env, vtype), operand(e.right, env, vtype), vtype, neg, withNull, bothDb)
  }
  const path = (multi === 'left' ? e.left : e.right) as BPath
  const other = multi === 'left' ? e.right : e.left
  const set = pathSet(path, env)
  const m = fresh(env, 'm')
  const elem = sql.ref(`${m}.v`)
  const otherSql = operand(other, env, vtype)
  const nullOther = isNullValue(other)
  const elemAtom = (n: boolean) =>
    multi === 'left'
      ? atom(e.op, elem, otherSql, vtype, n, nullOther, bothDb)
      : atom(e.op, otherSql, elem, vtype, n, nullOther, bothDb)
  const some = (n: boolean) => sql`EXISTS (SELECT 1 FROM (${set}) AS ${sql.id(m)} WHERE ${elemAtom(n)})`
  const nonEmpty = sql`EXISTS (${set})`
  // No elements: the comparison behaves as if the value were null.
  let whenEmpty: Sql
  if (other.kind === 'value') {
    const v =
      multi === 'left' ? compareValues(e.op, null, other.value) : compareValues(e.op, other.value, null)
    whenEmpty = v ? sql`TRUE` : sql`FALSE`
  } else {
    const nul = sql`NULL::${sql.raw(pgType(vtype))}`
    whenEmpty = sql`COALESCE(${multi === 'left' ? atom(e.op, nul, otherSql, vtype, false, false, true) : atom(e.op, otherSql, nul, vtype, false, false, true)}, FALSE)`
  }
  const whenNonEmpty = e.any ? some(false) : sql`NOT ${some(true)}`
  const pos = sql`(CASE WHEN ${nonEmpty} THEN ${whenNonEmpty} ELSE ${whenEmpty} END)`
  return neg ? sql`NOT ${pos}` : pos
}

function isNullValue(o: BOperand): boolean {
  return o.kind === 'value' && (o.value === null || o.value === undefined)
}

/** One comparison, in positive or negated (null-safe) form. */
/**
 * `bothDb`: both sides come from the database and may both be null, so equality must be
 * IS NOT DISTINCT FROM; against a known value a plain (indexable) `=` means the same.
 */
function atom(
  op: CompareOp,
  a: Sql,
  b: Sql,
  vtype: ValueType,
  neg: boolean,
  withNull: boolean,
  bothDb = false,
): Sql {
  if (withNull) {
    // x = null / x != null
    const isNull = (op === '=') !== neg
    const side = a
    return isNull ? sql`(${side} IS NULL AND ${b} IS NULL)` : sql`NOT (${side} IS NULL AND ${b} IS NULL)`
  }
  const C = vtype === 'text' ? sql` COLLATE "C"` : sql``
  switch (op) {
    case '=':
    case '!=': {
      if ((op === '=') === neg) return sql`(${a} IS DISTINCT FROM ${b})`
      return bothDb ? sql`(${a} IS NOT DISTINCT FROM ${b})` : sql`(${a} = ${b})`
    }
    case '~':
    case '!~': {
      const positive = (op === '~') !== neg
      const like = sql`(${a} ILIKE ${likePattern(b)})`
      return positive ? like : sql`(NOT COALESCE(${like}, FALSE))`
    }
    default: {
      const o = sql.raw(op)
      const cmp = sql`(${a}${C} ${o} ${b}${C})`
      return neg ? sql`(NOT COALESCE(${cmp}, FALSE))` : cmp
    }
  }
}

/** Text values known in advance become a ready pattern; the LIKE wildcards in them match literally. */
const likeValues = new WeakMap<object, string>()

function likePattern(b: Sql): Sql {
  const text = likeValues.get(b)
  if (text !== undefined) {
    return sql`${sql.val(`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}::text`
  }
  return sql`('%' || replace(replace(replace(${b}, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')`
}

function operand(o: BOperand, env: Env, vtype: ValueType): Sql {
  if (o.kind === 'path') return pathScalar(o, env)
  const v = o.value
  if (v === null || v === undefined) return sql`NULL`
  let out: Sql
  switch (vtype) {
    case 'uuid':
      out = sql`${sql.val(v)}::uuid`
      break
    case 'date':
      out = sql`${sql.val((v as Date).toISOString())}::timestamptz`
      break
    case 'number':
      // A small integer takes the column's own type (indexable); anything else is numeric, so a literal
      // beyond an int4/int8 column's range compares instead of failing the cast.
      out =
        Number.isInteger(v) && Math.abs(v as number) <= 2147483647
          ? sql`${sql.val(v)}`
          : sql`${sql.val(v)}::numeric`
      break
    case 'bool':
      out = sql`${sql.val(v)}::boolean`
      break
    default:
      out = sql`${sql.val(String(v))}::text`
  }
  if (vtype === 'text') likeValues.set(out, String(v))
  return out
}

/** A single-valued path as a scalar expression: a column, or a subquery through single relations. */
function pathScalar(p: BPath, env: Env): Sql {
  if (p.steps.length === 0) return sql.ref(`${rootAlias(p, env)}.${(p.final as { column: string }).column}`)
  return sql`(${pathSet(p, env)})`
}

function rootAlias(p: BPath, env: Env): string {
  return p.root === 'self' ? env.self : env.aliases.get(p.root)!
}

/** Where the multiple relations of the row aliased `alias` come from, when CompileOptions.selfLinks says. */
function ownLinks(env: Env, alias: string): ((f: Field) => Sql) | undefined {
  return env.links && env.links.alias === alias ? env.links.ids : undefined
}

/** Any path as `SELECT <value> AS v FROM ...`: one row per element (multi) or at most one row (single). */
function pathSet(p: BPath, env: Env): Sql {
  let prev = rootAlias(p, env)
  const from: Sql[] = []
  const where: Sql[] = []
  for (const step of p.steps) {
    const t = fresh(env, 's')
    const own = ownLinks(env, prev)
    if (step.kind === 'forward' && step.field.options.multiple && own) {
      const j = fresh(env, 'j')
      from.push(
        sql`unnest(${own(step.field)}) AS ${sql.id(j)}(target) JOIN ${dataTable(step.to.name)} AS ${sql.id(t)} ON ${sql.ref(`${t}.id`)} = ${sql.ref(`${j}.target`)}`,
      )
    } else if (step.kind === 'forward' && step.field.options.multiple) {
      const j = fresh(env, 'j')
      from.push(
        sql`${dataTable(joinTableName(step.field))} AS ${sql.id(j)} JOIN ${dataTable(step.to.name)} AS ${sql.id(t)} ON ${sql.ref(`${t}.id`)} = ${sql.ref(`${j}.target`)}`,
      )
      where.push(sql`${sql.ref(`${j}.source`)} = ${sql.ref(`${prev}.id`)}`)
    } else if (step.kind === 'forward') {
      from.push(sql`${dataTable(step.to.name)} AS ${sql.id(t)}`)
      where.push(sql`${sql.ref(`${t}.id`)} = ${sql.ref(`${prev}.${step.field.name}`)}`)
    } else if (step.field.options.multiple) {
      const j = fresh(env, 'j')
      from.push(
        sql`${dataTable(joinTableName(step.field))} AS ${sql.id(j)} JOIN ${dataTable(step.to.name)} AS ${sql.id(t)} ON ${sql.ref(`${t}.id`)} = ${sql.ref(`${j}.source`)}`,
      )
      where.push(sql`${sql.ref(`${j}.target`)} = ${sql.ref(`${prev}.id`)}`)
    } else {
      from.push(sql`${dataTable(step.to.name)} AS ${sql.id(t)}`)
      where.push(sql`${sql.ref(`${t}.${step.field.name}`)} = ${sql.ref(`${prev}.id`)}`)
    }
    if (step.guard) where.push(compile(step.guard, { ...env, self: t }, false))
    prev = t
  }
  let value: Sql
  const own = ownLinks(env, prev)
  if (p.final.kind === 'join' && own) {
    const j = fresh(env, 'j')
    from.push(sql`unnest(${own(p.final.field)}) AS ${sql.id(j)}(target)`)
    value = sql.ref(`${j}.target`)
  } else if (p.final.kind === 'join') {
    const j = fresh(env, 'j')
    from.push(sql`${dataTable(joinTableName(p.final.field))} AS ${sql.id(j)}`)
    where.push(sql`${sql.ref(`${j}.source`)} = ${sql.ref(`${prev}.id`)}`)
    value = sql.ref(`${j}.target`)
  } else if (p.final.array) {
    value = sql`unnest(${sql.ref(`${prev}.${p.final.column}`)})`
  } else {
    value = sql.ref(`${prev}.${p.final.column}`)
  }
  const fromSql = from.length ? sql` FROM ${sql.join(from, sql`, `)}` : sql``
  const whereSql = where.length ? sql` WHERE ${sql.join(where, sql` AND `)}` : sql``
  return sql`SELECT ${value} AS v${fromSql}${whereSql}`
}

export function pgType(t: ValueType): string {
  return {
    text: 'text',
    number: 'numeric',
    bool: 'boolean',
    date: 'timestamptz',
    uuid: 'uuid',
    json: 'jsonb',
  }[t]
}
