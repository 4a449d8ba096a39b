import type { Bucket as WireBucket } from '@bastide/protocol'
import { sql, type Transaction } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { errors, parseInput } from '../../errors/index.ts'
import { type AdminActions, audited, diffOf } from '../../events/admin-actions.ts'
import type { Collection } from '../collections/types.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { ruleProblem } from '../rules/index.ts'
import { OBJECTS_SCHEMA } from './object-schema.ts'

export const BUCKET_ACTIONS = ['read', 'write', 'delete'] as const
export type BucketAction = (typeof BUCKET_ACTIONS)[number]

/** `null`: locked (admins and keys only); `''`: everyone; otherwise an expression over the object. */
export type BucketRules = { readonly [A in BucketAction]: string | null }

/** A bucket as the API shows it (the wire type, declared in packages/protocol), every rule present. */
export interface Bucket extends Omit<WireBucket, 'rules'> {
  readonly rules: BucketRules
}

/**
 * A change made inside a larger transaction (schema push): written with `trx`, its rules checked against that
 * transaction's catalog; it commits or rolls back with the rest.
 */
export interface WithinTransaction {
  readonly trx: Transaction<any>
  readonly lookup: (name: string) => Collection | undefined
}

export interface BucketsService {
  /** `within`: as that transaction sees them. */
  list(within?: Pick<WithinTransaction, 'trx'>): Promise<Bucket[]>
  find(name: string): Promise<Bucket | undefined>
  get(name: string): Promise<Bucket>
  /** `actor`: principalId of who does it (the audit log). */
  create(input: unknown, actor: string, within?: WithinTransaction): Promise<Bucket>
  update(name: string, patch: unknown, actor: string, within?: WithinTransaction): Promise<Bucket>
  /**
   * Refused (409) while the bucket holds objects (deleting files is an explicit act) or a collection's file
   * field keeps its files there (renaming is refused then too).
   */
  remove(name: string, actor: string, within?: WithinTransaction): Promise<void>
}

