import { type RawBuilder, sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import { parseBackRelation } from '../collections/names.ts'
import { linkTable } from '../collections/tables.ts'
import type { Collection, Field } from '../collections/types.ts'
import { selectList, shapeRecord, tableOf } from './select.ts'

export interface ExpandNode {
  readonly name: string
  readonly kind: 'forward' | 'back'
  readonly field: Field
  readonly target: Collection
  readonly children: ExpandNode[]
  /** From `fields=author.name`: the target fields to return. */
  pick?: Set<string>
}

const MAX_DEPTH = 3
const MAX_NODES = 12
/** Back-relations embed at most this many records per parent. */
export const BACK_LIMIT = 100

/** Parses `expand=author,comments_via_post.author` (nested with dots, up to 3 levels). */
export function parseExpand(
  c: Collection,
  raw: string | undefined,
  lookup: (n: string) => Collection | undefined,
  seeHidden: boolean,
): ExpandNode[] {
  const roots: ExpandNode[] = []
  if (!raw?.trim()) return roots
  let count = 0
  for (const path of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const parts = path.split('.')
    if (parts.length > MAX_DEPTH)
      throw errors.badRequest(`Expand goes at most ${MAX_DEPTH} levels deep.`, { param: 'expand' })
    let cur = c
    let level = roots
    for (const name of parts) {
      let node = level.find((n) => n.name === name)
      if (!node) {
        node = resolve(cur, name, lookup, seeHidden)
        if (++count > MAX_NODES)
          throw errors.badRequest(`At most ${MAX_NODES} relations can be expanded.`, { param: 'expand' })
        level.push(node)
      }
      cur = node.target
      level = node.children
    }
  }
  return roots
}

function resolve(
  c: Collection,
  name: string,
  lookup: (n: string) => Collection | undefined,
  seeHidden: boolean,
): ExpandNode {
  const bad = () => errors.badRequest(`Cannot expand '${name}'.`, { param: 'expand', field: name })
  const via = parseBackRelation(name)
  if (via) {
    const target = lookup(via.collection)
    const field = target?.fields.find((f) => f.name === via.field)
    if (!target || !field || field.type !== 'relation' || field.options.collection !== c.name) throw bad()
    if (field.hidden && !seeHidden) throw bad()
    return { name, kind: 'back', field, target, children: [] }
  }
  const field = c.fields.find((f) => f.name === name)
  if (field?.type !== 'relation' || (field.hidden && !seeHidden)) throw bad()
  const target = lookup(field.options.collection!)
  if (!target) throw bad()
  return { name, kind: 'forward', field, target, children: [] }
}

export type Row = Record<string, unknown>
/** Per parent row, expand name → what it embeds (a Map: names are the client's, never Object members). */
export type Expansions = WeakMap<Row, Map<string, Row | Row[] | null>>

export interface ExpandAccess {
  /** The view-rule predicate for a target (over alias `r`), undefined = no restriction, null = locked. */
  viewFilter(target: Collection): RawBuilder<unknown> | undefined | null
}

/**
 * Loads every expansion with one query per expand node, whatever the number of parents (no N+1), and
 * records the results in `out`. Targets the principal cannot view are left out.
 */
export async function loadExpansions(
  db: Db,
  nodes: readonly ExpandNode[],
  parents: readonly Row[],
  access: ExpandAccess,
  out: Expansions,
): Promise<void> {
  for (const node of nodes) {
    if (parents.length === 0) return
    const filter = access.viewFilter(node.target)
    let children: Row[] = []
    if (filter !== null) {
      children =
        node.kind === 'forward'
          ? await loadForward(db, node, parents, filter)
          : await loadBack(db, node, parents, filter)
    }
    attach(node, parents, children, out)
    if (node.children.length && children.length)
      await loadExpansions(db, node.children, children, access, out)
  }
}

async function loadForward(
  db: Db,
  node: ExpandNode,
  parents: readonly Row[],
  filter: RawBuilder<unknown> | undefined,
): Promise<Row[]> {
  const ids = new Set<string>()
  for (const p of parents) {
    const v = p[node.field.name]
    if (Array.isArray(v)) for (const x of v) ids.add(String(x))
    else if (v) ids.add(String(v))
  }
  if (ids.size === 0) return []
  const where = filter ? sql` AND ${filter}` : sql``
  const res =
    await sql<Row>`SELECT ${selectList(node.target)} FROM ${tableOf(node.target)} AS r WHERE r.id = ANY(${[...ids]}::uuid[])${where}`.execute(
      db,
    )
  return res.rows
}

async function loadBack(
  db: Db,
  node: ExpandNode,
  parents: readonly Row[],
  filter: RawBuilder<unknown> | undefined,
): Promise<Row[]> {
  const ids = parents.map((p) => String(p.id))
  const where = filter ? sql` AND ${filter}` : sql``
  const f = node.field
  if (f.options.multiple) {
    const jt = linkTable(f)
    // One row per (parent, record), ranked per parent: every parent gets up to BACK_LIMIT of its own.
    const res = await sql<Row>`SELECT * FROM (
        SELECT ${selectList(node.target)}, j.target AS _parent,
          row_number() OVER (PARTITION BY j.target ORDER BY r.created, r.id) AS _rn
        FROM ${jt} j JOIN ${tableOf(node.target)} AS r ON r.id = j.source
        WHERE j.target = ANY(${ids}::uuid[])${where}) x
      WHERE x._rn <= ${BACK_LIMIT} ORDER BY x.created, x.id`.execute(db)
    return res.rows
  }
  const col = sql.ref(`r.${f.name}`)
  const res = await sql<Row>`SELECT * FROM (
      SELECT ${selectList(node.target)}, row_number() OVER (PARTITION BY ${col} ORDER BY r.created, r.id) AS _rn
      FROM ${tableOf(node.target)} AS r WHERE ${col} = ANY(${ids}::uuid[])${where}) x
    WHERE x._rn <= ${BACK_LIMIT} ORDER BY x.created, x.id`.execute(db)
  return res.rows
}

function attach(node: ExpandNode, parents: readonly Row[], children: readonly Row[], out: Expansions): void {
  const byId = new Map(children.map((r) => [String(r.id), r]))
  const byParent = new Map<unknown, Row[]>()
  if (node.kind === 'back') {
    for (const r of children) {
      // Rows of a multiple back-relation say which parent they were loaded for.
      const v = '_parent' in r ? r._parent : r[node.field.name]
      for (const pid of Array.isArray(v) ? v : [v]) {
        let list = byParent.get(pid)
        if (!list) byParent.set(pid, (list = []))
        if (list.length < BACK_LIMIT) list.push(r)
      }
    }
  }
  for (const p of parents) {
    let slot = out.get(p)
    if (!slot) out.set(p, (slot = new Map()))
    if (node.kind === 'forward') {
      const v = p[node.field.name]
      slot.set(
        node.name,
        Array.isArray(v)
          ? v.map((id) => byId.get(String(id))).filter((r): r is Row => !!r)
          : v
            ? (byId.get(String(v)) ?? null)
            : null,
      )
    } else {
      slot.set(node.name, byParent.get(p.id) ?? [])
    }
  }
}

/** Shapes a row and, recursively, its expansions. */
export function shapeWithExpand(
  c: Collection,
  row: Row,
  nodes: readonly ExpandNode[],
  exp: Expansions,
  seeHidden: boolean,
  pick?: Set<string>,
): Row {
  const out = shapeRecord(c, row, seeHidden, pick)
  const slot = exp.get(row)
  if (!slot || nodes.length === 0) return out
  const e: Record<string, unknown> = {}
  for (const n of nodes) {
    const v = slot.get(n.name)
    if (v === undefined || v === null) continue
    e[n.name] = Array.isArray(v)
      ? v.map((r) => shapeWithExpand(n.target, r, n.children, exp, seeHidden, n.pick))
      : shapeWithExpand(n.target, v, n.children, exp, seeHidden, n.pick)
  }
  out.expand = e
  return out
}
