import { randomUUID } from 'node:crypto'
import { sql, type Transaction } from 'kysely'
import type pg from 'pg'
import type { Db } from '../../db/create-db.ts'
import { allowLongStatements, inTransaction, type Tx } from '../../db/transaction.ts'
import { AppError, errors, fromPgError } from '../../errors/index.ts'
import { type AdminActions, diffOf } from '../../events/admin-actions.ts'
import type { EventBus } from '../../events/bus.ts'
import { ruleProblem } from '../rules/index.ts'
import { planCreate, planDrop, planUpdate } from './ddl.ts'
import { type DefineContext, defineCollection } from './define.ts'
import { type Collection, RULE_ACTIONS } from './types.ts'

const SCHEMA_CHANNEL = 'bastide_schema'
const SCHEMA_LOCK = 7261536844

export interface CollectionsService {
  list(): readonly Collection[]
  find(name: string): Collection | undefined
  get(name: string): Collection
  create(input: unknown, actor: string): Promise<Collection>
  update(name: string, patch: unknown, actor: string): Promise<Collection>
  remove(name: string, actor: string): Promise<void>
  /**
   * Several schema changes in ONE transaction, under the schema lock (schema push, migrations): `work` gets a
   * session whose changes see each other; rules are checked once, against the final catalog, so that changes
   * may come in any order. Other work done with `session.trx` (buckets, channels, a migration's record) commits
   * or rolls back with them. Events fire and the cache is updated only after commit.
   */
  batch<T>(actor: string, work: (session: SchemaSession) => Promise<T>): Promise<T>
  /** Re-reads the catalog (another node changed it, or the database came back). */
  reload(): Promise<void>
  /** Follows schema changes made by other nodes; returns a stop function. */
  listen(pool: pg.Pool, onError: (e: unknown) => void): Promise<() => Promise<void>>
}

/** One transaction's view of the schema (see CollectionsService.batch). */
export interface SchemaSession {
  /** The transaction: other schema objects (buckets, channels) written with it commit with the collections. */
  readonly trx: Transaction<any>
  /** The catalog as this transaction has changed it so far. */
  catalog(): ReadonlyMap<string, Collection>
  /** The SQL its collection changes ran so far, in order (as recorded in the schema history). */
  statements(): readonly string[]
  create(input: unknown): Promise<Collection>
  update(name: string, patch: unknown): Promise<Collection>
  remove(name: string): Promise<void>
}

type Planned = { before?: Collection; after?: Collection; stmts: ReturnType<typeof planCreate> }

