import { type RawBuilder, sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import { authRecord, type Principal } from '../auth/principal.ts'
import { type Collection, SYSTEM_FIELDS } from '../collections/types.ts'
import { type Decision, predicateOf } from '../rules/authorize.ts'
import { bindFilter, compileFilter } from '../rules/index.ts'
import { isUuid } from '../rules/values.ts'
import { compileStatement, decisionShape, runStatement, ShapeCache, type Statement } from './compiled-sql.ts'
import { type Expansions, loadExpansions, parseExpand, shapeWithExpand } from './expand.ts'
import { mapRecordError } from './map-record-error.ts'
import type { RecordsContext } from './record-access.ts'
import {
  afterCursor,
  encodeCursor,
  orderBy,
  parseSort,
  readAsShaped,
  type SortKey,
  selectList,
  shapeRecord,
  tableOf,
} from './select.ts'
import type { ListQuery, ReadOptions, Rec, RecordsService } from './service.ts'

export const MAX_PER_PAGE = 500

/** Rows as the caller may see them: picked fields, hidden ones gone unless it bypasses, expansions loaded. */
export type ReadShaped = (
  c: Collection,
  rows: Rec[],
  p: Principal,
  bypass: boolean,
  o: ReadOptions,
  /** Inside a batch or an idempotent write: read through its transaction (its rows, its connection). */
  executor?: Db | Transaction<any>,
) => Promise<Rec[]>

/** The read side of the records service: list and view, and the shaping every answer goes through. */
export function createRecordReader(ctx: RecordsContext): Pick<RecordsService, 'list' | 'view'> & {
  readonly readShaped: ReadShaped
} {
  const { db, collections, lookup, access } = ctx

  function viewFilterFor(p: Principal) {
    return (target: Collection) =>
      predicateOf(access(target, 'view', p.kind === 'key' ? { kind: 'admin' } : p, { method: 'GET' }))
  }

  /**
   * The list statements for a request: the rule, the filter and the sort bound and compiled; the page
   * (LIMIT, OFFSET) left to each run. Throws the filter's, the sort's and the cursor's errors, in that order.
   */
  function buildListPlan(c: Collection, a: Decision, q: ListQuery, p: Principal, bypass: boolean): ListPlan {
    const where: RawBuilder<unknown>[] = []
    const rule = predicateOf(a)
    if (rule) where.push(rule)
    if (q.filter?.trim()) {
      const bound = bindFilter(
        q.filter,
        c,
        lookup,
        { auth: authRecord(p), method: 'GET', ...(q.requestQuery ? { query: q.requestQuery } : {}) },
        !bypass,
      )
      where.push(compileFilter(bound, 'r'))
    }
    const keys = parseSort(c, q.sort, bypass)
    const countWhere = [...where]
    if (q.after) where.push(afterCursor(c, keys, q.after))
    const whereSql = where.length ? sql`WHERE ${sql.join(where, sql` AND `)}` : sql``
    const rows = compileStatement(
      db,
      2,
      ([limit, offset]) => sql`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r ${whereSql}
          ORDER BY ${orderBy(keys)} LIMIT ${limit} OFFSET ${offset}`,
    )
    if (!q.count) return { keys, rows }
    const cw = countWhere.length ? sql`WHERE ${sql.join(countWhere, sql` AND `)}` : sql``
    const count = compileStatement(db, 0, () => sql`SELECT count(*)::int AS n FROM ${tableOf(c)} AS r ${cw}`)
    return { keys, rows, count }
  }

  const readShaped: ReadShaped = async (c, rows, p, bypass, o, executor) => {
    // Neither fields nor expand (most reads): each row shaped, nothing to parse or load.
    if (!o.fields && !o.expand) return rows.map((r) => shapeRecord(c, r, bypass))
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

  return {
    readShaped,

    async list(name, q, p) {
      const c = collections.get(name)
      const a = access(c, 'list', p, { method: 'GET', ...(q.requestQuery ? { query: q.requestQuery } : {}) })
      const bypass = a.kind === 'bypass'
      const perPage = q.perPage ?? 20
      const page = q.page ?? 1
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE) {
        throw errors.badRequest(`perPage must be between 1 and ${MAX_PER_PAGE}.`, { param: 'perPage' })
      }
      if (!Number.isInteger(page) || page < 1 || page > 1_000_000)
        throw errors.badRequest('page must be a positive integer.', { param: 'page' })
      const plan = listPlans.get(c, listShape(a, q), () => buildListPlan(c, a, q, p, bypass))
      const offset = q.after ? 0 : (page - 1) * perPage
      try {
        const res = await runStatement<Rec>(db, plan.rows, [perPage + 1, offset])
        const rows = res.rows
        const more = rows.length > perPage
        if (more) rows.pop()
        let totalItems: number | undefined
        if (plan.count) totalItems = (await runStatement<{ n: number }>(db, plan.count, [])).rows[0]!.n
        const last = rows[rows.length - 1]
        const items =
          !q.fields && !q.expand && readAsShaped(c, bypass) ? rows : await readShaped(c, rows, p, bypass, q)
        return {
          items,
          page: q.after ? 1 : page,
          perPage,
          ...(totalItems !== undefined ? { totalItems, totalPages: Math.ceil(totalItems / perPage) } : {}),
          nextCursor: more && last ? encodeCursor(plan.keys, last) : null,
        }
      } catch (err) {
        throw mapRecordError(err, c, bypass)
      }
    },

    async view(name, id, p, o = {}) {
      const c = collections.get(name)
      const a = access(c, 'view', p, { method: 'GET', ...(o.query ? { query: o.query } : {}) })
      const bypass = a.kind === 'bypass'
      // 404, not 400: an id that cannot exist is simply not found.
      if (!isUuid(id)) throw errors.notFound('Record')
      const statement = viewStatements.get(c, decisionShape(a), () => {
        const predicate = predicateOf(a)
        const rule = predicate ? sql` AND ${predicate}` : sql``
        return compileStatement(
          db,
          1,
          ([slot]) => sql`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r WHERE r.id = ${slot}::uuid${rule}`,
        )
      })
      try {
        const res = await runStatement<Rec>(db, statement, [id])
        const row = res.rows[0]
        if (!row) throw errors.notFound('Record')
        if (!o.fields && !o.expand && readAsShaped(c, bypass)) return row
        return (await readShaped(c, [row], p, bypass, o))[0]!
      } catch (err) {
        throw mapRecordError(err, c, bypass)
      }
    },
  }
}

/** What a list runs: its rows statement (LIMIT, OFFSET in slots), its count statement if asked, its sort. */
interface ListPlan {
  readonly keys: readonly SortKey[]
  readonly rows: Statement
  readonly count?: Statement
}

/** Compiled statements, per collection and shape (compiled-sql.ts). */
const viewStatements = new ShapeCache<Statement>()
const listPlans = new ShapeCache<ListPlan>()

/**
 * What, beside the collection, fixes a list's SQL: the rule's decision, the filter and sort texts, whether
 * it counts. undefined (compiled per request) when more does: a decision bound for this request, a cursor
 * (its values and their nulls shape the SQL), or a filter that reads the request (@) or other collections
 * (a dotted path), whose bound values or schemas the text alone does not fix.
 */
function listShape(a: Decision, q: ListQuery): string | undefined {
  const rule = decisionShape(a)
  const filter = q.filter ?? ''
  if (rule === undefined || q.after || filter.includes('@') || filter.includes('.')) return undefined
  const sort = q.sort ?? ''
  return `${rule}\n${q.count ? 1 : 0}\n${sort.length}\n${sort}\n${filter}`
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
