import type { PushTopic } from '@bastide/protocol'
import { type Expression, type RawBuilder, type SqlBool, sql, type Transaction } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { AppError, errors } from '../../errors/index.ts'
import { type AdminActions, audited } from '../../events/admin-actions.ts'
import type { Principal } from '../auth/principal.ts'
import { USERS } from '../auth/users-collection.ts'
import type { CollectionsService } from '../collections/service.ts'
import { tableOf } from '../records/select.ts'
import type { Expr, Operand } from '../rules/ast.ts'
import { authorize } from '../rules/authorize.ts'
import { bind } from '../rules/bind.ts'
import { compileFilter, parseCached, ruleProblem } from '../rules/index.ts'

/** Names a JavaScript object treats specially: as a preferences map key `__proto__` would silently vanish. */
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype'])

/** A topic's name: also a message's `topic` and a preferences key. */
export const topicName = z
  .string()
  .regex(/^[a-z0-9_.-]{1,64}$/, '1-64 characters of a-z, 0-9, _, . and -.')
  .refine((n) => !RESERVED_NAMES.has(n), 'This name is reserved (__proto__, constructor, prototype).')

const subscribeRule = z
  .string()
  .max(1000)
  .nullable()
  .describe(
    'null: only admins subscribe devices; "": anyone; otherwise a rule over the caller’s `users` record (signed-in users only).',
  )

/** POST /api/admin/push/topics (PushTopicInput). */
export const pushTopicInput = z
  .object({
    name: topicName,
    description: z.string().trim().max(500).nullable().optional(),
    subscribeRule: subscribeRule.optional().describe('Default null: only admins subscribe devices.'),
  })
  .strict()

/** PATCH /api/admin/push/topics/:name. */
export const pushTopicPatch = pushTopicInput.omit({ name: true }).strict()

export type PushTopicData = z.infer<typeof pushTopicInput>
export type PushTopicPatchData = z.infer<typeof pushTopicPatch>

interface Row {
  name: string
  description: string | null
  subscribe_rule: string | null
  created: string
  updated: string
  subscribers?: number
}

export interface PushTopics {
  /** Every topic, with its subscriber count (admins). */
  list(): Promise<PushTopic[]>
  /** The topics devices may subscribe themselves to (rule not null), and which of them `device` is subscribed to. */
  listPublic(device: string | undefined): Promise<{ items: PushTopic[]; subscribed: string[] }>
  create(input: PushTopicData, actor: string): Promise<PushTopic>
  update(name: string, patch: PushTopicPatchData, actor: string): Promise<PushTopic>
  /** Its subscriptions go with it. */
  remove(name: string, actor: string): Promise<void>
  /** A device subscribing itself: the topic's rule decides (FORBIDDEN), NOT_FOUND for the topic or device. */
  subscribe(name: string, device: string, p: Principal): Promise<void>
  /** Always allowed to the device's holder; NOT_FOUND for an unknown topic. */
  unsubscribe(name: string, device: string): Promise<void>
  /** Admins: subscribes these devices (unknown ids skipped); the number now subscribed that were not. */
  subscribeDevices(name: string, devices: readonly string[]): Promise<number>
  unsubscribeDevices(name: string, devices: readonly string[]): Promise<number>
}

function toTopic(r: Row, withCount: boolean): PushTopic {
  return {
    name: r.name,
    description: r.description,
    subscribeRule: r.subscribe_rule,
    ...(withCount ? { subscribers: Number(r.subscribers ?? 0) } : {}),
    createdAt: r.created,
    updatedAt: r.updated,
  }
}

const audit = (t: PushTopic) => ({ description: t.description, subscribeRule: t.subscribeRule })

/**
 * Topics and the devices subscribed to them. A device subscribes itself when the topic's rule lets the caller: the
 * rule is the collections' rule language over the caller's own `users` row, checked in SQL.
 */