export async function createCollectionsService(deps: {
  db: Db
  bus: EventBus
  /** Told after every catalog change, made here or read back after another node's (prepared statements). */
  onSchemaChange?: () => void
  /** Every change is an admin action, recorded in its transaction (the audit log). */
  actions?: AdminActions
}): Promise<CollectionsService> {
  const { db, bus } = deps
  let byName = new Map<string, Collection>()
  /** Tags this process's NOTIFYs so it does not reload after its own changes. */
  const nodeId = randomUUID()

  const readAll = async (executor: Db | any = db): Promise<Collection[]> => {
    const rows = await executor
      .selectFrom('bastide.collections')
      .selectAll()
      .orderBy('created')
      .orderBy('name')
      .execute()
    return rows.map(rowToCollection)
  }
  const reload = async () => {
    byName = new Map((await readAll()).map((c) => [c.name, c]))
    deps.onSchemaChange?.()
  }
  await reload()

  const ctxFor = (all: Map<string, Collection>) => ({
    lookup: (n: string) => all.get(n),
    checkRule: (rule: string, c: Collection) => ruleProblem(rule, c, (n) => all.get(n)),
  })

  /** Opens the schema transaction: the schema lock, then the catalog as committed, not as cached. */
  async function locked<T>(
    work: (tx: Tx, all: Map<string, Collection>, done: (events: Planned[]) => void) => Promise<T>,
  ): Promise<T> {
    try {
      return await inTransaction(db, async (tx) => {
        // DDL on a large table (an index, a new constraint) may outlast a request's statement timeout.
        await allowLongStatements(tx.db)
        await sql`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`.execute(tx.db)
        const all = new Map((await readAll(tx.db)).map((c) => [c.name, c]))
        return work(tx, all, (changes) => {
          if (changes.length === 0) return
          // This node's cache and the events follow the commit, in the order of the changes.
          tx.afterCommit(() => {
            byName = new Map(all)
            deps.onSchemaChange?.()
            const at = new Date().toISOString()
            for (const { before, after } of changes) {
              if (before && after) bus.emit('collection.updated', { collection: after, previous: before, at })
              else if (after) bus.emit('collection.created', { collection: after, at })
              else bus.emit('collection.deleted', { collection: before!, at })
            }
          })
        })
      })
    } catch (err) {
      throw mapSchemaError(err)
    }
  }

  /**
   * Runs one planned change inside the schema transaction: DDL, catalog row, history, audit, NOTIFY; updates `all`.
   * Returns the SQL it ran.
   */
  async function perform(tx: Tx, all: Map<string, Collection>, planned: Planned, actor: string) {
    const { before, after, stmts } = planned
    await assertBucketsExist(tx.db, after)
    // PostgreSQL compiles a CHECK's regular expression only when a row is checked: try each pattern now
    // (as a bound parameter), so that a pattern it cannot read fails here and not on every insert.
    for (const f of after?.fields ?? []) {
      if (f.options.pattern !== undefined) await sql`SELECT '' ~ ${f.options.pattern}`.execute(tx.db)
    }
    const texts: string[] = []
    for (const s of stmts) {
      texts.push(s.compile(tx.db).sql)
      await s.execute(tx.db)
    }
    if (after && before) {
      await tx.db
        .updateTable('bastide.collections')
        .set(collectionRow(after))
        .where('id', '=', after.id)
        .execute()
    } else if (after) {
      await tx.db
        .insertInto('bastide.collections')
        .values({ id: after.id, ...collectionRow(after), created: after.created })
        .execute()
    } else if (before) {
      await tx.db.deleteFrom('bastide.collections').where('id', '=', before.id).execute()
    }
    const action = before && after ? 'update' : after ? 'create' : 'delete'
    await tx.db
      .insertInto('bastide.schema_history')
      .values({
        actor,
        action,
        collection: (after ?? before)!.name,
        before: before ? JSON.stringify(before) : null,
        after: after ? JSON.stringify(after) : null,
        statements: JSON.stringify(texts),
      })
      .execute()
    await deps.actions?.record(tx.db, {
      actor,
      action: `collection.${action}`,
      target: (after ?? before)!.name,
      diff: diffOf(before, after),
    })
    // NOTIFY is transactional: other nodes hear it only if this commits.
    await sql`SELECT pg_notify(${SCHEMA_CHANNEL}, ${`${nodeId} ${(after ?? before)!.name}`})`.execute(tx.db)
    if (before) all.delete(before.name)
    if (after) all.set(after.name, after)
    return texts
  }

  /** Runs a schema change under the schema lock against the catalog as committed, not as cached. */
  async function change(fn: (all: Map<string, Collection>) => Planned, actor: string) {
    return locked(async (tx, all, done) => {
      const planned = fn(all)
      assertOtherRulesHold(all, planned.before, planned.after)
      await perform(tx, all, planned, actor)
      done([planned])
      return planned.after
    })
  }

  const planners = (ctx: DefineContext) => ({
    create(all: Map<string, Collection>, input: unknown): Planned {
      const after = defineCollection(input, ctx)
      if (all.has(after.name)) throw errors.conflict('A collection with this name already exists.')
      return { after, stmts: planCreate(after) }
    },
    update(all: Map<string, Collection>, name: string, patch: unknown): Planned {
      const before = all.get(name)
      if (!before) throw errors.notFound('Collection')
      const after = defineCollection(patch, ctx, before)
      if (after.name !== before.name && all.has(after.name))
        throw errors.conflict('A collection with this name already exists.')
      if (after.name !== before.name) {
        const refs = referencing(all, before.name).filter((r) => r.name !== before.name)
        if (refs.length) {
          throw errors.conflict('Other collections relate to this one; it cannot be renamed yet.', {
            referencedBy: refs.map((r) => r.name),
          })
        }
      }
      return { before, after, stmts: planUpdate(before, after) }
    },
    remove(all: Map<string, Collection>, name: string): Planned {
      const before = all.get(name)
      if (!before) throw errors.notFound('Collection')
      if (before.system) throw errors.conflict(`The built-in '${name}' collection cannot be deleted.`)
      const refs = referencing(all, name).filter((r) => r.name !== name)
      if (refs.length) {
        throw errors.conflict('Other collections relate to this one; remove those relation fields first.', {
          referencedBy: refs.map((r) => r.name),
        })
      }
      return { before, stmts: planDrop(before) }
    },
  })

  return {
    list: () => [...byName.values()],
    find: (name) => byName.get(name),
    get(name) {
      const c = byName.get(name)
      if (!c) throw errors.notFound('Collection')
      return c
    },
    async create(input, actor) {
      return (await change((all) => planners(ctxFor(all)).create(all, input), actor))!
    },
    async update(name, patch, actor) {
      return (await change((all) => planners(ctxFor(all)).update(all, name, patch), actor))!
    },
    async remove(name, actor) {
      await change((all) => planners(ctxFor(all)).remove(all, name), actor)
    },
    batch(actor, work) {
      return locked(async (tx, all, done) => {
        // Rules are checked once at the end: a rule may name a collection or field a later change adds.
        const plan = planners({ lookup: (n) => all.get(n), checkRule: () => undefined })
        const changes: Planned[] = []
        const statements: string[] = []
        const run = async (planned: Planned) => {
          statements.push(...(await perform(tx, all, planned, actor)))
          changes.push(planned)
          return planned.after
        }
        const session: SchemaSession = {
          trx: tx.db as Transaction<any>,
          catalog: () => all,
          statements: () => statements,
          create: async (input) => (await run(plan.create(all, input)))!,
          update: async (name, patch) => (await run(plan.update(all, name, patch)))!,
          remove: async (name) => {
            await run(plan.remove(all, name))
          },
        }
        const result = await work(session)
        if (changes.length > 0) assertRulesHold(all)
        done(changes)
        return result
      })
    },
    reload,
    async listen(pool, onError) {
      let client: pg.PoolClient | undefined
      let stopped = false
      let timer: NodeJS.Timeout | undefined
      // Drops `c` once, however many errors it emits (a lost server gives 57P01 then a closed socket), and
      // schedules a single reconnection: never two loops, never a second release of the same client.
      const drop = (c: pg.PoolClient | undefined) => {
        if (c && c === client) {
          client = undefined
          c.release(true)
        }
        if (!stopped && !client && !timer) {
          timer = setTimeout(() => {
            timer = undefined
            void connect()
          }, 1000)
        }
      }
      const connect = async () => {
        let c: pg.PoolClient | undefined
        try {
          c = await pool.connect()
          if (stopped) {
            c.release(true)
            return
          }
          client = c
          const mine = c
          mine.on('notification', (n) => {
            // Our own changes are already applied (after commit); only other nodes' need a reload.
            if (!n.payload?.startsWith(`${nodeId} `)) void reload().catch(onError)
          })
          mine.on('error', (e) => {
            onError(e)
            drop(mine)
          })
          await mine.query(`LISTEN ${SCHEMA_CHANNEL}`)
          // Whatever changed while we were not listening.
          await reload()
        } catch (e) {
          onError(e)
          drop(c)
        }
      }
      await connect()
      return async () => {
        stopped = true
        clearTimeout(timer)
        const c = client
        client = undefined
        c?.release(true)
      }
    },
  }
}

