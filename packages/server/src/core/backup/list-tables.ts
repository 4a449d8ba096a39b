import type pg from 'pg'

/** Where Bastide keeps its tables: its own, and the data schema (collections, users, join tables). */
export const BACKUP_SCHEMAS = ['bastide', 'data'] as const

export interface TableInfo {
  readonly oid: number
  readonly schema: string
  readonly name: string
  readonly columns: readonly string[]
}

/**
 * Every table to back up, in load order (each after the tables its foreign keys point at; a cycle is broken
 * where the walk meets it, which is safe because a restore adds collections' foreign keys after the load).
 * Left out: bastide.migrations (the target's own migrations record themselves) and unlogged tables
 * (rate-limit counters: scratch state PostgreSQL itself empties after a crash). Generated columns are not
 * copied: PostgreSQL computes them.
 */
export async function listTables(client: pg.ClientBase): Promise<TableInfo[]> {
  const tables = await client.query<{ oid: number; schema: string; name: string; columns: string[] }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name,
            array(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                  ORDER BY a.attnum) AS columns
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r' AND c.relpersistence = 'p'
       AND NOT (n.nspname = 'bastide' AND c.relname = 'migrations')
     ORDER BY n.nspname, c.relname`,
    [BACKUP_SCHEMAS],
  )
  const fks = await client.query<{ from: number; to: number }>(
    `SELECT conrelid::int AS "from", confrelid::int AS "to" FROM pg_constraint
     WHERE contype = 'f' AND conrelid = ANY($1::oid[])`,
    [tables.rows.map((t) => t.oid)],
  )
  const deps = new Map<number, number[]>()
  for (const fk of fks.rows) {
    if (fk.from === fk.to) continue
    deps.set(fk.from, [...(deps.get(fk.from) ?? []), fk.to])
  }
  const byOid = new Map(tables.rows.map((t) => [t.oid, t]))
  const order: TableInfo[] = []
  const state = new Map<number, 'visiting' | 'done'>()
  const visit = (oid: number) => {
    if (state.has(oid)) return
    state.set(oid, 'visiting')
    for (const d of deps.get(oid) ?? []) if (byOid.has(d)) visit(d)
    state.set(oid, 'done')
    order.push(byOid.get(oid)!)
  }
  for (const t of tables.rows) visit(t.oid)
  return order
}

/** `"schema"."name"`, quoted for SQL. */
export function qualified(client: pg.ClientBase, schema: string, name: string): string {
  return `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`
}

/** Used sequences of the Bastide schemas with their current value (sequences are not transactional). */
export async function listSequences(
  client: pg.ClientBase,
): Promise<{ schema: string; name: string; value: string }[]> {
  const r = await client.query<{ schema: string; name: string; value: string }>(
    `SELECT schemaname AS schema, sequencename AS name, last_value::text AS value FROM pg_sequences
     WHERE schemaname = ANY($1::text[]) AND last_value IS NOT NULL ORDER BY 1, 2`,
    [BACKUP_SCHEMAS],
  )
  return r.rows
}