export function createPushTopics(deps: {
  readonly db: Db
  readonly collections: CollectionsService
  readonly actions?: AdminActions
}): PushTopics {
  const { db, collections } = deps
  const lookup = (n: string) => collections.find(n)

  async function row(name: string, trx: Db | Transaction<any> = db): Promise<Row> {
    const r = topicName.safeParse(name).success
      ? ((await trx
          .selectFrom('bastide.push_topics')
          .selectAll()
          .where('name', '=', name)
          .executeTakeFirst()) as Row | undefined)
      : undefined
    if (!r) throw errors.notFound('Topic')
    return r
  }

  function checkRule(rule: string | null | undefined): void {
    if (rule === null || rule === undefined || rule.trim() === '') return
    const users = collections.find(USERS)
    const problem = users ? ruleProblem(rule, users, lookup) : 'There is no users collection.'
    if (problem) throw errors.validation({ subscribeRule: { code: 'invalid_rule', message: problem } })
  }

  /** Whether `p` passes `rule` (not null, not empty): a signed-in user whose `users` row matches it. */
  async function passes(rule: string, p: Principal): Promise<boolean> {
    const users = collections.find(USERS)
    if (p.kind !== 'user' || !users) return false
    let d: ReturnType<typeof authorize>
    try {
      d = authorize(p, { rule, scope: 'push', schema: users, lookup, request: { method: 'POST' } })
    } catch (e) {
      // A rule that no longer binds (the schema changed under it) lets nobody in.
      if (e instanceof AppError) return false
      throw e
    }
    switch (d.kind) {
      case 'public':
      case 'bypass':
        return true
      case 'locked':
      case 'denied':
        return false
      case 'expression': {
        const r = await sql<{ ok: boolean }>`SELECT EXISTS (
            SELECT 1 FROM ${tableOf(users)} AS r WHERE r.id = ${p.id} AND ${d.predicate}
          ) AS ok`.execute(db)
        return r.rows[0]?.ok === true
      }
    }
  }

  /** The device's user id (null: anonymous), or undefined when there is no such device. */
  async function deviceOwner(id: string): Promise<string | null | undefined> {
    const r = await db
      .selectFrom('bastide.push_devices')
      .select('user_id')
      .where('id', '=', id)
      .executeTakeFirst()
    return r === undefined ? undefined : ((r.user_id as string | null) ?? null)
  }

  return {
    async list() {
      const rs = (await db
        .selectFrom('bastide.push_topics as t')
        .selectAll('t')
        .select(
          sql<number>`(SELECT count(*) FROM bastide.push_subscriptions s WHERE s.topic = t.name)::int`.as(
            'subscribers',
          ),
        )
        .orderBy('t.name')
        .execute()) as Row[]
      return rs.map((r) => toTopic(r, true))
    },
    async listPublic(device) {
      const rs = (await db
        .selectFrom('bastide.push_topics')
        .selectAll()
        .where('subscribe_rule', 'is not', null)
        .orderBy('name')
        .execute()) as Row[]
      const subscribed =
        device === undefined
          ? []
          : (
              await db
                .selectFrom('bastide.push_subscriptions')
                .select('topic')
                .where('device_id', '=', device)
                .orderBy('topic')
                .execute()
            ).map((r) => r.topic as string)
      return { items: rs.map((r) => toTopic(r, false)), subscribed }
    },
    async create(input, actor) {
      checkRule(input.subscribeRule)
      return audited(
        db,
        deps.actions,
        { actor, action: 'push.topic.create', target: input.name },
        async (trx) => {
          const r = (await trx
            .insertInto('bastide.push_topics')
            .values({
              name: input.name,
              description: input.description ?? null,
              subscribe_rule: input.subscribeRule ?? null,
            })
            .onConflict((oc) => oc.column('name').doNothing())
            .returningAll()
            .executeTakeFirst()) as Row | undefined
          if (!r) throw errors.conflict(`There is already a topic "${input.name}".`)
          const t = toTopic({ ...r, subscribers: 0 }, true)
          return { result: t, after: audit(t) }
        },
      )
    },
    async update(name, patch, actor) {
      checkRule(patch.subscribeRule)
      return audited(db, deps.actions, { actor, action: 'push.topic.update', target: name }, async (trx) => {
        const before = toTopic(await row(name, trx), false)
        await trx
          .updateTable('bastide.push_topics')
          .set({
            ...(patch.description !== undefined ? { description: patch.description } : {}),
            ...(patch.subscribeRule !== undefined ? { subscribe_rule: patch.subscribeRule } : {}),
            updated: sql`now()`,
          })
          .where('name', '=', name)
          .execute()
        const r = (await trx
          .selectFrom('bastide.push_topics as t')
          .selectAll('t')
          .select(
            sql<number>`(SELECT count(*) FROM bastide.push_subscriptions s WHERE s.topic = t.name)::int`.as(
              'subscribers',
            ),
          )
          .where('t.name', '=', name)
          .executeTakeFirstOrThrow()) as Row
        const after = toTopic(r, true)
        return { result: after, before: audit(before), after: audit(after) }
      })
    },
    async remove(name, actor) {
      await audited(db, deps.actions, { actor, action: 'push.topic.delete', target: name }, async (trx) => {
        const before = toTopic(await row(name, trx), false)
        await trx.deleteFrom('bastide.push_topics').where('name', '=', name).execute()
        return { result: undefined, before: audit(before) }
      })
    },
    async subscribe(name, device, p) {
      const t = await row(name)
      const rule = t.subscribe_rule
      if (rule === null) throw errors.forbidden('Only admins subscribe devices to this topic.')
      const ruled = rule.trim() !== ''
      if (ruled && !(await passes(rule, p))) throw errors.forbidden('You may not subscribe to this topic.')
      const owner = await deviceOwner(device)
      if (owner === undefined) throw errors.notFound('Device')
      // The rule speaks about the device's user, not about whoever holds its id: someone passing it may not
      // subscribe another user's (or an anonymous) device.
      if (ruled && (p.kind !== 'user' || owner !== p.id))
        throw errors.forbidden('Only the user signed in on this device may subscribe it to this topic.')
      await db
        .insertInto('bastide.push_subscriptions')
        .values({ topic: name, device_id: device })
        .onConflict((oc) => oc.doNothing())
        .execute()
    },
    async unsubscribe(name, device) {
      await row(name)
      await db
        .deleteFrom('bastide.push_subscriptions')
        .where('topic', '=', name)
        .where('device_id', '=', device)
        .execute()
    },
    async subscribeDevices(name, devices) {
      await row(name)
      if (devices.length === 0) return 0
      const r = await sql`INSERT INTO bastide.push_subscriptions (topic, device_id)
        SELECT ${name}, d.id FROM bastide.push_devices d WHERE d.id = ANY(${[...devices]}::text[])
        ON CONFLICT DO NOTHING`.execute(db)
      return Number(r.numAffectedRows ?? 0)
    },
    async unsubscribeDevices(name, devices) {
      await row(name)
      if (devices.length === 0) return 0
      const r = await db
        .deleteFrom('bastide.push_subscriptions')
        .where('topic', '=', name)
        .where('device_id', 'in', [...devices])
        .executeTakeFirst()
      return Number(r.numDeletedRows)
    },
  }
}

