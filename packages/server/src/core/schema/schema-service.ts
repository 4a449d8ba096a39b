import { createHash } from 'node:crypto'
import {
  type AppliedMigration,
  type SchemaApplyResult,
  type SchemaCollection,
  type SchemaDocument,
  type SchemaPlan,
  stableJson,
} from '@bastide/protocol'
import { sql } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import { parseInput } from '../../errors/parse-input.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { ChannelDefinitions } from '../channels/channel-definitions.ts'
import type { CollectionsService, SchemaSession } from '../collections/service.ts'
import type { Collection } from '../collections/types.ts'
import type { BucketsService } from '../files/buckets.ts'
import { canonicalCollection, exportSchema, parseSchemaDocument } from './canonical-schema.ts'
import { matchCollections, matchField, planHash, planSchema } from './plan-schema.ts'

export interface ApplyOptions {
  /** Also apply changes that can lose data (drops, lossy retypes); without it they are refused (409). */
  readonly allowDestructive?: boolean
  /** The `hash` of the plan that was shown: refused (409) when the plan would now be different. */
  readonly expectHash?: string
}

/** Schema as code: the instance's schema as one document, plans against a target, and applying them atomically. */
export interface SchemaService {
  export(): Promise<SchemaDocument>
  /**
   * From the instance's schema, or from `base` when given (a schema the plan starts from). `check`: also apply it
   * for real in a transaction that is rolled back, which proves it applies and gives its SQL (`sql`); it takes the
   * schema lock and runs the DDL, so it costs what the apply costs.
   */
  plan(schema: unknown, opts?: { base?: unknown; check?: boolean }): Promise<SchemaPlan>
  apply(schema: unknown, opts: ApplyOptions, actor: string): Promise<SchemaApplyResult>
  /** Migrations applied to this instance, by id. */
  migrations(): Promise<AppliedMigration[]>
  /**
   * Applies a migration (its target schema) and records its id in the same transaction. An id already applied
   * with the same checksum is a no-op (`applied: false`); with another checksum, a 409.
   */
  applyMigration(input: unknown, actor: string): Promise<SchemaApplyResult>
}

export const migrationInput = z.strictObject({
  id: z
    .string()
    .regex(/^\d{4,}_[a-z0-9][a-z0-9_-]{0,99}$/, 'NNNN_name: digits, an underscore, then a-z 0-9 _ -.')
    .describe(
      'The migration file name without `.json`, e.g. `0003_add_posts`; migrations apply in id order.',
    ),
  checksum: z
    .string()
    .regex(/^[a-f0-9]{64}$/, 'A sha256, in hex.')
    .optional()
    .describe(
      'sha256 of the migration’s schema (its keys sorted), as the file records it. The server computes it from ' +
        '`schema` and refuses (400) a given one that differs; an applied id with another checksum is refused (409).',
    ),
  schema: z.unknown().describe('The schema the migration leads to (a SchemaDocument).'),
  allowDestructive: z.boolean().default(false),
})

