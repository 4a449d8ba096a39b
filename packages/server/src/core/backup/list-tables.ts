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
 * Tables an archive never holds: live credentials and scratch state. Session rows carry bearer tokens (a raw
 * admin session token is accepted as a Bearer, so an archive reader would become console admin on the live
 * instance); verifications hold one-time codes and links (sign-up, reset, passkey challenges); idempotency
 * keys replay responses. After a restore everyone signs in again.
 */
export const EXCLUDED_TABLES: ReadonlySet<string> = new Set([
  'bastide.migrations',
  'bastide.admin_sessions',
  'bastide.auth_sessions',
  'bastide.admin_verifications',
  'bastide.auth_verifications',
  'bastide.idempotency_keys',
  'bastide.rate_limits',
])

/**
 * Columns copied as NULL: OAuth providers' tokens (access, refresh, id) are credentials at the provider, not
 * Bastide's to keep in archives; a restored user signs in again through the provider, which issues new ones.
 */
export const REDACTED_COLUMNS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  ['bastide.auth_accounts', 'bastide.admin_accounts'].map((t) => [
    t,
    new Set(['accessToken', 'refreshToken', 'idToken']),
  ]),
)

/**
 * Every table to back up, in load order (each after the tables its foreign keys point at; a cycle is broken
 * where the walk meets it, which is safe because a restore adds collections' foreign keys after the load).
 * Left out: bastide.migrations (the target's own migrations record themselves), EXCLUDED_TABLES and unlogged
 * tables (scratch state PostgreSQL itself empties after a crash). Generated columns are not copied: PostgreSQL
 * computes them. A restore lists the target's tables with this very function and loads only those.
 */
export async function listTables(client: pg.ClientBase): Promise<TableInfo[]> {
  const tables = await client.query<{ oid: number; schema: string; name: string; columns: string[] }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name,
            array(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                  ORDER BY a.attnum) AS columns
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r' AND c.relpersistence = 'p'
       AND NOT (n.nspname || '.' || c.relname) = ANY($2::text[])
     ORDER BY n.nspname, c.relname`,
    [BACKUP_SCHEMAS, [...EXCLUDED_TABLES]],
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

/** Every sequence of the Bastide schemas, used or not: the only ones a restore may set. */
export async function listAllSequences(client: pg.ClientBase): Promise<Set<string>> {
  const r = await client.query<{ schema: string; name: string }>(
    `SELECT schemaname AS schema, sequencename AS name FROM pg_sequences WHERE schemaname = ANY($1::text[])`,
    [BACKUP_SCHEMAS],
  )
  return new Set(r.rows.map((s) => `${s.schema}.${s.name}`))
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
