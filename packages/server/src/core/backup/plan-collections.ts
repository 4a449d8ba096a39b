import type { Kysely } from 'kysely'
import type pg from 'pg'
import { planCreate, planUpdate } from '../collections/ddl.ts'
import { defineCollection } from '../collections/define.ts'
import type { Collection } from '../collections/types.ts'
import { ruleProblem } from '../rules/index.ts'
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
 * definition to the backup's, so that fields an admin added to them come back too. Every definition is first
 * validated as the API would (validateCatalog): the archive is input, not trusted.
 */
export async function planCollections(
  client: pg.ClientBase,
  db: Kysely<any>,
  catalog: readonly unknown[],
): Promise<CollectionsPlan & { readonly collections: readonly Collection[] }> {
  const builtIn = await client.query(
    'SELECT id, name, fields, indexes, rules, system FROM bastide.collections WHERE system',
  )
  const targets = new Map(builtIn.rows.map((r) => [r.name as string, toCollection(r)]))
  const collections = validateCatalog(catalog, targets)
  const main: string[] = []
  const joins: string[] = []
  const afterLoad: string[] = []
  for (const c of collections) {
    let stmts: ReturnType<typeof planCreate>
    if (c.system) stmts = planUpdate(targets.get(c.name)!, c)
    else stmts = planCreate(c)
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
  return { create: [...main, ...joins], afterLoad, collections }
}

const FIELD_ID = /^[a-z0-9]{10}$/
const INDEX_NAME = /^ix_[a-z0-9]{10}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * The backup's catalog as the server's defineCollection accepts it (names, types, options, relations over the
 * catalog itself, rules), or BACKUP_REFUSED naming the first collection that is not. Field and index ids are
 * the archive's (relations and constraints name them) but must look like ids the server makes; the result
 * must equal the archive's definition, so the shape loaded into bastide.collections is the one validated.
 */
export function validateCatalog(
  catalog: readonly unknown[],
  builtIn: ReadonlyMap<string, Collection>,
): Collection[] {
  if (!Array.isArray(catalog)) throw refused('the catalog is not a list')
  const raw = catalog.map((r, i) => {
    if (!isObject(r) || typeof r.name !== 'string') throw refused(`collection #${i} has no name`)
    return r
  })
  const byName = new Map(raw.map((r) => [r.name as string, toCollection(r)]))
  if (byName.size !== raw.length) throw refused('two collections have the same name')
  const ctx = {
    lookup: (n: string) => byName.get(n),
    checkRule: (rule: string, c: Collection) => ruleProblem(rule, c, (n) => byName.get(n)),
  }
  return raw.map((r) => {
    const name = r.name as string
    const fields = r.fields
    const indexes = r.indexes
    if (
      !Array.isArray(fields) ||
      !fields.every(isObject) ||
      !Array.isArray(indexes) ||
      !indexes.every(isObject)
    )
      throw refused(`collection ${name} has no valid fields or indexes`)
    if (typeof r.id !== 'string' || !UUID.test(r.id)) throw refused(`collection ${name} has no valid id`)
    for (const f of fields)
      if (typeof f.id !== 'string' || !FIELD_ID.test(f.id))
        throw refused(`a field of ${name} has no valid id`)
    for (const ix of indexes)
      if (typeof ix.name !== 'string' || !INDEX_NAME.test(ix.name))
        throw refused(`an index of ${name} has no valid name`)
    const target = r.system === true ? builtIn.get(name) : undefined
    if (r.system === true && !target)
      throw new BackupError(
        'BACKUP_FAILED',
        `The built-in collection ${name} of the backup does not exist here.`,
      )
    const targetIds = new Set(target?.fields.map((f) => f.id))
    // Ids are the server's to make: sent without them (but a built-in's own fields), then given back below.
    const input = {
      name,
      fields: fields.map(({ id, system: _system, ...f }) => (targetIds.has(id as string) ? { id, ...f } : f)),
      indexes: indexes.map(({ name: _name, ...ix }) => ix),
      rules: r.rules,
    }
    let defined: Collection
    try {
      defined = defineCollection(input, ctx, target)
    } catch (err) {
      const issues = (err as { details?: { issues?: { path: string; message: string }[] } }).details?.issues
      throw refused(
        `collection ${name} is not valid: ${issues?.map((x) => `${x.path}: ${x.message}`).join('; ') ?? (err as Error).message}`,
      )
    }
    const result: Collection = {
      ...defined,
      id: target?.id ?? (r.id as string),
      fields: defined.fields.map((f, i) => ({ ...f, id: (fields[i]?.id as string | undefined) ?? f.id })),
      indexes: defined.indexes.map((ix, i) => ({ ...ix, name: indexes[i]!.name as string })),
      created: typeof r.created === 'string' ? r.created : defined.created,
      updated: typeof r.updated === 'string' ? r.updated : defined.updated,
    }
    if (!sameDefinition(result, toCollection(r)))
      throw refused(`collection ${name} differs from what this server would define from it`)
    return result
  })
}

/** Fields, indexes and rules equal, whatever the order of keys (jsonb reorders them). */
export function sameDefinition(a: Collection, b: Collection): boolean {
  const pick = (c: Collection) =>
    canonical({ name: c.name, fields: c.fields, indexes: c.indexes, rules: c.rules, system: !!c.system })
  return pick(a) === pick(b)
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (isObject(v))
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`
  return JSON.stringify(v)
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const refused = (why: string) => new BackupError('BACKUP_REFUSED', `The backup's catalog is refused: ${why}.`)

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