/** Rules of other collections may name this one (relations, back-relations, @collection): they must still bind. */
function assertOtherRulesHold(all: Map<string, Collection>, before?: Collection, after?: Collection): void {
  const next = new Map(all)
  if (before) next.delete(before.name)
  if (after) next.set(after.name, after)
  assertRulesHold(next, after?.name)
}

/** Every rule of every collection (but `skip`, checked by defineCollection) binds in `all`. */
function assertRulesHold(all: ReadonlyMap<string, Collection>, skip?: string): void {
  const next = all
  const broken: { collection: string; rule: string; problem: string }[] = []
  for (const c of next.values()) {
    if (c.name === skip) continue
    for (const action of RULE_ACTIONS) {
      const rule = c.rules[action]
      if (rule === null || rule.trim() === '') continue
      const problem = ruleProblem(rule, c, (n) => next.get(n))
      if (problem) broken.push({ collection: c.name, rule: action, problem })
    }
  }
  if (broken.length > 0) {
    throw errors.conflict('This change would break rules of other collections; change those rules first.', {
      brokenRules: broken,
    })
  }
}

/**
 * File fields name existing buckets. The rows are locked until commit (FOR SHARE), so a bucket cannot be
 * deleted or renamed (see buckets.ts, which refuses while a file field names it) under a field being added.
 */
