import { type RawBuilder, sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { autocommit, inTransaction, type Tx } from '../../db/transaction.ts'
import { AppError, errors, fromPgError } from '../../errors/index.ts'
import type { EventBus } from '../../events/bus.ts'
import { RECORD_EVENT_BY_ACTION, type RecordAction } from '../../events/catalog.ts'
import { authRecord, hasScope, type Principal } from '../auth/principal.ts'
import { columnType } from '../collections/ddl.ts'
import type { CollectionsService } from '../collections/service.ts'
import { linkTable } from '../collections/tables.ts'
import {
  type Collection,
  type Field,
  hasColumn,
  joinTableName,
  type RuleAction,
  SYSTEM_FIELDS,
} from '../collections/types.ts'
import { compileRule, DENIED } from '../rules/compile-rule.ts'
import { bindFilter, compileFilter, type RuleRequest } from '../rules/index.ts'
import { isUuid } from '../rules/values.ts'
import { applyOnDelete, dependentsOf } from './cascade.ts'
import { type Expansions, loadExpansions, parseExpand, shapeWithExpand } from './expand.ts'
import {
  checkAttached,
  diffKeys,
  type FileHooks,
  fileFields,
  keysOf,
  mergeUploads,
  releaseKeys,
  type Uploads,
} from './file-fields.ts'
import { afterCursor, encodeCursor, orderBy, parseSort, selectList, shapeRecord, tableOf } from './select.ts'
import { uuidv7 } from './uuidv7.ts'
import { validateInput } from './validate.ts'

export interface ListQuery {
  readonly filter?: string
  readonly sort?: string
  readonly page?: number
  readonly perPage?: number
  readonly after?: string
  readonly fields?: string
  readonly expand?: string
  readonly count?: boolean
  /** The raw query string, for `@request.query.*` in rules. */
  readonly requestQuery?: Readonly<Record<string, string>>
}

export interface ReadOptions {
  readonly fields?: string
  readonly expand?: string
  /** The raw query string, for `@request.query.*` in rules. */
  readonly query?: Readonly<Record<string, string>>
}

export interface WriteOptions extends ReadOptions {
  /** Expected version (If-Match or `$version`). */
  readonly ifMatch?: number
  /** Join an outer transaction (batch, idempotency). */
  readonly tx?: Tx
  /** Objects uploaded for this write, by file field (see mergeUploads): exempt from the attach check. */
  readonly uploads?: Uploads
}

export interface ListResult {
  readonly items: Record<string, unknown>[]
  readonly page: number
  readonly perPage: number
  readonly totalItems?: number
  readonly totalPages?: number
  readonly nextCursor: string | null
}

export type Rec = Record<string, unknown>
type Access = { bypass: true } | { bypass: false; rule: RawBuilder<unknown> | undefined }

export const MAX_PER_PAGE = 500

export interface RecordsService {
  list(collection: string, q: ListQuery, p: Principal): Promise<ListResult>
  view(collection: string, id: string, p: Principal, o?: ReadOptions): Promise<Rec>
  create(collection: string, body: unknown, p: Principal, o?: WriteOptions): Promise<Rec>
  update(collection: string, id: string, body: unknown, p: Principal, o?: WriteOptions): Promise<Rec>
  remove(collection: string, id: string, p: Principal, o?: WriteOptions): Promise<void>
}

export function createRecordsService(deps: {
  db: Db
  collections: CollectionsService
  bus: EventBus
  /** Storage for `file` fields; without it their keys are kept as plain values. */
  files?: FileHooks
}): RecordsService {
  const { db, collections, bus } = deps
  const lookup = (n: string) => collections.find(n)
  const staticRules = new WeakMap<Collection, Map<RuleAction, RawBuilder<unknown> | undefined>>()

  /**
   * Who may do `action`: admins and keys holding the scope bypass rules; everyone else gets the
   * collection's rule compiled for this request. A locked (null) rule answers as the action's failure.
   */
  function access(c: Collection, action: RuleAction, p: Principal, req: Omit<RuleRequest, 'auth'>): Access {
    if (p.kind === 'admin') return { bypass: true }
    if (p.kind === 'key') {
      const scope = action === 'list' || action === 'view' ? 'records:read' : 'records:write'
      if (!hasScope(p, scope)) throw errors.forbidden(`This API key lacks the ${scope} scope.`)
      return { bypass: true }
    }
    const rule = c.rules[action]
    if (rule === null) {
      if (action === 'list' || action === 'create')
        throw errors.forbidden(`Only admins can ${action} ${c.name} records.`)
      return { bypass: false, rule: DENIED }
    }
    if (rule.trim() === '') return { bypass: false, rule: undefined }
    // A rule that reads neither the request (no @ macro) nor another collection (no dotted path) compiles
    // to the same SQL for every request: keep it with the collection object, which a schema change replaces.
    const cacheable = !rule.includes('@') && !rule.includes('.')
    const cached = cacheable ? staticRules.get(c) : undefined
    if (cached?.has(action)) return { bypass: false, rule: cached.get(action) }
    // DENIED (by identity) when the rule cannot hold for this caller: answered before any validation or query.
    const compiled = compileRule(rule, c, lookup, { ...req, auth: authRecord(p) })
    if (cacheable) {
      let m = staticRules.get(c)
      if (!m) staticRules.set(c, (m = new Map()))
      m.set(action, compiled)
    }
    return { bypass: false, rule: compiled }
  }

  function viewFilterFor(p: Principal) {
    return (target: Collection) => {
      const a = access(target, 'view', p.kind === 'key' ? { kind: 'admin' } : p, { method: 'GET' })
      if (a.bypass || a.rule === undefined) return undefined
      return a.rule
    }
  }

  /** `fields=id,title,author.name`: top-level picks, and picks inside expansions (which they imply). */
  function parsePick(
    raw: string | undefined,
    expand: string | undefined,
  ): { top?: Set<string>; expand?: string; nested: Map<string, Set<string>> } {
    const nested = new Map<string, Set<string>>()
    if (!raw?.trim()) return { nested, ...(expand ? { expand } : {}) }
    const top = new Set<string>()
    const extra: string[] = []
    for (const f of raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const dot = f.lastIndexOf('.')
      if (dot < 0) top.add(f)
      else {
        const path = f.slice(0, dot)
        if (!nested.has(path)) nested.set(path, new Set())
        nested.get(path)!.add(f.slice(dot + 1))
        extra.push(path)
      }
    }
    const all = [...(expand ? expand.split(',') : []), ...extra].filter(Boolean)
    return { top, nested, ...(all.length ? { expand: [...new Set(all)].join(',') } : {}) }
  }

  function checkPick(c: Collection, pick: Set<string> | undefined, seeHidden: boolean) {
    if (!pick) return
    for (const name of pick) {
      if ((SYSTEM_FIELDS as readonly string[]).includes(name)) continue
      const f = c.fields.find((x) => x.name === name)
      if (!f || (f.hidden && !seeHidden))
        throw errors.badRequest(`Unknown field '${name}' in fields.`, { param: 'fields', field: name })
    }
  }

  async function readShaped(
    c: Collection,
    rows: Rec[],
    p: Principal,
    bypass: boolean,
    o: ReadOptions,
    /** Inside a batch or an idempotent write: read through its transaction (its rows, its connection). */
    executor?: Db | Transaction<any>,
  ): Promise<Rec[]> {
    const pick = parsePick(o.fields, o.expand)
    checkPick(c, pick.top, bypass)
    const nodes = parseExpand(c, pick.expand, lookup, bypass)
    for (const [path, set] of pick.nested) {
      let level = nodes
      let node: (typeof nodes)[number] | undefined
      for (const part of path.split('.')) {
        node = level.find((n) => n.name === part)
        level = node?.children ?? []
      }
      if (node) {
        checkPick(node.target, set, bypass)
        node.pick = set
      }
    }
    const exp: Expansions = new WeakMap()
    if (nodes.length)
      await loadExpansions(
        executor ?? db,
        nodes,
        rows,
        { viewFilter: bypass ? () => undefined : viewFilterFor(p) },
        exp,
      )
    return rows.map((r) => shapeWithExpand(c, r, nodes, exp, bypass, pick.top))
  }

  function emit(tx: Tx, action: RecordAction, c: Collection, row: Rec) {
    const { _seq, ...rec } = row
    // Events carry the whole record, hidden fields included: consumers are server-side and filter per audience.
    const record = Object.freeze(shapeRecord(c, rec, true))
    tx.afterCommit(() =>
      bus.emit(RECORD_EVENT_BY_ACTION[action], {
        seq: Number(_seq),
        action,
        collection: c.name,
        record,
        at: new Date().toISOString(),
      }),
    )
  }

  async function writeLinks(tx: Tx, f: Field, source: string, targets: readonly string[], replace: boolean) {
    const jt = linkTable(f)
    if (replace) await sql`DELETE FROM ${jt} WHERE source = ${source}::uuid`.execute(tx.db)
    if (targets.length) {
      await sql`INSERT INTO ${jt} (source, target, position)
        SELECT ${source}::uuid, t, o FROM unnest(${targets}::uuid[]) WITH ORDINALITY AS u(t, o)`.execute(
        tx.db,
      )
    }
  }

  /** Runs a write: in the caller's transaction, in a new one when it takes several statements, or alone. */
  async function write<T>(
    single: boolean,
    outer: Tx | undefined,
    c: Collection,
    seeHidden: boolean,
    fn: (tx: Tx) => Promise<T>,
  ): Promise<T> {
    try {
      if (outer || !single) return await inTransaction(db, fn, outer)
      const tx = autocommit(db)
      const out = await fn(tx)
      tx.commit()
      return out
    } catch (err) {
      throw mapError(err, c, seeHidden)
    }
  }

  return {
    async list(name, q, p) {
      const c = collections.get(name)
      const a = access(c, 'list', p, { method: 'GET', ...(q.requestQuery ? { query: q.requestQuery } : {}) })
      const perPage = q.perPage ?? 20
      const page = q.page ?? 1
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE) {
        throw errors.badRequest(`perPage must be between 1 and ${MAX_PER_PAGE}.`, { param: 'perPage' })
      }
      if (!Number.isInteger(page) || page < 1 || page > 1_000_000)
        throw errors.badRequest('page must be a positive integer.', { param: 'page' })
      const where: RawBuilder<unknown>[] = []
      if (!a.bypass && a.rule) where.push(a.rule)
      if (q.filter?.trim()) {
        const bound = bindFilter(
          q.filter,
          c,
          lookup,
          { auth: authRecord(p), method: 'GET', ...(q.requestQuery ? { query: q.requestQuery } : {}) },
          !a.bypass,
        )
        where.push(compileFilter(bound, 'r'))
      }
      const keys = parseSort(c, q.sort, a.bypass)
      const countWhere = [...where]
      if (q.after) where.push(afterCursor(c, keys, q.after))
      const whereSql = where.length ? sql`WHERE ${sql.join(where, sql` AND `)}` : sql``
      const offset = q.after ? 0 : (page - 1) * perPage
      try {
        const res = await sql<Rec>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r ${whereSql}
          ORDER BY ${orderBy(keys)} LIMIT ${perPage + 1} OFFSET ${offset}`.execute(db)
        const rows = res.rows
        const more = rows.length > perPage
        if (more) rows.pop()
        let totalItems: number | undefined
        if (q.count) {
          const cw = countWhere.length ? sql`WHERE ${sql.join(countWhere, sql` AND `)}` : sql``
          const cr = await sql<{
            n: number
          }>`SELECT count(*)::int AS n FROM ${tableOf(c)} AS r ${cw}`.execute(db)
          totalItems = cr.rows[0]!.n
        }
        const last = rows[rows.length - 1]
        const items = await readShaped(c, rows, p, a.bypass, q)
        return {
          items,
          page: q.after ? 1 : page,
          perPage,
          ...(totalItems !== undefined ? { totalItems, totalPages: Math.ceil(totalItems / perPage) } : {}),
          nextCursor: more && last ? encodeCursor(keys, last) : null,
        }
      } catch (err) {
        throw mapError(err, c, a.bypass)
      }
    },

    async view(name, id, p, o = {}) {
      const c = collections.get(name)
      const a = access(c, 'view', p, { method: 'GET', ...(o.query ? { query: o.query } : {}) })
      // 404, not 400: an id that cannot exist is simply not found.
      if (!isUuid(id)) throw errors.notFound('Record')
      const rule = !a.bypass && a.rule ? sql` AND ${a.rule}` : sql``
      try {
        const res =
          await sql<Rec>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r WHERE r.id = ${id}::uuid${rule}`.execute(
            db,
          )
        const row = res.rows[0]
        if (!row) throw errors.notFound('Record')
        return (await readShaped(c, [row], p, a.bypass, o))[0]!
      } catch (err) {
        throw mapError(err, c, a.bypass)
      }
    },

    async create(name, rawBody, p, o = {}) {
      const c = collections.get(name)
      const files = deps.files ? fileFields(c) : []
      const body = files.length ? mergeUploads(c, rawBody, o.uploads, false).body : rawBody
      // Access first: a caller who may not write learns nothing about the schema from validation errors.
      const a = access(c, 'create', p, {
        method: 'POST',
        body: asObject(body),
        ...(o.query ? { query: o.query } : {}),
      })
      const denied = () => errors.forbidden(`You are not allowed to create this ${c.name} record.`)
      if (!a.bypass && a.rule === DENIED) throw denied()
      if (c.system) {
        // A user without credentials could never sign in: accounts come from /api/auth or the admin API.
        throw errors.forbidden(`${c.name} records are created through /api/auth or /api/admin/users.`)
      }
      const input = validateInput(c, body, false, a.bypass)
      const id = input.id ?? uuidv7()
      const checkRule = !a.bypass && a.rule !== undefined
      const attaching = files.some((f) => keysOf(input.columns[f.name]).length > 0)
      const single = !checkRule && input.links.size === 0 && !attaching
      const row = await write(single, o.tx, c, a.bypass, async (tx) => {
        const cols = ['id', ...Object.keys(input.columns)]
        const vals = [sql`${id}::uuid`, ...Object.keys(input.columns).map((k) => sql.val(input.columns[k]))]
        const insert = sql<Rec>`INSERT INTO ${tableOf(c)} AS r (${sql.join(cols.map((x) => sql.id(x)))})
          VALUES (${sql.join(vals)}) RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`
        let res: { rows: Rec[] }
        if (!checkRule || a.bypass) res = await insert.execute(tx.db)
        else {
          // A constraint error (unique value, missing relation, duplicate id) must not answer before the create
          // rule does, or a denied caller could probe which values exist: on one, the rule decides on the
          // would-be row, and only an allowed caller sees the error.
          await sql`SAVEPOINT bst_create`.execute(tx.db)
          try {
            res = await insert.execute(tx.db)
          } catch (err) {
            if (!/^23/.test((err as { code?: string }).code ?? '')) throw err
            await sql`ROLLBACK TO SAVEPOINT bst_create`.execute(tx.db)
            const rule = a.rule as RawBuilder<unknown>
            const ok = await sql<{
              ok: boolean
            }>`SELECT (${rule}) AS ok FROM (${candidateRow(c, id, input.columns)}) AS r`.execute(tx.db)
            if (!ok.rows[0]?.ok) throw denied()
            throw err
          }
        }
        const inserted = res.rows[0]!
        for (const [f, ids] of input.links) {
          await writeLinks(tx, f, id, ids, false)
          inserted[f.name] = ids
        }
        if (checkRule && !a.bypass) {
          // The would-be record (links included) must satisfy the create rule, or the whole write rolls back.
          const ok = await sql<{
            ok: boolean
          }>`SELECT (${a.rule}) AS ok FROM ${tableOf(c)} AS r WHERE r.id = ${id}::uuid`.execute(tx.db)
          if (!ok.rows[0]?.ok) throw denied()
        }
        // Only once the rule has allowed the write: a denied caller learns nothing about objects.
        if (attaching)
          await checkAttached(deps.files!, diffKeys(files, undefined, inserted).added, o.uploads, p)
        emit(tx, 'create', c, inserted)
        return inserted
      })
      delete row._seq
      return (await readShaped(c, [row], p, a.bypass, o, o.tx?.db))[0]!
    },

    async update(name, id, rawBody, p, o = {}) {
      const c = collections.get(name)
      const files = deps.files ? fileFields(c) : []
      const merged = files.length ? mergeUploads(c, rawBody, o.uploads, true) : undefined
      const body = merged ? merged.body : rawBody
      const append = merged?.append ?? new Map<Field, string[]>()
      const a = access(c, 'update', p, {
        method: 'PATCH',
        body: asObject(body),
        ...(o.query ? { query: o.query } : {}),
      })
      // 404 before validation: a caller who may not update learns nothing, not even the schema.
      if (!isUuid(id) || (!a.bypass && a.rule === DENIED)) throw errors.notFound('Record')
      const input = validateInput(c, body, true, a.bypass)
      const expected = o.ifMatch ?? input.version
      const touched = files.filter((f) => Object.hasOwn(input.columns, f.name) || append.has(f))
      const single = input.links.size === 0 && touched.length === 0
      const row = await write(single, o.tx, c, a.bypass, async (tx) => {
        // The keys before the change, locked with the row: those the change lets go of are deleted with it.
        const before = touched.length
          ? (
              await sql<Rec>`SELECT ${sql.join(touched.map((f) => sql.ref(`r.${f.name}`)))} FROM ${tableOf(c)} AS r
                WHERE r.id = ${id}::uuid FOR UPDATE`.execute(tx.db)
            ).rows[0]
          : undefined
        const sets = [
          ...Object.keys(input.columns).map((k) => sql`${sql.id(k)} = ${sql.val(input.columns[k])}`),
          ...[...append].map(
            ([f, keys]) => sql`${sql.id(f.name)} = array_cat(${sql.ref(`r.${f.name}`)}, ${keys}::text[])`,
          ),
          sql`updated = now()`,
          sql`version = r.version + 1`,
        ]
        const conds = [sql`r.id = ${id}::uuid`]
        if (!a.bypass && a.rule) conds.push(a.rule)
        if (expected !== undefined) conds.push(sql`r.version = ${expected}`)
        const res =
          await sql<Rec>`UPDATE ${tableOf(c)} AS r SET ${sql.join(sets)} WHERE ${sql.join(conds, sql` AND `)}
          RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`.execute(tx.db)
        const updated = res.rows[0]
        if (!updated) throw await whyNoRow(tx, c, id, a, expected)
        for (const [f, ids] of input.links) {
          await writeLinks(tx, f, id, ids, true)
          updated[f.name] = ids
        }
        if (touched.length) {
          const { added, removed } = diffKeys(touched, before, updated)
          await checkAttached(deps.files!, added, o.uploads, p)
          await releaseKeys(deps.files!, tx, removed)
        }
        emit(tx, 'update', c, updated)
        return updated
      })
      delete row._seq
      return (await readShaped(c, [row], p, a.bypass, o, o.tx?.db))[0]!
    },

    async remove(name, id, p, o = {}) {
      const c = collections.get(name)
      const a = access(c, 'delete', p, { method: 'DELETE', ...(o.query ? { query: o.query } : {}) })
      if (!isUuid(id)) throw errors.notFound('Record')
      const all = collections.list()
      const hasDependents = dependentsOf(all, c.name).some((d) => d.f.options.onDelete !== 'restrict')
      const hasFiles = deps.files !== undefined && fileFields(c).length > 0
      await write(!hasDependents && !hasFiles, o.tx, c, a.bypass, async (tx) => {
        /** Records deleted by this write (cascades included): their files go with them. */
        const gone: [Collection, Rec][] = []
        const conds = [sql`r.id = ${id}::uuid`]
        if (!a.bypass && a.rule) conds.push(a.rule)
        if (o.ifMatch !== undefined) conds.push(sql`r.version = ${o.ifMatch}`)
        const guard = sql.join(conds, sql` AND `)
        if (hasDependents) {
          // Allowed and present (locked until commit)? Then the relations' on-delete actions run first.
          const ok = await sql`SELECT 1 FROM ${tableOf(c)} AS r WHERE ${guard} FOR UPDATE`.execute(tx.db)
          if (ok.rows.length === 0) throw await whyNoRow(tx, c, id, a, o.ifMatch)
          await applyOnDelete(tx, all, c, [id], (action, dc, row) => {
            emit(tx, action, dc, row)
            if (action === 'delete') gone.push([dc, row])
          })
        }
        // Checked and locked above when there are dependents: the on-delete actions may have changed what the
        // rule or the version read, so the row is deleted by id.
        const where = hasDependents ? sql`r.id = ${id}::uuid` : guard
        const res = await sql<Rec>`DELETE FROM ${tableOf(c)} AS r WHERE ${where}
          RETURNING ${selectList(c)}, nextval('bastide.record_seq') AS _seq`.execute(tx.db)
        const deleted = res.rows[0]
        if (!deleted) throw await whyNoRow(tx, c, id, a, o.ifMatch)
        emit(tx, 'delete', c, deleted)
        gone.push([c, deleted])
        if (deps.files) {
          for (const [dc, r] of gone)
            await releaseKeys(deps.files, tx, diffKeys(fileFields(dc), r, undefined).removed)
        }
      })
    },
  }

  /** After a guarded write touched nothing: 409 only when the caller could have written it at another version. */
  async function whyNoRow(
    tx: Tx,
    c: Collection,
    id: string,
    a: Access,
    expected: number | undefined,
  ): Promise<AppError> {
    if (expected === undefined) return errors.notFound('Record')
    const rule = !a.bypass && a.rule ? a.rule : sql`TRUE`
    const res = await sql<{
      version: number
      ok: boolean
    }>`SELECT r.version, (${rule}) AS ok FROM ${tableOf(c)} AS r WHERE r.id = ${id}::uuid`.execute(tx.db)
    const r = res.rows[0]
    if (!r?.ok) return errors.notFound('Record')
    return errors.versionMismatch(r.version)
  }
}