export function createSchemaService(deps: {
  readonly db: Db
  readonly collections: CollectionsService
  readonly buckets: BucketsService
  readonly channels: ChannelDefinitions
  readonly actions?: AdminActions
}): SchemaService {
  const { db, collections, buckets, channels } = deps

  /** Inside the schema transaction: plan against the instance as locked, check, then apply every change. */
  async function applyIn(
    s: SchemaSession,
    desired: SchemaDocument,
    opts: ApplyOptions,
    actor: string,
  ): Promise<SchemaApplyResult> {
    const within = { trx: s.trx, lookup: (n: string) => s.catalog().get(n) }
    const liveChannels = await channels.list(within)
    const current = exportSchema({
      collections: s.catalog().values(),
      buckets: await buckets.list(within),
      channels: liveChannels,
    })
    const changes = planSchema(current, desired)
    const hash = planHash(current, desired)
    if (opts.expectHash !== undefined && opts.expectHash !== hash)
      throw errors.conflict('The schema changed since this plan was made; nothing was applied. Plan again.', {
        reason: 'plan_changed',
        hash,
        changes,
      })
    const destructive = changes.filter((c) => c.destructive)
    if (destructive.length > 0 && !opts.allowDestructive)
      throw errors.conflict('The plan has destructive changes; nothing was applied. Confirm them to apply.', {
        reason: 'destructive',
        destructive,
      })
    if (changes.length === 0) return { applied: false, changes, hash }

    // 1. New buckets, locked until the collections their rules may name exist (step 3 sets the rules).
    const liveBuckets = new Map(current.buckets.map((b) => [b.name, b]))
    for (const b of desired.buckets) {
      if (liveBuckets.has(b.name)) continue
      const { rules: _, ...rest } = b
      await buckets.create({ ...rest, rules: {} }, actor, within)
    }
    // 2. Collections: renames, then new ones (without relations to collections not there yet, rules or indexes),
    //    then every one to its final definition, then drops (collections others still relate to go last).
    const matches = matchCollections(current.collections, desired.collections)
    for (const { want, was } of matches)
      if (was && was.name !== want.name) await s.update(was.name, { name: want.name })
    for (const { want, was } of matches) {
      if (was) continue
      const fields = want.fields.filter(
        (f) =>
          f.type !== 'relation' ||
          f.options.collection === want.name ||
          s.catalog().has(f.options.collection ?? ''),
      )
      await s.create({ name: want.name, fields: fields.map(fieldInput) })
    }
    for (const { want } of matches) {
      const live = s.catalog().get(want.name)!
      // `system` aside: a file may leave the built-in marker out without that being a change.
      const same =
        stableJson({ ...canonicalCollection(live), system: undefined }) ===
        stableJson({ ...withoutHints(want), system: undefined })
      if (same) continue
      await s.update(want.name, patchFor(live, want))
    }
    const kept = new Set(desired.collections.map((c) => c.name))
    const drops = [...s.catalog().values()].filter((c) => !c.system && !kept.has(c.name))
    // Relations between collections that all go would block each other's drop (a cycle has no order): cut them
    // first. A relation from a kept collection still blocks, and remove() says which.
    for (const c of drops) {
      const fields = c.fields.filter(
        (f) =>
          !(
            f.type === 'relation' &&
            f.options.collection !== c.name &&
            drops.some((d) => d.name === f.options.collection)
          ),
      )
      if (fields.length !== c.fields.length) await s.update(c.name, { fields })
    }
    for (const c of drops) await s.remove(c.name)
    // 3. Buckets to their final settings and rules (checked against the final collections), then removed ones.
    for (const b of desired.buckets) {
      const was = liveBuckets.get(b.name)
      const locked = { ...b, rules: { read: null, write: null, delete: null } }
      if (stableJson(was ?? locked) === stableJson(b)) continue
      const { name: _, ...patch } = b
      await buckets.update(b.name, patch, actor, within)
    }
    for (const b of current.buckets)
      if (!desired.buckets.some((d) => d.name === b.name)) await buckets.remove(b.name, actor, within)
    // 4. Channel definitions, by pattern.
    for (const c of desired.channels) {
      const live = liveChannels.find((l) => l.pattern === c.pattern)
      if (!live) await channels.create(c, actor, within)
      else if (
        stableJson({ presence: live.presence, rules: live.rules }) !==
        stableJson({ ...c, pattern: undefined })
      )
        await channels.update(live.id, { presence: c.presence, rules: c.rules }, actor, within)
    }
    for (const l of liveChannels)
      if (!desired.channels.some((c) => c.pattern === l.pattern)) await channels.remove(l.id, actor, within)
    return { applied: true, changes, hash }
  }

  /** The apply, rolled back: its plan and SQL, or the error the apply would give. */
  async function trial(desired: SchemaDocument): Promise<SchemaPlan> {
    const rollback = new Error('rollback')
    let plan: SchemaPlan | undefined
    try {
      await collections.batch('plan', async (s) => {
        const { changes, hash } = await applyIn(s, desired, { allowDestructive: true }, 'plan')
        plan = { changes, hash, sql: [...s.statements()] }
        throw rollback
      })
    } catch (err) {
      if (err !== rollback) throw err
    }
    return plan!
  }

  const liveSchema = async () =>
    exportSchema({
      collections: collections.list(),
      buckets: await buckets.list(),
      channels: await channels.list(),
    })

  return {
    export: liveSchema,
    async plan(schema, opts = {}) {
      const desired = parseSchemaDocument(schema)
      if (opts.check && opts.base === undefined) return trial(desired)
      const current = opts.base === undefined ? await liveSchema() : parseSchemaDocument(opts.base)
      return { changes: planSchema(current, desired), hash: planHash(current, desired) }
    },
    async apply(schema, opts, actor) {
      const desired = parseSchemaDocument(schema)
      return collections.batch(actor, (s) => applyIn(s, desired, opts, actor))
    },
    async migrations() {
      const rows = await sql<{ id: string; checksum: string; applied_at: Date; applied_by: string }>`
        SELECT id, checksum, applied_at, applied_by FROM bastide.schema_migrations ORDER BY id`.execute(db)
      return rows.rows.map((r) => ({
        id: r.id,
        checksum: r.checksum,
        appliedAt: new Date(r.applied_at).toISOString(),
        appliedBy: r.applied_by,
      }))
    },
    async applyMigration(input, actor) {
      const parsed = parseInput(migrationInput, input)
      const desired = parseSchemaDocument(parsed.schema)
      // What is recorded is the server's hash of what it applies, never a client's word for it: a checksum that
      // does not match its schema would let a changed migration pass for the applied one (or block the same one).
      const checksum = migrationChecksum(parsed.schema)
      if (parsed.checksum !== undefined && parsed.checksum !== checksum)
        throw errors.validation({
          checksum: {
            code: 'mismatch',
            message: `The migration's schema hashes to ${checksum}, not to the checksum given: its file was edited.`,
          },
        })
      const v = { ...parsed, checksum }
      return collections.batch(actor, async (s) => {
        // Under the schema lock: two nodes applying the same migration at once apply it once.
        const done = (
          await sql<{ checksum: string }>`SELECT checksum FROM bastide.schema_migrations
            WHERE id = ${v.id}`.execute(s.trx)
        ).rows[0]
        if (done) {
          if (done.checksum === v.checksum) return { applied: false, changes: [], hash: '' }
          throw errors.conflict(
            `Migration ${v.id} was applied with another checksum: its file changed since. Add a new migration instead.`,
            { reason: 'checksum_mismatch', applied: done.checksum, given: v.checksum },
          )
        }
        const result = await applyIn(s, desired, { allowDestructive: v.allowDestructive }, actor)
        await sql`INSERT INTO bastide.schema_migrations (id, checksum, applied_by)
          VALUES (${v.id}, ${v.checksum}, ${actor})`.execute(s.trx)
        await deps.actions?.record(s.trx, {
          actor,
          action: 'schema.migrate',
          target: v.id,
          details: { checksum: v.checksum, changes: result.changes.length },
        })
        return { ...result, applied: true }
      })
    },
  }
}

