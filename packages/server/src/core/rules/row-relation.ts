import { type RawBuilder, sql } from 'kysely'
import { columnType } from '../collections/ddl.ts'
import { type Collection, type Field, hasColumn } from '../collections/types.ts'

/** Column values as the table stores them: what an INSERT writes (json fields as their JSON text). */
export type ColumnValues = Readonly<Record<string, unknown>>

/**
 * `values` as a one-row relation shaped like a row of `schema`'s table, system columns included: what a rule
 * compiled over that row reads when there is no row to read yet (a create a constraint refused, an upload
 * not yet made), any more (a deleted record) or ever (a channel). Every value is cast to its column's type,
 * so a rule compares exactly as it would against the stored row. Missing values are null; missing system
 * columns are a new row's (`now()`, version 1).
 */
export function rowRelation(
  schema: Collection,
  values: ColumnValues,
  /** A column's SQL type when it differs from columnType (a collation, as bastide.objects.key has). */
  typeOf: (f: Field) => string = columnType,
): RawBuilder<unknown> {
  const has = (k: string) => Object.hasOwn(values, k)
  const cols: RawBuilder<unknown>[] = [
    sql`${has('id') ? values.id : NIL_ID}::uuid AS id`,
    has('created')
      ? sql`${values.created}::timestamptz(3) AS created`
      : sql`now()::timestamptz(3) AS created`,
    has('updated')
      ? sql`${values.updated}::timestamptz(3) AS updated`
      : sql`now()::timestamptz(3) AS updated`,
    sql`${has('version') ? values.version : 1}::int AS version`,
  ]
  for (const f of schema.fields) {
    if (!hasColumn(f)) continue
    const v = has(f.name) ? values[f.name] : null
    cols.push(sql`${sql.val(v ?? null)}::${sql.raw(typeOf(f))} AS ${sql.id(f.name)}`)
  }
  return sql`SELECT ${sql.join(cols)}`
}

/**
 * A record as its events and API answers carry it (json fields as JSON values) turned into column values:
 * json is encoded as validateInput encodes it for an INSERT, so both paths compare alike.
 */
export function columnValuesOf(schema: Collection, record: Readonly<Record<string, unknown>>): ColumnValues {
  const out: Record<string, unknown> = { ...record }
  for (const f of schema.fields) {
    const v = record[f.name]
    if (f.type === 'json' && v !== null && v !== undefined) out[f.name] = JSON.stringify(v)
  }
  return out
}

const NIL_ID = '00000000-0000-0000-0000-000000000000'