/** The alias of the users row inside a rule predicate (distinct from any alias a caller's statement uses). */
const RULE_USER = 'push_rule_user'

/**
 * `@request.auth.<field>` of a signed-in user is that user's own `users` row, which is the row a subscribe rule
 * reads: the macro becomes the field, so the rule can be checked for many users in one statement.
 */
function authAsRow(e: Expr): Expr {
  const operand = (o: Operand): Operand =>
    o.type === 'macro' && o.path.length === 3 && o.path[0] === 'request' && o.path[1] === 'auth'
      ? { type: 'field', path: [o.path[2]!], start: o.start, end: o.end }
      : o
  switch (e.type) {
    case 'and':
    case 'or':
      return { ...e, left: authAsRow(e.left), right: authAsRow(e.right) }
    case 'not':
      return { ...e, expr: authAsRow(e.expr) }
    case 'compare':
      return { ...e, left: operand(e.left), right: operand(e.right) }
  }
}

/**
 * For a topic send, the SQL condition a device's user must still meet for the device to receive it: the topic's
 * subscribe rule re-checked over the user's current `users` row (a role taken away, a rule tightened since the
 * subscription). `userId` is the device's user id column (e.g. sql.ref('d.user_id')); an anonymous device (null)
 * never passes. null when there is nothing to re-check: the rule is null (admins subscribed the devices) or ''
 * (anyone). A rule that no longer binds (the schema changed under it) lets nobody through (FALSE).
 */
export function topicRulePredicate(
  rule: string | null | undefined,
  userId: Expression<unknown>,
  collections: Pick<CollectionsService, 'find'>,
): RawBuilder<SqlBool> | null {
  if (rule === null || rule === undefined || rule.trim() === '') return null
  const users = collections.find(USERS)
  if (!users) return sql<SqlBool>`FALSE`
  const lookup = (n: string) => collections.find(n)
  let predicate: RawBuilder<SqlBool>
  try {
    const bound = bind(authAsRow(parseCached(rule)), {
      collection: users,
      lookup,
      request: { method: 'POST', auth: null },
      restricted: false,
      parse: parseCached,
    })
    if (bound.kind === 'const') predicate = bound.value ? sql<SqlBool>`TRUE` : sql<SqlBool>`FALSE`
    else predicate = compileFilter(bound, RULE_USER)
  } catch (e) {
    if (e instanceof AppError) return sql<SqlBool>`FALSE`
    throw e
  }
  return sql<SqlBool>`EXISTS (SELECT 1 FROM ${tableOf(users)} AS ${sql.id(RULE_USER)}
    WHERE ${sql.id(RULE_USER)}.id = ${userId} AND ${predicate})`
}

/** topicRulePredicate for the topic named `topic` (its current rule read here); null for an unknown topic too. */
export async function topicRuleFilter(
  db: Db | Transaction<any>,
  topic: string,
  userId: Expression<unknown>,
  collections: Pick<CollectionsService, 'find'>,
): Promise<RawBuilder<SqlBool> | null> {
  const r = await db
    .selectFrom('bastide.push_topics')
    .select('subscribe_rule')
    .where('name', '=', topic)
    .executeTakeFirst()
  return r ? topicRulePredicate(r.subscribe_rule as string | null, userId, collections) : null
}
