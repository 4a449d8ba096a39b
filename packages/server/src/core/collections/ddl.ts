import { type RawBuilder, sql } from 'kysely'
import { dataTable, linkTable } from './tables.ts'
import { type Collection, type Field, hasColumn, isMultiple, joinTableName, type OnDelete } from './types.ts'

type Stmt = RawBuilder<unknown>

/**
 * DDL cannot take bound parameters, so the few literals a definition carries (select values, patterns,
 * bounds) are escaped here the way libpq does; identifiers are validated names quoted by Kysely.
 */
export function literal(s: string): string {
  if (s.includes('\u0000')) throw new Error('NUL in literal')
  const body = s.replace(/'/g, "''")
  return s.includes('\\') ? ` E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`
}

function num(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error('not a finite number')
  return String(n)
}

const tbl = (c: { name: string }) => dataTable(c.name)
const id = (s: string) => sql.id(s)

export function columnType(f: Field): string {
  switch (f.type) {
    case 'number':
      return f.options.integer ? 'bigint' : 'double precision'
    case 'bool':
      return 'boolean'
    case 'date':
      return 'timestamptz(3)'
    case 'json':
      return 'jsonb'
    case 'relation':
      return 'uuid'
    default:
      return isMultiple(f) ? 'text[]' : 'text'
  }
}

const EMAIL_RE = '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'
const URL_RE = '^https?://[^\\s]+$'

/** The CHECK expression for a field, or undefined. Required text is non-empty; required arrays non-empty. */
function checkExpr(f: Field): string | undefined {
  // The expression is raw SQL: the name is quoted as an identifier (a `"` doubled), whatever validated it.
  const c = `"${f.name.replace(/"/g, '""')}"`
  const parts: string[] = []
  const o = f.options
  if (f.type === 'text') {
    if (o.min !== undefined) parts.push(`char_length(${c}) >= ${num(o.min)}`)
    if (o.max !== undefined) parts.push(`char_length(${c}) <= ${num(o.max)}`)
    if (o.pattern !== undefined) parts.push(`${c} ~ ${literal(o.pattern)}`)
  }
  if (f.type === 'number') {
    if (o.min !== undefined) parts.push(`${c} >= ${num(o.min)}`)
    if (o.max !== undefined) parts.push(`${c} <= ${num(o.max)}`)
  }
  if (f.type === 'date') {
    if (o.min !== undefined)
      parts.push(`${c} >= ${literal(new Date(o.min as string).toISOString())}::timestamptz`)
    if (o.max !== undefined)
      parts.push(`${c} <= ${literal(new Date(o.max as string).toISOString())}::timestamptz`)
  }
  if (f.type === 'email') parts.push(`${c} ~ ${literal(EMAIL_RE)}`)
  if (f.type === 'url') parts.push(`${c} ~* ${literal(URL_RE)}`)
  if (f.type === 'select' && o.values) {
    const arr = `ARRAY[${o.values.map(literal).join(', ')}]::text[]`
    parts.push(o.multiple ? `${c} <@ ${arr}` : `${c} = ANY (${arr})`)
  }
  if (f.required && ['text', 'email', 'url', 'select', 'file'].includes(f.type)) {
    parts.push(isMultiple(f) ? `cardinality(${c}) > 0` : `${c} <> ''`)
  }
  if (isMultiple(f) && f.type !== 'relation') parts.push(`array_position(${c}, NULL) IS NULL`)
  return parts.length ? parts.join(' AND ') : undefined
}

const ON_DELETE_SQL: Record<OnDelete, string> = {
  cascade: 'CASCADE',
  set_null: 'SET NULL',
  restrict: 'RESTRICT',
}

/** Constraints and indexes owned by a field; named by field id so renames never orphan them. */
function fieldConstraints(c: Collection, f: Field): Stmt[] {
  const out: Stmt[] = []
  if (!hasColumn(f)) return out
  const check = checkExpr(f)
  if (check)
    out.push(sql`ALTER TABLE ${tbl(c)} ADD CONSTRAINT ${id(`f${f.id}_chk`)} CHECK (${sql.raw(check)})`)
  if (f.unique)
    out.push(sql`ALTER TABLE ${tbl(c)} ADD CONSTRAINT ${id(`f${f.id}_uq`)} UNIQUE (${id(f.name)})`)
  if (f.type === 'relation') {
    const target = f.options.collection!
    out.push(
      sql`ALTER TABLE ${tbl(c)} ADD CONSTRAINT ${id(`f${f.id}_fk`)} FOREIGN KEY (${id(f.name)}) REFERENCES ${tbl({ name: target })} (id) ON DELETE ${sql.raw(ON_DELETE_SQL[f.options.onDelete ?? 'set_null'])}`,
    )
    // Back-relation expansion and ON DELETE both look rows up by this column.
    if (!f.unique) out.push(sql`CREATE INDEX ${id(`f${f.id}_ix`)} ON ${tbl(c)} (${id(f.name)})`)
  }
  return out
}

function dropFieldConstraints(c: Collection, f: Field): Stmt[] {
  return [
    sql`ALTER TABLE ${tbl(c)} DROP CONSTRAINT IF EXISTS ${id(`f${f.id}_chk`)}`,
    sql`ALTER TABLE ${tbl(c)} DROP CONSTRAINT IF EXISTS ${id(`f${f.id}_uq`)}`,
    sql`ALTER TABLE ${tbl(c)} DROP CONSTRAINT IF EXISTS ${id(`f${f.id}_fk`)}`,
    sql`DROP INDEX IF EXISTS ${dataTable(`f${f.id}_ix`)}`,
  ]
}

function joinTable(c: Collection, f: Field): Stmt[] {
  const jt = linkTable(f)
  // Removing a target removes the link (cascade and set_null); restrict blocks the delete.
  const onTarget = f.options.onDelete === 'restrict' ? 'RESTRICT' : 'CASCADE'
  return [
    sql`CREATE TABLE ${jt} (
      source uuid NOT NULL REFERENCES ${tbl(c)} (id) ON DELETE CASCADE,
      target uuid NOT NULL REFERENCES ${tbl({ name: f.options.collection! })} (id) ON DELETE ${sql.raw(onTarget)},
      position integer NOT NULL,
      PRIMARY KEY (source, target))`,
    sql`CREATE INDEX ${id(`${joinTableName(f)}_target`)} ON ${jt} (target)`,
  ]
}

function indexStmt(c: Collection, ix: Collection['indexes'][number]): Stmt {
  const cols = sql.join(ix.fields.map((f) => id(f)))
  return ix.unique
    ? sql`CREATE UNIQUE INDEX ${id(ix.name)} ON ${tbl(c)} (${cols})`
    : sql`CREATE INDEX ${id(ix.name)} ON ${tbl(c)} (${cols})`
}

function columnDef(f: Field): Stmt {
  return sql`${id(f.name)} ${sql.raw(columnType(f))}${sql.raw(f.required ? ' NOT NULL' : '')}`
}

export function planCreate(c: Collection): Stmt[] {
  const cols = c.fields.filter(hasColumn).map(columnDef)
  const all = [
    sql`id uuid PRIMARY KEY`,
    sql`created timestamptz(3) NOT NULL DEFAULT now()`,
    sql`updated timestamptz(3) NOT NULL DEFAULT now()`,
    sql`version integer NOT NULL DEFAULT 1`,
    ...cols,
  ]
  return [
    sql`CREATE TABLE ${tbl(c)} (${sql.join(all)})`,
    // The default sort (newest first) and keyset pagination walk this index.
    sql`CREATE INDEX ${id(`c${c.id.replace(/-/g, '').slice(0, 12)}_created`)} ON ${tbl(c)} (created, id)`,
    ...c.fields.flatMap((f) => (hasColumn(f) ? fieldConstraints(c, f) : joinTable(c, f))),
    ...c.indexes.map((ix) => indexStmt(c, ix)),
  ]
}

export function planDrop(c: Collection): Stmt[] {
  return [
    ...c.fields.filter((f) => !hasColumn(f)).map((f) => sql`DROP TABLE ${linkTable(f)}`),
    sql`DROP TABLE ${tbl(c)}`,
  ]
}

/** ALTERs turning `a` into `b`; data is kept through renames and casts, dropped only with its field. */
export function planUpdate(a: Collection, b: Collection): Stmt[] {
  const out: Stmt[] = []
  if (a.name !== b.name) out.push(sql`ALTER TABLE ${tbl(a)} RENAME TO ${id(b.name)}`)
  const next = new Map(b.fields.map((f) => [f.id, f]))
  const prev = new Map(a.fields.map((f) => [f.id, f]))
  for (const ix of a.indexes) {
    if (!b.indexes.some((x) => x.name === ix.name)) out.push(sql`DROP INDEX ${dataTable(ix.name)}`)
  }
  for (const f of a.fields) {
    if (next.has(f.id)) continue
    out.push(
      hasColumn(f) ? sql`ALTER TABLE ${tbl(b)} DROP COLUMN ${id(f.name)}` : sql`DROP TABLE ${linkTable(f)}`,
    )
  }
  // Renames in two steps through names no field can have (they start with _), so that swapping two names,
  // or adding a field under a name another one gives up, works whatever the order of the list.
  const renamed = b.fields.filter((f) => {
    const old = prev.get(f.id)
    return old && old.name !== f.name && hasColumn(old) && hasColumn(f)
  })
  for (const f of renamed)
    out.push(sql`ALTER TABLE ${tbl(b)} RENAME COLUMN ${id(prev.get(f.id)!.name)} TO ${id(`_mv_${f.id}`)}`)
  for (const f of renamed)
    out.push(sql`ALTER TABLE ${tbl(b)} RENAME COLUMN ${id(`_mv_${f.id}`)} TO ${id(f.name)}`)
  for (const f of b.fields) {
    const old = prev.get(f.id)
    if (!old) {
      if (hasColumn(f))
        out.push(sql`ALTER TABLE ${tbl(b)} ADD COLUMN ${columnDef(f)}`, ...fieldConstraints(b, f))
      else out.push(...joinTable(b, f))
      continue
    }
    if (sameShape(old, f)) continue
    if (old.type === 'relation' && !old.options.multiple && f.options.multiple) {
      // single → multiple: move the links into a join table, keeping them.
      out.push(...dropFieldConstraints(b, old), ...joinTable(b, f))
      out.push(sql`INSERT INTO ${linkTable(f)} (source, target, position)
        SELECT id, ${id(old.name)}, 0 FROM ${tbl(b)} WHERE ${id(old.name)} IS NOT NULL`)
      out.push(sql`ALTER TABLE ${tbl(b)} DROP COLUMN ${id(old.name)}`)
      continue
    }
    if (!hasColumn(f)) {
      const jt = linkTable(f)
      out.push(sql`ALTER TABLE ${jt} DROP CONSTRAINT IF EXISTS ${id(`${joinTableName(f)}_target_fkey`)}`)
      const onTarget = f.options.onDelete === 'restrict' ? 'RESTRICT' : 'CASCADE'
      out.push(
        sql`ALTER TABLE ${jt} ADD CONSTRAINT ${id(`${joinTableName(f)}_target_fkey`)} FOREIGN KEY (target) REFERENCES ${tbl({ name: f.options.collection! })} (id) ON DELETE ${sql.raw(onTarget)}`,
      )
      continue
    }
    out.push(...dropFieldConstraints(b, old))
    const ta = columnType(old)
    const tb = columnType(f)
    if (ta !== tb)
      out.push(
        sql`ALTER TABLE ${tbl(b)} ALTER COLUMN ${id(f.name)} TYPE ${sql.raw(tb)} USING ${castExpr(f.name, old, f)}`,
      )
    if (old.required !== f.required) {
      out.push(
        sql`ALTER TABLE ${tbl(b)} ALTER COLUMN ${id(f.name)} ${sql.raw(f.required ? 'SET' : 'DROP')} NOT NULL`,
      )
    }
    out.push(...fieldConstraints(b, f))
  }
  for (const ix of b.indexes) {
    if (!a.indexes.some((x) => x.name === ix.name)) out.push(indexStmt(b, ix))
  }
  return out
}

function sameShape(a: Field, b: Field): boolean {
  return (
    a.type === b.type &&
    a.required === b.required &&
    a.unique === b.unique &&
    JSON.stringify(a.options) === JSON.stringify(b.options)
  )
}

/** How existing values convert on a retype; a value that cannot convert fails the whole change. */
function castExpr(name: string, from: Field, to: Field): Stmt {
  const c = id(name)
  const tb = sql.raw(columnType(to))
  if (!isMultiple(from) && isMultiple(to))
    return sql`CASE WHEN ${c} IS NULL THEN NULL ELSE ARRAY[${c}::text] END`
  if (to.type === 'bool' && from.type === 'number') return sql`(${c} <> 0)`
  if (from.type === 'bool' && to.type === 'number') return sql`(CASE WHEN ${c} THEN 1 ELSE 0 END)::${tb}`
  if (from.type === 'json' && columnType(to) === 'text') return sql`(${c} #>> '{}')`
  if (to.type === 'json') return sql`to_jsonb(${c})`
  if (from.type === 'number' && to.type === 'number' && to.options.integer) return sql`round(${c})::bigint`
  return sql`${c}::${tb}`
}
