import { type RawBuilder, sql } from 'kysely'
import { errors } from '../../errors/index.ts'
import { columnType } from '../collections/ddl.ts'
import { dataTable, linkTable } from '../collections/tables.ts'
import { type Collection, type Field, hasColumn, isMultiple, SYSTEM_FIELDS } from '../collections/types.ts'

// Collection objects are replaced, never mutated, on a schema change: what is built from one can be kept
// with it. Kysely's builders are immutable, so one instance serves every query.
const tables = new WeakMap<Collection, RawBuilder<unknown>>()
const selects = new WeakMap<Collection, Map<string, RawBuilder<unknown>>>()

export function tableOf(c: Collection): RawBuilder<unknown> {
  let t = tables.get(c)
  if (!t) tables.set(c, (t = dataTable(c.name) as unknown as RawBuilder<unknown>))
  return t
}

/**
 * The columns a record is read with, aliased `r`; multiple relations come back as id arrays from their
 * join table in the same statement (a correlated ARRAY subquery, never a query per row).
 */
export function selectList(c: Collection, alias = 'r'): RawBuilder<unknown> {
  let byAlias = selects.get(c)
  if (!byAlias) selects.set(c, (byAlias = new Map()))
  let s = byAlias.get(alias)
  if (!s) byAlias.set(alias, (s = buildSelectList(c, alias)))
  return s
}

function buildSelectList(c: Collection, alias: string): RawBuilder<unknown> {
  const cols: RawBuilder<unknown>[] = SYSTEM_FIELDS.map((s) => sql.ref(`${alias}.${s}`))
  for (const f of c.fields) {
    if (hasColumn(f)) cols.push(sql.ref(`${alias}.${f.name}`))
    else {
      const jt = linkTable(f)
      cols.push(
        sql`ARRAY(SELECT j.target FROM ${jt} j WHERE j.source = ${sql.ref(`${alias}.id`)} ORDER BY j.position) AS ${sql.id(f.name)}`,
      )
    }
  }
  return sql.join(cols)
}

/** Per collection definition: whether it has hidden fields, and fields read as arrays. */
const readShapes = new WeakMap<Collection, { readonly hidden: boolean; readonly multiple: boolean }>()

/**
 * Whether a row as read by `selectList` (its columns and nothing else, in that order) is already what
 * shapeRecord would make of it, with neither `fields` nor `expand`: the collection has no multiple field (whose
 * NULL is answered as []) and no hidden field the caller may not see. The row is then answered as it is.
 */
export function readAsShaped(c: Collection, seeHidden: boolean): boolean {
  let s = readShapes.get(c)
  if (!s) {
    s = { hidden: c.fields.some((f) => f.hidden), multiple: c.fields.some(isMultiple) }
    readShapes.set(c, s)
  }
  return !s.multiple && (seeHidden || !s.hidden)
}

/** Shapes a row for the wire: hidden fields only for principals that bypass rules; arrays never null. */
export function shapeRecord(
  c: Collection,
  row: Record<string, unknown>,
  seeHidden: boolean,
  pick?: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const s of SYSTEM_FIELDS) if (!pick || pick.has(s)) out[s] = row[s]
  for (const f of c.fields) {
    if (f.hidden && !seeHidden) continue
    if (pick && !pick.has(f.name)) continue
    const v = row[f.name]
    out[f.name] = isMultiple(f) ? (v ?? []) : v === undefined ? null : v
  }
  return out
}

export interface SortKey {
  readonly column: string
  readonly desc: boolean
  readonly text: boolean
}

/** `-created,title` → keys; only real scalar columns the principal may read. `id` always ends the list. */
export function parseSort(c: Collection, raw: string | undefined, seeHidden: boolean): SortKey[] {
  const keys: SortKey[] = []
  const spec = raw?.trim() ? raw.split(',') : ['-created']
  if (spec.length > 8) throw errors.badRequest('At most 8 sort fields.', { param: 'sort' })
  for (const part of spec) {
    const p = part.trim()
    const desc = p.startsWith('-')
    const name = desc || p.startsWith('+') ? p.slice(1) : p
    let text = false
    if (!(SYSTEM_FIELDS as readonly string[]).includes(name)) {
      const f = c.fields.find((x) => x.name === name)
      if (!f || (f.hidden && !seeHidden) || !sortable(f)) {
        throw errors.badRequest(`Cannot sort by '${name}'.`, { param: 'sort', field: name })
      }
      text = ['text', 'email', 'url', 'select', 'file'].includes(f.type)
    }
    if (keys.some((k) => k.column === name))
      throw errors.badRequest(`'${name}' appears twice in sort.`, { param: 'sort' })
    keys.push({ column: name, desc, text })
  }
  if (!keys.some((k) => k.column === 'id'))
    keys.push({ column: 'id', desc: keys[keys.length - 1]?.desc ?? false, text: false })
  return keys
}