const NAME = /^[a-z0-9][a-z0-9_-]{1,62}$/
const MIME_PATTERN = /^(\*|\*\/\*|[a-z0-9][a-z0-9!#$&^_.+-]*\/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*))$/i

const rule = z
  .string()
  .max(2000)
  .nullable()
  .describe('`null`: locked (admins and keys only); `""`: everyone.')
const rulesInput = z
  .strictObject({ read: rule.optional(), write: rule.optional(), delete: rule.optional() })
  .describe(
    'Filter expressions over the object (`key`, `size`, `mimeType`, `owner`, `metadata`) and `@request.auth.*`. A rule left out is locked.',
  )
const fields = {
  name: z
    .string()
    .regex(NAME, 'Lowercase letters, digits, _ and -, 2–63 characters, starting with a letter or digit.'),
  public: z.boolean().describe('Anyone may read its objects, and caches may keep them.'),
  maxFileSize: z
    .number()
    .int()
    .positive()
    .nullable()
    .describe("Bytes; null: the server's limit (BASTIDE_STORAGE_MAX_FILE_SIZE)."),
  allowedMimeTypes: z
    .array(z.string().regex(MIME_PATTERN, 'A MIME type such as image/png or image/*.'))
    .max(100)
    .describe(
      'Types of the bytes as sniffed, exact or `type/*`; empty: any. Wildcards never admit active content (SVG, HTML...): list it by name to allow it.',
    ),
  rules: rulesInput,
}
export const bucketInput = z.strictObject({
  ...fields,
  public: fields.public.default(false),
  maxFileSize: fields.maxFileSize.default(null),
  allowedMimeTypes: fields.allowedMimeTypes.default([]),
  rules: rulesInput.default({}),
})
// No defaults here: what a PATCH leaves out stays as it is.
export const bucketPatch = z.strictObject(fields).partial()

type Row = {
  id: string
  name: string
  public: boolean
  max_file_size: number | null
  allowed_mime_types: string[]
  rules: BucketRules
  created: string
  updated: string
}

const toBucket = (r: Row): Bucket =>
  Object.freeze({
    id: r.id,
    name: r.name,
    public: r.public,
    maxFileSize: r.max_file_size === null ? null : Number(r.max_file_size),
    allowedMimeTypes: Object.freeze([...r.allowed_mime_types]),
    rules: Object.freeze({
      read: r.rules.read ?? null,
      write: r.rules.write ?? null,
      delete: r.rules.delete ?? null,
    }),
    created: r.created,
    updated: r.updated,
  })

/** Buckets: named groups of objects with their own limits and rules, kept in bastide.buckets. */
export function createBucketsService(deps: {
  db: Db
  lookup: (name: string) => Collection | undefined
  /** Bucket changes are admin actions, recorded in their transaction (the audit log). */
  actions?: AdminActions
}): BucketsService {
  const { db } = deps
  /** The change and its audit entry, in one transaction (the caller's, when `within` is given). */
  const change = async <T>(
    actor: string,
    action: string,
    target: string,
    fn: (trx: Transaction<any>) => Promise<{ result: T; before?: Bucket; after?: Bucket }>,
    within?: WithinTransaction,
  ): Promise<T> => {
    if (!within) return audited(db, deps.actions, { actor, action, target }, fn)
    const { result, before, after } = await fn(within.trx)
    await deps.actions?.record(within.trx, { actor, action, target, diff: diffOf(before, after) })
    return result
  }

  const checkRules = (rules: BucketRules, lookup = deps.lookup) => {
    const fields: Record<string, { code: string; message: string }> = {}
    for (const a of BUCKET_ACTIONS) {
      const src = rules[a]
      if (src === null || src.trim() === '') continue
      const problem = ruleProblem(src, OBJECTS_SCHEMA, lookup)
      if (problem) fields[`rules.${a}`] = { code: 'invalid_rule', message: problem }
    }
    if (Object.keys(fields).length) throw errors.validation(fields)
  }

  /** Collections whose file fields keep their objects in bucket `name` (their values are its keys). */
  const usedBy = async (name: string, ex: Db | Transaction<any> = db) =>
    (
      await sql<{ name: string }>`SELECT DISTINCT c.name FROM bastide.collections c,
          jsonb_array_elements(c.fields) f
        WHERE f->>'type' = 'file' AND f->'options'->>'bucket' = ${name} ORDER BY c.name`.execute(ex)
    ).rows.map((r) => r.name)
  const assertUnused = async (name: string, what: string, ex: Db | Transaction<any> = db) => {
    const refs = await usedBy(name, ex)
    if (refs.length > 0)
      throw errors.conflict(`File fields keep their files in the bucket ${name}; it cannot be ${what}.`, {
        referencedBy: refs,
      })
  }

  const byName = async (name: string, ex: Db | Transaction<any> = db) =>
    (await sql<Row>`SELECT * FROM bastide.buckets WHERE name = ${name}`.execute(ex)).rows[0]
  const getIn = async (name: string, ex: Db | Transaction<any>) => {
    const row = NAME.test(name) ? await byName(name, ex) : undefined
    if (!row) throw errors.notFound('Bucket')
    return toBucket(row)
  }

  return {
    async list(within) {
      const rows = await sql<Row>`SELECT * FROM bastide.buckets ORDER BY name`.execute(within?.trx ?? db)
      return rows.rows.map(toBucket)
    },
    async find(name) {
      if (!NAME.test(name)) return undefined
      const row = await byName(name)
      return row ? toBucket(row) : undefined
    },
    async get(name) {
      const b = await this.find(name)
      if (!b) throw errors.notFound('Bucket')
      return b
    },
    async create(input, actor, within) {
      const v = parseInput(bucketInput, input)
      // A rule left out is locked, as for collections: a new bucket exposes nothing until told to.
      const rules: BucketRules = {
        read: v.rules.read ?? null,
        write: v.rules.write ?? null,
        delete: v.rules.delete ?? null,
      }
      checkRules(rules, within?.lookup)
      return change(
        actor,
        'bucket.create',
        v.name,
        async (trx) => {
          const res = await sql<Row>`
          INSERT INTO bastide.buckets (id, name, public, max_file_size, allowed_mime_types, rules)
          VALUES (${uuidv7()}::uuid, ${v.name}, ${v.public}, ${v.maxFileSize}, ${v.allowedMimeTypes}::text[],
                  ${JSON.stringify(rules)}::jsonb)
          ON CONFLICT (name) DO NOTHING RETURNING *`.execute(trx)
          const row = res.rows[0]
          if (!row) throw errors.conflict(`A bucket named ${v.name} already exists.`)
          const after = toBucket(row)
          return { result: after, after }
        },
        within,
      )
    },
    async update(name, patch, actor, within) {
      const current = await getIn(name, within?.trx ?? db)
      const v = parseInput(bucketPatch, patch)
      const rules: BucketRules = { ...current.rules, ...(v.rules ?? {}) } as BucketRules
      checkRules(rules, within?.lookup)
      if (v.name !== undefined && v.name !== current.name)
        await assertUnused(current.name, 'renamed', within?.trx)
      return change(
        actor,
        'bucket.update',
        current.name,
        async (trx) => {
          const res = await sql<Row>`
        UPDATE bastide.buckets SET
          name = ${v.name ?? current.name},
          public = ${v.public ?? current.public},
          max_file_size = ${v.maxFileSize !== undefined ? v.maxFileSize : current.maxFileSize},
          allowed_mime_types = ${[...(v.allowedMimeTypes ?? current.allowedMimeTypes)]}::text[],
          rules = ${JSON.stringify(rules)}::jsonb,
          updated = now()
        WHERE id = ${current.id}::uuid RETURNING *`
            .execute(trx)
            .catch((err: { code?: string }) => {
              if (err.code === '23505') throw errors.conflict(`A bucket named ${v.name} already exists.`)
              throw err
            })
          if (!res.rows[0]) throw errors.notFound('Bucket')
          const after = toBucket(res.rows[0])
          return { result: after, before: current, after }
        },
        within,
      )
    },
    async remove(name, actor, within) {
      const b = await getIn(name, within?.trx ?? db)
      await assertUnused(b.name, 'deleted', within?.trx)
      await change(
        actor,
        'bucket.delete',
        b.name,
        async (trx) => {
          const res = await sql`
          DELETE FROM bastide.buckets b WHERE b.id = ${b.id}::uuid
            AND NOT EXISTS (SELECT 1 FROM bastide.objects o WHERE o.bucket_id = b.id)`.execute(trx)
          if (Number(res.numAffectedRows ?? 0) === 0) {
            throw errors.conflict(`The bucket ${name} still holds objects; delete them first.`)
          }
          return { result: undefined, before: b }
        },
        within,
      )
    },
  }
}