function asObject(body: unknown): Rec {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Rec) : {}
}

/** The would-be record as a one-row relation, for checking the create rule without inserting it. */
function candidateRow(c: Collection, id: string, columns: Record<string, unknown>): RawBuilder<unknown> {
  const cols: RawBuilder<unknown>[] = [
    sql`${id}::uuid AS id`,
    sql`now()::timestamptz(3) AS created`,
    sql`now()::timestamptz(3) AS updated`,
    sql`1 AS version`,
  ]
  for (const f of c.fields) {
    if (!hasColumn(f)) continue
    const v = Object.hasOwn(columns, f.name) ? columns[f.name] : null
    cols.push(sql`${sql.val(v)}::${sql.raw(columnType(f))} AS ${sql.id(f.name)}`)
  }
  return sql`SELECT ${sql.join(cols)}`
}

/**
 * Maps database errors to the wire shape, naming the field a constraint guards when the caller may read
 * it. A hidden field is never named to a caller who cannot read it: "another record has this value"
 * would tell them what a hidden field holds, so they get the generic error (409 CONFLICT for a unique one).
 */
function mapError(err: unknown, c: Collection, seeHidden: boolean): unknown {
  if (err instanceof AppError) return err
  const mapped = fromPgError(err)
  if (!mapped) return err
  const constraint = (err as { constraint?: string }).constraint
  const m = constraint ? /^f([a-z0-9]{10})_(uq|chk|fk)$/.exec(constraint) : null
  const found = m ? c.fields.find((f) => f.id === m[1]) : undefined
  const field = found && (!found.hidden || seeHidden) ? found : undefined
  const code = (err as { code?: string }).code
  if (field && code === '23505')
    return errors.validation({
      [field.name]: { code: 'not_unique', message: 'Another record has this value.' },
    })
  if (field && code === '23514')
    return errors.validation({
      [field.name]: { code: 'invalid', message: 'The value violates a constraint of this field.' },
    })
  if (code === '23503') {
    const jt = c.fields.find(
      (f) => (err as { table?: string }).table === joinTableName(f) && (!f.hidden || seeHidden),
    )
    const target = field ?? jt
    const isInsert = /insert or update/.test((err as Error).message)
    if (target && isInsert)
      return errors.validation({
        [target.name]: { code: 'not_found', message: 'The related record does not exist.' },
      })
    if (!isInsert) return errors.conflict('Other records still relate to this one.', { reason: 'restricted' })
  }
  if (code === '23505' && (err as { constraint?: string }).constraint === `${c.name}_pkey`) {
    return errors.conflict('A record with this id already exists.')
  }
  return new AppError(mapped.code, mapped.message, mapped.details)
}