async function assertBucketsExist(executor: any, after?: Collection): Promise<void> {
  const files = (after?.fields ?? []).flatMap((f, i) =>
    f.type === 'file' && f.options.bucket ? [{ i, bucket: f.options.bucket }] : [],
  )
  if (files.length === 0) return
  const names = [...new Set(files.map((f) => f.bucket))]
  const res = await sql<{
    name: string
  }>`SELECT name FROM bastide.buckets WHERE name = ANY(${names}::text[]) FOR SHARE`.execute(executor)
  const found = new Set(res.rows.map((r) => r.name))
  const issues = files
    .filter((f) => !found.has(f.bucket))
    .map((f) => ({ path: `fields.${f.i}.options.bucket`, message: `Bucket '${f.bucket}' does not exist.` }))
  if (issues.length > 0) throw errors.invalidSchema('The collection definition is invalid.', { issues })
}

/** A failed schema transaction as the client sees it: nothing changed, and why. */
function mapSchemaError(err: unknown): unknown {
  if (err instanceof AppError) return err
  const mapped = fromPgError(err)
  if (mapped?.code === 'UNAVAILABLE') return mapped
  const e = err as { code?: string; message?: string }
  if (e.code === '42P07' || (e.code === '23505' && /collections_name/.test(e.message ?? ''))) {
    return errors.conflict('A collection with this name already exists.')
  }
  if (e.code === '2201B') {
    // JavaScript accepted the pattern, PostgreSQL's regular expressions did not.
    return errors.invalidSchema('A pattern is not a valid PostgreSQL regular expression.', {
      reason: e.message,
    })
  }
  if (e.code && /^(22|23|42|2B)/.test(e.code)) {
    // Existing rows do not fit the new definition (NOT NULL, UNIQUE, CHECK, cast): nothing changed.
    return errors.conflict('Existing records do not fit the new definition; nothing was changed.', {
      reason: e.message,
    })
  }
  return err
}

function referencing(all: Map<string, Collection>, name: string): Collection[] {
  return [...all.values()].filter((c) =>
    c.fields.some((f) => f.type === 'relation' && f.options.collection === name),
  )
}

function collectionRow(c: Collection) {
  return {
    name: c.name,
    fields: JSON.stringify(c.fields),
    indexes: JSON.stringify(c.indexes),
    rules: JSON.stringify(c.rules),
    updated: c.updated,
  }
}

function rowToCollection(r: any): Collection {
  return {
    id: r.id,
    name: r.name,
    fields: r.fields,
    indexes: r.indexes,
    rules: r.rules,
    ...(r.system ? { system: true } : {}),
    created: r.created,
    updated: r.updated,
  }
}
