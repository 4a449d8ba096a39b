import type { RecordEvent } from '@bastide/protocol'
import { type RawBuilder, sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { autocommit, inTransaction, type Tx } from '../../db/transaction.ts'
import { type AppError, errors } from '../../errors/index.ts'
import { RECORD_EVENT_BY_ACTION, type RecordAction } from '../../events/catalog.ts'
import { linkTable } from '../collections/tables.ts'
import type { Collection, Field } from '../collections/types.ts'
import { type Decision, deniesAll, predicateOf } from '../rules/authorize.ts'
import { rowRelation } from '../rules/row-relation.ts'
import { isUuid } from '../rules/values.ts'
import { applyOnDelete, dependentsOf } from './cascade.ts'
import { compileStatement, decisionShape, runStatement, ShapeCache, type Statement } from './compiled-sql.ts'
import { checkAttached, diffKeys, fileFields, keysOf, mergeUploads, releaseKeys } from './file-fields.ts'
import { mapRecordError } from './map-record-error.ts'
import type { ReadShaped } from './read-records.ts'
import type { RecordsContext } from './record-access.ts'
import { selectList, shapeRecord, tableOf } from './select.ts'
import type { Rec, RecordsService } from './service.ts'
import { uuidv7 } from './uuidv7.ts'
import { validateInput } from './validate.ts'

/**
 * The write side of the records service: create, update and delete, each one statement (or one transaction
 * when it takes several), the rule ANDed into it, events emitted after commit only.
 */
export function createRecordWriter(
  ctx: RecordsContext,
  readShaped: ReadShaped,
): Pick<RecordsService, 'create' | 'update' | 'remove'> {
  const { db, collections, bus, access, outbox } = ctx

  /** Whether a module subscribed to this change durably (then the write is a transaction that enqueues it). */
  const durable = (c: Collection, action: RecordAction) => outbox?.wants(c.name, action) ?? false

  function emit(u: Unit, action: RecordAction, c: Collection, row: Rec, before?: Rec) {
    const { _seq, ...rec } = row
    // Events carry the whole record, hidden fields included: consumers are server-side and filter per audience.
    const record = Object.freeze(shapeRecord(c, rec, true))
    u.tx.afterCommit(() =>
      bus.emit(RECORD_EVENT_BY_ACTION[action], {
        seq: Number(_seq),
        action,
        collection: c.name,
        record,
        at: new Date().toISOString(),
      }),
    )
    if (!durable(c, action)) return
    const { _seq: _, ...old } = before ?? {}
    u.events.push({
      seq: Number(_seq),
      action,
      collection: c.name,
      record,
      ...(before ? { previous: Object.freeze(shapeRecord(c, old, true)) } : {}),
      at: new Date().toISOString(),
    })
  }

  /**
   * Runs a write: in the caller's transaction, in a new one when it takes several statements (or its changes
   * are subscribed to durably), or alone. Durable events are enqueued in that transaction, at its end.
   */
  async function write<T>(
    single: boolean,
    outer: Tx | undefined,
    c: Collection,
    seeHidden: boolean,
    fn: (u: Unit) => Promise<T>,
  ): Promise<T> {
    const run = async (tx: Tx) => {
      const u: Unit = { tx, events: [] }
      const out = await fn(u)
      if (u.events.length) await outbox!.enqueue(tx, u.events)
      return out
    }
    try {
      if (outer || !single) return await inTransaction(db, run, outer)
      const tx = autocommit(db)
      const out = await run(tx)
      tx.commit()
      return out
    } catch (err) {
      throw mapRecordError(err, c, seeHidden)
    }
  }

  return {
    async create(name, rawBody, p, o = {}) {
      const c = collections.get(name)
      const files = ctx.files ? fileFields(c) : []
      const body = files.length ? mergeUploads(c, rawBody, o.uploads, false).body : rawBody
      // Access first: a caller who may not write learns nothing about the schema from validation errors.
      const a = access(c, 'create', p, {
        method: 'POST',
        body: asObject(body),
        ...(o.query ? { query: o.query } : {}),
      })
      const bypass = a.kind === 'bypass'
      const denied = () => errors.forbidden(`You are not allowed to create this ${c.name} record.`)
      if (deniesAll(a)) throw denied()
      if (c.system) {
        // A user without credentials could never sign in: accounts come from /api/auth or the admin API.
        throw errors.forbidden(`${c.name} records are created through /api/auth or /api/admin/users.`)
      }
      const input = validateInput(c, body, false, bypass)
      const id = input.id ?? uuidv7()
      const rule = a.kind === 'expression' ? a.predicate : undefined
      const attaching = files.some((f) => keysOf(input.columns[f.name]).length > 0)
      const single = !rule && input.links.size === 0 && !attaching && !durable(c, 'create')
      const cols = Object.keys(input.columns)
      const insertStatement = inserts.get(c, cols.join(','), () => compileInsert(db, c, cols))
      const row = await write(single, o.tx, c, bypass, async (u) => {
        const { tx } = u
        const insert = () =>
          runStatement<Rec>(tx.db, insertStatement, [id, ...cols.map((k) => input.columns[k])])
        let res: { rows: Rec[] }
        if (!rule) res = await insert()
        else {
          // A constraint error (unique value, missing relation, duplicate id) must not answer before the create
          // rule does, or a denied caller could probe which values exist: on one, the rule decides on the
          // would-be row, and only an allowed caller sees the error.
          await sql`SAVEPOINT bst_create`.execute(tx.db)
          try {
            res = await insert()
          } catch (err) {
            if (!/^23/.test((err as { code?: string }).code ?? '')) throw err
            await sql`ROLLBACK TO SAVEPOINT bst_create`.execute(tx.db)
            const candidate = rowRelation(c, { ...input.columns, id })
            const ok = await sql<{ ok: boolean }>`SELECT (${rule}) AS ok FROM (${candidate}) AS r`.execute(
              tx.db,
            )
            if (!ok.rows[0]?.ok) throw denied()
            throw err
          }
        }
        const inserted = res.rows[0]!
        for (const [f, ids] of input.links) {
          await writeLinks(tx, f, id, ids, false)
          inserted[f.name] = ids
        }
        if (rule) {
          // The would-be record (links included) must satisfy the create rule, or the whole write rolls back.
          const ok = await sql<{
            ok: boolean
          }>`SELECT (${rule}) AS ok FROM ${tableOf(c)} AS r WHERE r.id = ${id}::uuid`.execute(tx.db)
          if (!ok.rows[0]?.ok) throw denied()
        }
        // Only once the rule has allowed the write: a denied caller learns nothing about objects.
        if (attaching)
          await checkAttached(ctx.files!, diffKeys(files, undefined, inserted).added, o.uploads, p)
        emit(u, 'create', c, inserted)
        return inserted
      })
      delete row._seq
      return (await readShaped(c, [row], p, bypass, o, o.tx?.db))[0]!
    },

    async update(name, id, rawBody, p, o = {}) {
      const c = collections.get(name)
      const files = ctx.files ? fileFields(c) : []
      const merged = files.length ? mergeUploads(c, rawBody, o.uploads, true) : undefined
      const body = merged ? merged.body : rawBody
      const append = merged?.append ?? new Map<Field, string[]>()
      const a = access(c, 'update', p, {
        method: 'PATCH',
        body: asObject(body),
        ...(o.query ? { query: o.query } : {}),
      })
      const bypass = a.kind === 'bypass'
      // 404 before validation: a caller who may not update learns nothing, not even the schema.
      if (!isUuid(id) || deniesAll(a)) throw errors.notFound('Record')
      const input = validateInput(c, body, true, bypass)
      const expected = o.ifMatch ?? input.version
      const touched = files.filter((f) => Object.hasOwn(input.columns, f.name) || append.has(f))
      const withPrevious = durable(c, 'update')
      const single = input.links.size === 0 && touched.length === 0 && !withPrevious
      const cols = Object.keys(input.columns)
      const appended = [...append.keys()]
      const shape = updateShape(a, expected !== undefined, withPrevious, cols, appended)
      const plan = updates.get(c, shape, () =>
        compileUpdate(db, c, predicateOf(a), {
          cols,
          appended,
          versioned: expected !== undefined,
          withPrevious,
        }),
      )
      const values = [
        id,
        expected,
        ...cols.map((k) => input.columns[k]),
        ...appended.map((f) => append.get(f)),
      ]
      const row = await write(single, o.tx, c, bypass, async (u) => {
        const { tx } = u
        // The keys before the change, locked with the row: those the change lets go of are deleted with it.
        const before = touched.length
          ? (
              await sql<Rec>`SELECT ${sql.join(touched.map((f) => sql.ref(`r.${f.name}`)))} FROM ${tableOf(c)} AS r
                WHERE r.id = ${id}::uuid FOR UPDATE`.execute(tx.db)
            ).rows[0]
          : undefined
        // The record as it was, for a durable subscriber: locked, under the same conditions as the update.
        const previous = plan.previous
          ? (await runStatement<Rec>(tx.db, plan.previous, values)).rows[0]
          : undefined
        const res = await runStatement<Rec>(tx.db, plan.update, values)
        const updated = res.rows[0]
        if (!updated) throw await whyNoRow(tx, c, id, a, expected)
        for (const [f, ids] of input.links) {
          await writeLinks(tx, f, id, ids, true)
          updated[f.name] = ids
        }
        if (touched.length) {
          const { added, removed } = diffKeys(touched, before, updated)
          await checkAttached(ctx.files!, added, o.uploads, p)
          await releaseKeys(ctx.files!, tx, removed)
        }
        emit(u, 'update', c, updated, previous)
        return updated
      })
      delete row._seq
      return (await readShaped(c, [row], p, bypass, o, o.tx?.db))[0]!
    },

    async remove(name, id, p, o = {}) {
      const c = collections.get(name)
      const a = access(c, 'delete', p, { method: 'DELETE', ...(o.query ? { query: o.query } : {}) })
      if (!isUuid(id)) throw errors.notFound('Record')
      const all = collections.list()
      const hasDependents = dependentsOf(all, c.name).some((d) => d.f.options.onDelete !== 'restrict')
      const hasFiles = ctx.files !== undefined && fileFields(c).length > 0
      const single = !hasDependents && !hasFiles && !durable(c, 'delete')
      await write(single, o.tx, c, a.kind === 'bypass', async (u) => {
        const { tx } = u
        /** Records deleted by this write (cascades included): their files go with them. */
        const gone: [Collection, Rec][] = []
        const conds = [sql`r.id = ${id}::uuid`]
        const rule = predicateOf(a)
        if (rule) conds.push(rule)
        if (o.ifMatch !== undefined) conds.push(sql`r.version = ${o.ifMatch}`)
        const guard = sql.join(conds, sql` AND `)
        if (hasDependents) {
          // Allowed and present (locked until commit)? Then the relations' on-delete actions run first.
          const ok = await sql`SELECT 1 FROM ${tableOf(c)} AS r WHERE ${guard} FOR UPDATE`.execute(tx.db)
          if (ok.rows.length === 0) throw await whyNoRow(tx, c, id, a, o.ifMatch)
          await applyOnDelete(tx, all, c, [id], {
            emit(action, dc, row, before) {
              emit(u, action, dc, row, before)
              if (action === 'delete') gone.push([dc, row])
            },
            wantsPrevious: (dc) => durable(dc, 'update'),
          })
        }
        // Checked and locked above when there are dependents: the on-delete actions may have changed what the
        // rule or the version read, so the row is deleted by id.
        const where = hasDependents ? sql`r.id = ${id}::uuid` : guard
        const res = await sql<Rec>`DELETE FROM ${tableOf(c)} AS r WHERE ${where}
          RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`.execute(tx.db)
        const deleted = res.rows[0]
        if (!deleted) throw await whyNoRow(tx, c, id, a, o.ifMatch)
        emit(u, 'delete', c, deleted)
        gone.push([c, deleted])
        if (ctx.files) {
          for (const [dc, r] of gone)
            await releaseKeys(ctx.files, tx, diffKeys(fileFields(dc), r, undefined).removed)
        }
      })
    },
  }
}

/** Compiled statements, per collection and shape (compiled-sql.ts). */
const inserts = new ShapeCache<Statement>()
const updates = new ShapeCache<UpdatePlan>()

/** The INSERT of a create setting `cols` (the id first, in a slot; then the columns' values, in slots). */
function compileInsert(db: Db, c: Collection, cols: readonly string[]): Statement {
  return compileStatement(db, cols.length + 1, ([id, ...values]) => {
    const names = ['id', ...cols]
    const vals = [sql`${id}::uuid`, ...values.map((v) => sql.val(v))]
    return sql<Rec>`INSERT INTO ${tableOf(c)} AS r (${sql.join(names.map((x) => sql.id(x)))})
          VALUES (${sql.join(vals)}) RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`
  })
}

/** What an update of one shape runs: the UPDATE, and the locking read before it for a durable subscriber. */
interface UpdatePlan {
  readonly update: Statement
  readonly previous?: Statement
}

/** What fixes an update's SQL beside the collection and the rule: what it sets, appends to, checks, reads. */
interface UpdateShape {
  readonly cols: readonly string[]
  readonly appended: readonly Field[]
  readonly versioned: boolean
  readonly withPrevious: boolean
}

/** The key of an update's statements (its shape and the rule's decision); undefined for one bound per request. */
function updateShape(
  a: Decision,
  versioned: boolean,
  withPrevious: boolean,
  cols: readonly string[],
  appended: readonly Field[],
): string | undefined {
  const rule = decisionShape(a)
  if (rule === undefined) return undefined
  return `${rule}\n${versioned ? 1 : 0}${withPrevious ? 1 : 0}\n${cols.join(',')}\n${appended.map((f) => f.name).join(',')}`
}

/**
 * The statements of an update. Slots: the id, the expected version, the columns' values (in `cols` order),
 * the keys appended to each file field (in `appended` order).
 */
function compileUpdate(
  db: Db,
  c: Collection,
  rule: RawBuilder<unknown> | undefined,
  s: UpdateShape,
): UpdatePlan {
  const arity = 2 + s.cols.length + s.appended.length
  const conds = ([id, expected]: readonly unknown[]) => {
    const all = [sql`r.id = ${id}::uuid`]
    if (rule) all.push(rule)
    if (s.versioned) all.push(sql`r.version = ${expected}`)
    return sql.join(all, sql` AND `)
  }
  const update = compileStatement(db, arity, (slots) => {
    const sets = [
      ...s.cols.map((k, i) => sql`${sql.id(k)} = ${sql.val(slots[2 + i])}`),
      ...s.appended.map(
        (f, i) =>
          sql`${sql.id(f.name)} = array_cat(${sql.ref(`r.${f.name}`)}, ${slots[2 + s.cols.length + i]}::text[])`,
      ),
      sql`updated = now()`,
      sql`version = r.version + 1`,
    ]
    return sql<Rec>`UPDATE ${tableOf(c)} AS r SET ${sql.join(sets)} WHERE ${conds(slots)}
          RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`
  })
  if (!s.withPrevious) return { update }
  const previous = compileStatement(
    db,
    arity,
    (slots) => sql<Rec>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r
                WHERE ${conds(slots)} FOR UPDATE`,
  )
  return { update, previous }
}

/** One write's transaction and the durable events it produced (enqueued in it before it ends). */
interface Unit {
  readonly tx: Tx
  readonly events: RecordEvent[]
}

async function writeLinks(tx: Tx, f: Field, source: string, targets: readonly string[], replace: boolean) {
  const jt = linkTable(f)
  if (replace) await sql`DELETE FROM ${jt} WHERE source = ${source}::uuid`.execute(tx.db)
  if (targets.length) {
    await sql`INSERT INTO ${jt} (source, target, position)
      SELECT ${source}::uuid, t, o FROM unnest(${targets}::uuid[]) WITH ORDINALITY AS u(t, o)`.execute(tx.db)
  }
}

/** After a guarded write touched nothing: 409 only when the caller could have written it at another version. */
async function whyNoRow(
  tx: Tx,
  c: Collection,
  id: string,
  a: Decision,
  expected: number | undefined,
): Promise<AppError> {
  if (expected === undefined) return errors.notFound('Record')
  const rule: RawBuilder<unknown> = predicateOf(a) ?? sql`TRUE`
  const res = await sql<{
    version: number
    ok: boolean
  }>`SELECT r.version, (${rule}) AS ok FROM ${tableOf(c)} AS r WHERE r.id = ${id}::uuid`.execute(tx.db)
  const r = res.rows[0]
  if (!r?.ok) return errors.notFound('Record')
  return errors.versionMismatch(r.version)
}

function asObject(body: unknown): Rec {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Rec) : {}
}
