import { randomUUID } from 'node:crypto'
import { type RawBuilder, sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { Principal } from '../auth/principal.ts'
import { columnType } from '../collections/ddl.ts'
import type { Collection, Field } from '../collections/types.ts'
import { authorize, type Decision, deniesAll } from '../rules/authorize.ts'
import { rowRelation } from '../rules/row-relation.ts'
import type { Bucket, BucketAction } from './buckets.ts'
import { OBJECT_COLUMNS, type ObjectRow } from './object-rows.ts'
import { OBJECTS_SCHEMA } from './object-schema.ts'

/** Past the rules: a signed URL (it proved the right to its one object), or a look at every row. */
export const BYPASS: Decision = Object.freeze({ kind: 'bypass' })

/** The rule ANDed into a statement over bastide.objects `o`. */
export const ruleSql = (a: Decision) => (a.kind === 'expression' ? sql` AND (${a.predicate})` : sql``)

export const forbiddenWrite = (b: Bucket) =>
  errors.forbidden(`You are not allowed to write to the ${b.name} bucket here.`)

/** Does the object row `id` (as it now stands in this transaction) pass `rule`? */
export async function rowPasses(executor: any, id: string, rule: RawBuilder<unknown>): Promise<boolean> {
  const res = await sql<{
    ok: boolean
  }>`SELECT (${rule}) AS ok FROM bastide.objects o WHERE o.id = ${id}::uuid`.execute(executor)
  return res.rows[0]?.ok === true
}

/** bastide.objects.key sorts bytewise (COLLATE "C"): a would-be object's key compares the same way. */
const objectColumnType = (f: Field) => (f.name === 'key' ? 'text COLLATE "C"' : columnType(f))

export interface ObjectAccess {
  /**
   * Who may do `action` in bucket `b` (see authorize): keys need storage:read to read, storage:write to write
   * or delete; a public bucket's read rule is not consulted. Rules are compiled over bastide.objects (`o`).
   */
  access(b: Bucket, action: BucketAction, p: Principal): Decision
  /** The object row for `key`, if `a` lets the caller see it. */
  findRow(b: Bucket, key: string, a: Decision, executor?: Db | any): Promise<ObjectRow | undefined>
  /**
   * Before any byte is read: can the would-be object pass the write rule at all? Only rules that do not
   * read the bytes' properties (size, mimeType) can be decided now; the rest is decided on the stored row.
   */
  precheck(b: Bucket, key: string, owner: string | null, metadata: unknown, a: Decision): Promise<void>
}

/** Bucket rules applied to objects: the storage side of the one authorization decision. */
export function objectAccess(deps: {
  readonly db: Db
  readonly lookup: (name: string) => Collection | undefined
}): ObjectAccess {
  const { db } = deps
  return {
    access(b, action, p) {
      return authorize(p, {
        rule: action === 'read' && b.public ? '' : b.rules[action],
        scope: action === 'read' ? 'storage:read' : 'storage:write',
        schema: OBJECTS_SCHEMA,
        lookup: deps.lookup,
        alias: 'o',
      })
    },

    async findRow(b, key, a, executor = db) {
      if (deniesAll(a)) return undefined
      const res = await sql<ObjectRow>`SELECT ${OBJECT_COLUMNS} FROM bastide.objects o
        WHERE o.bucket_id = ${b.id}::uuid AND o.key = ${key}${ruleSql(a)}`.execute(executor)
      return res.rows[0]
    },

    async precheck(b, key, owner, metadata, a) {
      if (a.kind !== 'expression') return
      const src = b.rules.write ?? ''
      if (/\b(size|mimeType)\b/.test(src)) return
      const candidate = rowRelation(
        OBJECTS_SCHEMA,
        { id: randomUUID(), key, size: 0, mimeType: '', owner, metadata: JSON.stringify(metadata ?? {}) },
        objectColumnType,
      )
      const res = await sql<{ ok: boolean }>`SELECT (${a.predicate}) AS ok FROM (${candidate}) AS o`.execute(
        db,
      )
      if (!res.rows[0]?.ok) throw forbiddenWrite(b)
    },
  }
}
