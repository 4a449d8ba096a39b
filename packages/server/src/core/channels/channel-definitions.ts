import { sql, type Transaction } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { errors, parseInput } from '../../errors/index.ts'
import { type AdminActions, audited, diffOf } from '../../events/admin-actions.ts'
import type { Principal } from '../auth/principal.ts'
import type { Collection } from '../collections/types.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { authorize, type Decision } from '../rules/authorize.ts'
import { ruleProblem } from '../rules/index.ts'
import { rowRelation } from '../rules/row-relation.ts'
import {
  CHANNEL_PATTERN,
  CHANNEL_SCHEMA,
  type ChannelDefinition,
  type ChannelRules,
  KEY_SCOPES,
} from './channel-schema.ts'

/** Channel definitions, rows of bastide.channels: which pattern of channel names, who may join and send. */
const rule = z.string().max(2000).nullable()
const rulesInput = z.strictObject({ join: rule.optional(), send: rule.optional() })
export const definitionInput = z.strictObject({
  pattern: z.string().regex(CHANNEL_PATTERN, 'Letters, digits and :_./-, up to 200, optionally ending in *.'),
  rules: rulesInput.default({}),
  presence: z.boolean().default(true),
})
export const definitionPatch = z
  .strictObject({
    pattern: definitionInput.shape.pattern,
    rules: rulesInput,
    presence: z.boolean(),
  })
  .partial()

type Row = Omit<ChannelDefinition, 'rules'> & { rules: Partial<ChannelRules> }

const toDefinition = (r: Row): ChannelDefinition =>
  Object.freeze({
    id: r.id,
    pattern: r.pattern,
    rules: Object.freeze({ join: r.rules.join ?? null, send: r.rules.send ?? null }),
    presence: r.presence,
    created: r.created,
    updated: r.updated,
  })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * A change made inside a larger transaction (schema push): written with `trx`, its rules checked against that
 * transaction's catalog; it commits or rolls back with the rest.
 */
export interface WithinTransaction {
  readonly trx: Transaction<any>
  readonly lookup: (name: string) => Collection | undefined
}

export interface ChannelDefinitions {
  /** `within`: as that transaction sees them. */
  list(within?: Pick<WithinTransaction, 'trx'>): Promise<ChannelDefinition[]>
  get(id: string): Promise<ChannelDefinition>
  /** `actor`: principalId of who does it (the audit log). */
  create(input: unknown, actor: string, within?: WithinTransaction): Promise<ChannelDefinition>
  update(id: string, patch: unknown, actor: string, within?: WithinTransaction): Promise<ChannelDefinition>
  remove(id: string, actor: string, within?: WithinTransaction): Promise<void>
  /** The definition that governs channel `name`: an exact pattern, else the longest matching prefix. */
  match(name: string): Promise<ChannelDefinition | undefined>
  /** May `p` join (or send on) channel `name` under `def`? One query when the rule needs the database. */
  allows(
    def: ChannelDefinition | undefined,
    action: keyof ChannelRules,
    name: string,
    p: Principal,
  ): Promise<boolean>
}