/** A migration's checksum: sha256 of its schema as sent, key order aside (as `bastide migrations` computes it). */
export function migrationChecksum(schema: unknown): string {
  return createHash('sha256').update(stableJson(schema)).digest('hex')
}

/** A field of a document as the collections API takes it (a new field: no id). */
function fieldInput(f: SchemaCollection['fields'][number]) {
  return {
    name: f.name,
    type: f.type,
    required: f.required,
    unique: f.unique,
    hidden: f.hidden,
    options: f.options,
  }
}

/** The PATCH turning `live` into `want`: fields matched by name (or rename hint) keep their ids, so their data. */
function patchFor(live: Collection, want: SchemaCollection) {
  const liveDoc = canonicalCollection(live)
  const fields: object[] = want.fields.map((f) => {
    const sys = f.system ? live.fields.find((x) => x.system && x.name === f.name) : undefined
    // Matched by id: define.ts keeps a built-in field as it is, and refuses (400) a file that changes it.
    if (sys) return { id: sys.id, ...fieldInput(f), system: true }
    const old = matchField(f, liveDoc, want)
    const id = old ? live.fields.find((x) => x.name === old.name && !x.system)?.id : undefined
    return { ...(id ? { id } : {}), ...fieldInput(f) }
  })
  // Built-in fields a target leaves out stay where they are (define.ts would keep them, but at the end).
  live.fields.forEach((f, i) => {
    if (f.system && !fields.some((x) => 'id' in x && x.id === f.id))
      fields.splice(Math.min(i, fields.length), 0, f)
  })
  return {
    fields,
    indexes: want.indexes.map((ix) => {
      const same = live.indexes.find((x) => x.unique === ix.unique && x.fields.join() === ix.fields.join())
      return { ...(same ? { name: same.name } : {}), fields: ix.fields, unique: ix.unique }
    }),
    rules: want.rules,
  }
}

/** A desired collection without its rename hints: what the live one looks like once they are applied. */
function withoutHints(c: SchemaCollection): SchemaCollection {
  const { renamedFrom: _, ...rest } = c
  return { ...rest, fields: c.fields.map(({ renamedFrom: _f, ...f }) => f) }
}