function sortable(f: Field): boolean {
  return hasColumn(f) && !isMultiple(f) && f.type !== 'json'
}

/** ORDER BY matching PostgreSQL's defaults (ASC NULLS LAST, DESC NULLS FIRST), which the cursor relies on. */
export function orderBy(keys: readonly SortKey[], alias = 'r'): RawBuilder<unknown> {
  return sql.join(
    keys.map(
      (k) =>
        sql`${sql.ref(`${alias}.${k.column}`)}${k.text ? sql` COLLATE "C"` : sql``} ${sql.raw(k.desc ? 'DESC' : 'ASC')}`,
    ),
  )
}

export function encodeCursor(keys: readonly SortKey[], row: Record<string, unknown>): string {
  const payload = {
    s: keys.map((k) => (k.desc ? '-' : '') + k.column).join(','),
    v: keys.map((k) => row[k.column] ?? null),
  }
  return Buffer.from(JSON.stringify(payload)).toString('base64url')
}

/**
 * Rows strictly after the cursor in sort order: OR over i of (k1 = v1 AND … AND k_i beyond v_i), with
 * nulls placed where ORDER BY puts them. Values are bound parameters cast to the column's own type.
 */
export function afterCursor(
  c: Collection,
  keys: readonly SortKey[],
  cursor: string,
  alias = 'r',
): RawBuilder<unknown> {
  let payload: { s?: unknown; v?: unknown }
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw errors.invalidCursor()
  }
  const spec = keys.map((k) => (k.desc ? '-' : '') + k.column).join(',')
  if (payload?.s !== spec || !Array.isArray(payload.v) || payload.v.length !== keys.length)
    throw errors.invalidCursor()
  const values = payload.v as unknown[]
  const ors: RawBuilder<unknown>[] = []
  for (let i = 0; i < keys.length; i++) {
    const ands: RawBuilder<unknown>[] = []
    for (let j = 0; j < i; j++) ands.push(eq(c, keys[j]!, values[j], alias))
    const beyond = after(c, keys[i]!, values[i], alias)
    if (!beyond) continue
    ands.push(beyond)
    ors.push(sql`(${sql.join(ands, sql` AND `)})`)
  }
  return ors.length ? sql`(${sql.join(ors, sql` OR `)})` : sql`FALSE`
}

function typed(c: Collection, k: SortKey, v: unknown): RawBuilder<unknown> {
  if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
    throw errors.invalidCursor()
  if (typeof v === 'string' && v.includes('\u0000')) throw errors.invalidCursor()
  const t =
    k.column === 'id'
      ? 'uuid'
      : k.column === 'created' || k.column === 'updated'
        ? 'timestamptz'
        : k.column === 'version'
          ? 'integer'
          : columnType(c.fields.find((x) => x.name === k.column)!)
  return sql`${sql.val(v)}::${sql.raw(t)}`
}

function eq(c: Collection, k: SortKey, v: unknown, alias: string) {
  const col = sql.ref(`${alias}.${k.column}`)
  return v === null ? sql`${col} IS NULL` : sql`${col} = ${typed(c, k, v)}`
}

function after(c: Collection, k: SortKey, v: unknown, alias: string): RawBuilder<unknown> | undefined {
  const col = k.text ? sql`${sql.ref(`${alias}.${k.column}`)} COLLATE "C"` : sql.ref(`${alias}.${k.column}`)
  if (!k.desc) return v === null ? undefined : sql`(${col} > ${typed(c, k, v)} OR ${col} IS NULL)`
  return v === null ? sql`${col} IS NOT NULL` : sql`${col} < ${typed(c, k, v)}`
}