export function createChannelDefinitions(deps: {
  readonly db: Db
  readonly lookup: (name: string) => Collection | undefined
  /** Definition changes are admin actions, recorded in their transaction (the audit log). */
  readonly actions?: AdminActions
}): ChannelDefinitions {
  const { db, lookup } = deps

  const checkRules = (rules: ChannelRules, lookupIn = lookup) => {
    const fields: Record<string, { code: string; message: string }> = {}
    for (const a of ['join', 'send'] as const) {
      const src = rules[a]
      if (src === null || src.trim() === '') continue
      const problem = ruleProblem(src, CHANNEL_SCHEMA, lookupIn)
      if (problem) fields[`rules.${a}`] = { code: 'invalid_rule', message: problem }
    }
    if (Object.keys(fields).length) throw errors.validation(fields)
  }
  /** The change and its audit entry, in one transaction (the caller's, when `within` is given). */
  const change = async <T>(
    what: { actor: string; action: string; target: string },
    fn: (trx: Transaction<any>) => Promise<{ result: T; before?: object; after?: object }>,
    within?: WithinTransaction,
  ): Promise<T> => {
    if (!within) return audited(db, deps.actions, what, fn)
    const { result, before, after } = await fn(within.trx)
    await deps.actions?.record(within.trx, { ...what, diff: diffOf(before, after) })
    return result
  }
  const getIn = async (id: string, ex: Db | Transaction<any>) => {
    const row = UUID.test(id)
      ? (await sql<Row>`SELECT * FROM bastide.channels WHERE id = ${id}::uuid`.execute(ex)).rows[0]
      : undefined
    if (!row) throw errors.notFound('Channel definition')
    return toDefinition(row)
  }
  const duplicate = (pattern: string) => (err: { code?: string }) => {
    if (err.code === '23505') throw errors.conflict(`A channel definition for ${pattern} already exists.`)
    throw err
  }

  return {
    async list(within) {
      return (
        await sql<Row>`SELECT * FROM bastide.channels ORDER BY pattern`.execute(within?.trx ?? db)
      ).rows.map(toDefinition)
    },
    get: (id) => getIn(id, db),
    async create(input, actor, within) {
      const v = parseInput(definitionInput, input)
      // A rule left out is locked, as for collections and buckets.
      const rules: ChannelRules = { join: v.rules.join ?? null, send: v.rules.send ?? null }
      checkRules(rules, within?.lookup)
      const id = uuidv7()
      return change(
        { actor, action: 'channel.create', target: id },
        async (trx) => {
          const res = await sql<Row>`
          INSERT INTO bastide.channels (id, pattern, rules, presence)
          VALUES (${id}::uuid, ${v.pattern}, ${JSON.stringify(rules)}::jsonb, ${v.presence})
          RETURNING *`
            .execute(trx)
            .catch(duplicate(v.pattern))
          const after = toDefinition(res.rows[0] as Row)
          return { result: after, after }
        },
        within,
      )
    },
    async update(id, patch, actor, within) {
      const current = await getIn(id, within?.trx ?? db)
      const v = parseInput(definitionPatch, patch)
      const rules: ChannelRules = { ...current.rules, ...(v.rules ?? {}) } as ChannelRules
      checkRules(rules, within?.lookup)
      const pattern = v.pattern ?? current.pattern
      return change(
        { actor, action: 'channel.update', target: current.id },
        async (trx) => {
          const res = await sql<Row>`
          UPDATE bastide.channels SET pattern = ${pattern}, rules = ${JSON.stringify(rules)}::jsonb,
            presence = ${v.presence ?? current.presence}, updated = now()
          WHERE id = ${current.id}::uuid RETURNING *`
            .execute(trx)
            .catch(duplicate(pattern))
          if (!res.rows[0]) throw errors.notFound('Channel definition')
          const after = toDefinition(res.rows[0])
          return { result: after, before: current, after }
        },
        within,
      )
    },
    async remove(id, actor, within) {
      const current = await getIn(id, within?.trx ?? db)
      await change(
        { actor, action: 'channel.delete', target: current.id },
        async (trx) => {
          await sql`DELETE FROM bastide.channels WHERE id = ${current.id}::uuid`.execute(trx)
          return { result: undefined, before: current }
        },
        within,
      )
    },
    async match(name) {
      const res = await sql<Row>`SELECT * FROM bastide.channels
        WHERE pattern = ${name} OR (right(pattern, 1) = '*' AND starts_with(${name}, left(pattern, -1)))
        ORDER BY (pattern = ${name}) DESC, length(pattern) DESC LIMIT 1`.execute(db)
      return res.rows[0] ? toDefinition(res.rows[0]) : undefined
    },
    async allows(def, action, name, p) {
      let d: Decision
      try {
        d = authorize(p, {
          rule: def?.rules[action],
          scope: KEY_SCOPES[action],
          schema: CHANNEL_SCHEMA,
          lookup,
        })
      } catch {
        // A key outside its scopes; or a rule that no longer binds (a collection it names was deleted or
        // changed): locked until fixed.
        return false
      }
      if (d.kind !== 'expression') return d.kind === 'bypass' || d.kind === 'public'
      const pattern = def!.pattern
      const param = pattern.endsWith('*') ? name.slice(pattern.length - 1) : ''
      const row = rowRelation(CHANNEL_SCHEMA, { name, param })
      const res = await sql<{ ok: boolean }>`SELECT (${d.predicate}) AS ok FROM (${row}) AS r`.execute(db)
      return res.rows[0]?.ok === true
    },
  }
}
