import type { Kysely } from 'kysely'
import type pg from 'pg'
import { planCreate, planUpdate } from '../collections/ddl.ts'
import type { Collection } from '../collections/types.ts'
import { BackupError } from './manifest.ts'

/** The DDL that gives the target the backup's collections, split around the data load. */
export interface CollectionsPlan {
  /** Tables, columns, checks, unique constraints and indexes: run before loading rows. */
  readonly create: readonly string[]
  /**
   * Foreign keys of collection columns: added once every row is in. Collections may reference each other in
   * cycles (and themselves), and their foreign keys are not DEFERRABLE, so no load order would satisfy them
   * row by row; adding them afterwards still checks every reference (ADD CONSTRAINT validates the table),
   * with no superuser setting (session_replication_role) needed, so it works on managed PostgreSQL too.
   */
  readonly afterLoad: readonly string[]
}

/**
 * Plans the backup's catalog with the server's own DDL (core/collections/ddl.ts): planCreate for each
 * collection, and for built-in ones (users, created by the target's migrations) planUpdate from the target's
 * definition to the backup's, so that fields an admin added to them come back too.
 */
export async function planCollections(
  client: pg.ClientBase,
  db: Kysely<any>,
  catalog: readonly Record<string, unknown>[],
): Promise<CollectionsPlan> {
  const builtIn = await client.query(
    'SELECT id, name, fields, indexes, rules, system FROM bastide.collections WHERE system',
  )
  const targets = new Map(builtIn.rows.map((r) => [r.name as string, toCollection(r)]))
  const main: string[] = []
  const joins: string[] = []
  const afterLoad: string[] = []
  for (const row of catalog) {
    const c = toCollection(row)
    let stmts: ReturnType<typeof planCreate>
    if (c.system) {
      const target = targets.get(c.name)
      if (!target)
        throw new BackupError(
          'BACKUP_FAILED',
          `The built-in collection ${c.name} of the backup does not exist here.`,
        )
      stmts = planUpdate(target, c)
    } else stmts = planCreate(c)
    for (const s of stmts) {
      const q = s.compile(db)
      if (q.parameters.length > 0) throw new Error('DDL with parameters')
      const text = q.sql
      if (/^ALTER TABLE\b[\s\S]*\bFOREIGN KEY\b/.test(text)) afterLoad.push(text)
      // Join tables reference two collection tables: created once every collection table exists.
      else if (/^CREATE TABLE "data"\."_rel_|^CREATE INDEX [^ ]+ ON "data"\."_rel_/.test(text))
        joins.push(text)
      else main.push(text)
    }
  }
  return { create: [...main, ...joins], afterLoad }
}

function toCollection(r: Record<string, any>): Collection {
  return {
    id: r.id,
    name: r.name,
    fields: r.fields,
    indexes: r.indexes,
    rules: r.rules,
    ...(r.system ? { system: true } : {}),
    created: r.created ?? '',
    updated: r.updated ?? '',
  }
}
