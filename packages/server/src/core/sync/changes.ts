import type { SyncChange, SyncChangesPage, SyncFieldInfo } from '@bastide/protocol'
import { type RawBuilder, sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { AppError, errors } from '../../errors/index.ts'
import { authRecord, type Principal } from '../auth/principal.ts'
import type { CollectionsService } from '../collections/service.ts'
import { type Collection, isMultiple } from '../collections/types.ts'
import { mapRecordError } from '../records/map-record-error.ts'
import { selectList, shapeRecord, tableOf } from '../records/select.ts'
import type { Rec } from '../records/service.ts'
import { authorize, predicateOf } from '../rules/authorize.ts'
import { bindFilter, compileFilter, type Lookup } from '../rules/index.ts'
import {
  comparePositions,
  createSyncCursorCodec,
  MAX_ID,
  type Position,
  queryHash,
  type SyncCursor,
  type SyncCursorCodec,
} from './cursor.ts'
import { loggedLinks, pastPredicate } from './history.ts'
import { readSyncRow } from './settings.ts'

export const DEFAULT_CHANGES_LIMIT = 1000
export const MAX_CHANGES_LIMIT = 5000

export interface ChangesQuery {
  readonly since?: string
  readonly filter?: string
  readonly limit?: number
  /** The raw query string, for `@request.query.*` in rules. */
  readonly requestQuery?: Readonly<Record<string, string>>
}

export interface SyncChanges {
  /** GET /api/collections/:name/changes: a page of what changed for the caller since `since`. */
  pull(collection: string, q: ChangesQuery, p: Principal): Promise<SyncChangesPage>
}

/** The fields as the caller sees them (hidden ones only for principals that bypass rules). */
export function syncFields(c: Collection, seeHidden: boolean): SyncFieldInfo[] {
  return c.fields
    .filter((f) => seeHidden || !f.hidden)
    .map((f) => ({
      name: f.name,
      type: f.type,
      multiple: isMultiple(f),
      ...(f.type === 'relation' && f.options.collection ? { collection: f.options.collection } : {}),
      ...(f.type === 'file' && f.options.bucket ? { bucket: f.options.bucket } : {}),
    }))
}

interface LogEntry {
  readonly id: string
  readonly xid: string
  readonly record_id: string
}

/**
 * The pull side of offline sync. A first pull (no cursor) walks the records the caller may list and view by id
 * (keyset), then the change log from the position captured when it began; later pulls read the log in
 * (xid, id) order, only entries of transactions older than every running one (pg_snapshot_xmin), so that
 * nothing can ever appear behind a cursor. A page names each record once, as it is now: an upsert when the
 * caller sees it, a removal when it does not but could see it at the cursor or since (the log's `previous` states
 * after the cursor, under the same predicate), nothing otherwise, so no id leaks to a caller who never could see it.
 * A cursor issued under other fields or rules (its hash), another filter, or before the horizon resyncs.
 */
export function createSyncChanges(deps: {
  db: Db
  collections: CollectionsService
  /** BASTIDE_SECRET: cursors are signed under a key derived from it (see createSyncCursorCodec). */
  secret: string
}): SyncChanges {
  const { db, collections } = deps
  const cursors = createSyncCursorCodec(deps.secret)
  const lookup: Lookup = (n) => collections.find(n)

  return {
    async pull(name, q, p) {
      const c = collections.find(name)
      if (!c) throw errors.notFound('Collection')
      const limit = q.limit ?? DEFAULT_CHANGES_LIMIT
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CHANGES_LIMIT)
        throw errors.badRequest(`limit must be between 1 and ${MAX_CHANGES_LIMIT}.`, { param: 'limit' })
      const request = { method: 'GET', ...(q.requestQuery ? { query: q.requestQuery } : {}) }
      const guard = { scope: 'records:read', schema: c, lookup, request } as const
      const list = authorize(p, { ...guard, rule: c.rules.list })
      if (list.kind === 'locked') throw errors.forbidden(`Only admins can list ${c.name} records.`)
      const view = authorize(p, { ...guard, rule: c.rules.view })
      const bypass = list.kind === 'bypass'
      const where: RawBuilder<unknown>[] = []
      // The same over a past state from the log (alias r, its jsonb l.previous): its own multiple relations are
      // the links logged with it, not the join tables' (which hold the record's links now, or none once deleted).
      const whereBefore: RawBuilder<unknown>[] = []
      const previous = sql`l.previous`
      for (const d of [list, view]) {
        const pred = predicateOf(d)
        if (pred) where.push(pred)
        const past = pastPredicate(d, previous)
        if (past) whereBefore.push(past)
      }
      const filter = q.filter?.trim() ?? ''
      if (filter) {
        const bound = bindFilter(filter, c, lookup, { ...request, auth: authRecord(p) }, !bypass)
        where.push(compileFilter(bound, 'r'))
        whereBefore.push(compileFilter(bound, 'r', { selfLinks: (f) => loggedLinks(previous, f) }))
      }
      const all = (w: RawBuilder<unknown>[]) => (w.length ? sql`(${sql.join(w, sql` AND `)})` : sql`TRUE`)
      const visible = all(where)
      const visibleBefore = all(whereBefore)
      const fields = syncFields(c, bypass)
      const cursor = q.since ? cursors.decode(q.since) : undefined

      try {
        // One snapshot for the page: the log's cut-off (xmin), the rows and their previous states agree.
        return await db
          .transaction()
          .setIsolationLevel('repeatable read')
          .setAccessMode('read only')
          .execute(async (trx) => {
            const settings = await readSyncRow(trx, c.id)
            if (!settings?.enabled)
              throw new AppError('SYNC_DISABLED', `Offline sync is not enabled for ${c.name}.`)
            const snap = await sql<{ xmin: string; hx: string; hi: string }>`
              SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, h.xid::text AS hx, h.id::text AS hi
              FROM bastide.sync_horizon h`.execute(trx)
            const { xmin, hx, hi } = snap.rows[0]!
            // Every entry at or below this is of a finished transaction: nothing can be logged there any more.
            const settled: Position = { xid: (BigInt(xmin) - 1n).toString(), id: MAX_ID }
            const purged: Position = { xid: hx, id: hi }
            const base = { collection: c.id, filter: queryHash(c, filter), horizon: settings.horizon }
            const fresh = (): SyncCursor => ({ ...base, phase: 'initial', start: settled, after: null })
            const resync = (): SyncChangesPage => ({
              changes: [],
              cursor: cursors.encode(fresh()),
              hasMore: false,
              resync: true,
              fields,
            })
            const cur = cursor ?? fresh()
            if (
              cur.collection !== base.collection ||
              cur.filter !== base.filter ||
              cur.horizon !== base.horizon ||
              comparePositions(cur.phase === 'initial' ? cur.start : cur.at, purged) < 0
            )
              return resync()
            const page = { trx, c, visible, visibleBefore, bypass, limit, logId: c.id, settled, cursors }
            if (cur.phase === 'initial')
              return { ...(await initialPage(page, cur.start, cur.after, base)), fields }
            return { ...(await deltaPage(page, cur.at, base)), fields }
          })
      } catch (err) {
        throw mapRecordError(err, c, bypass)
      }
    },
  }
}

interface PageContext {
  readonly trx: Transaction<any>
  readonly c: Collection
  readonly visible: RawBuilder<unknown>
  /** `visible` over a past state: the log's `previous` as a row `r`, its multiple relations as logged. */
  readonly visibleBefore: RawBuilder<unknown>
  readonly bypass: boolean
  readonly limit: number
  readonly logId: string
  readonly settled: Position
  readonly cursors: SyncCursorCodec
}

type Base = Pick<SyncCursor, 'collection' | 'filter' | 'horizon'>
type Page = Omit<SyncChangesPage, 'fields'>

/** Records by id after `after`; once they run out, the cursor moves to the log from `start`. */
async function initialPage(x: PageContext, start: Position, after: string | null, base: Base): Promise<Page> {
  const { trx, c, visible, limit } = x
  const keyset = after ? sql`r.id > ${after}::uuid AND ` : sql``
  const res = await sql<Rec>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r WHERE ${keyset}${visible}
    ORDER BY r.id LIMIT ${limit + 1}`.execute(trx)
  const rows = res.rows
  const more = rows.length > limit
  if (more) rows.pop()
  const changes: SyncChange[] = rows.map((r) => ({
    op: 'upsert',
    record: shapeRecord(c, r, x.bypass) as never,
  }))
  if (more)
    return {
      changes,
      cursor: x.cursors.encode({
        ...base,
        phase: 'initial',
        start,
        after: String(rows[rows.length - 1]!.id),
      }),
      hasMore: true,
      resync: false,
    }
  // The records are in; what changed while they were read comes from the log, at once if it has any.
  const pending = await sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM bastide.sync_log l
    WHERE l.collection_id = ${x.logId} AND (l.xid, l.id) > (${start.xid}::bigint, ${start.id}::bigint)
      AND l.xid <= ${x.settled.xid}::bigint) AS any`.execute(trx)
  return {
    changes,
    cursor: x.cursors.encode({ ...base, phase: 'delta', at: start }),
    hasMore: pending.rows[0]!.any,
    resync: false,
  }
}

/** The log after `at`, up to the settled position: each record named once, as it is now. */
async function deltaPage(x: PageContext, at: Position, base: Base): Promise<Page> {
  const { trx, c, visible, limit } = x
  const res = await sql<LogEntry>`SELECT l.id::text AS id, l.xid::text AS xid, l.record_id::text AS record_id
    FROM bastide.sync_log l
    WHERE l.collection_id = ${x.logId} AND (l.xid, l.id) > (${at.xid}::bigint, ${at.id}::bigint)
      AND l.xid <= ${x.settled.xid}::bigint
    ORDER BY l.xid, l.id LIMIT ${limit + 1}`.execute(trx)
  const entries = res.rows
  const more = entries.length > limit
  if (more) entries.pop()
  const last = entries[entries.length - 1]
  // With nothing left below the settled position, the cursor moves up to it: a quiet collection's cursors
  // keep up with retention.
  const next: Position = more
    ? { xid: last!.xid, id: last!.id }
    : comparePositions(x.settled, at) > 0
      ? x.settled
      : at
  const page = (changes: SyncChange[]): Page => ({
    changes,
    cursor: x.cursors.encode({ ...base, phase: 'delta', at: next }),
    hasMore: more,
    resync: false,
  })
  if (entries.length === 0) return page([])
  // Each record once, in the order of its first entry after the cursor.
  const ids = [...new Set(entries.map((e) => e.record_id))]
  const now = await sql<Rec>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r
    WHERE r.id = ANY(${ids}::uuid[]) AND ${visible}`.execute(trx)
  const current = new Map(now.rows.map((r) => [String(r.id), r]))
  const gone = ids.filter((id) => !current.has(id))
  const before = new Map<string, boolean>()
  if (gone.length) {
    // The caller's copy may be any state the record had after the cursor, not only the one at it: a first sync's
    // pages and a push's answer read newer states than the cursor they go with. So a record no longer visible is
    // removed when any state since the cursor (each log entry's `previous`, as a row of the table, columns added
    // since read null, multiple relations as logged with it) passed the same predicate; `present` tells a
    // deletion from a record that left the view.
    const prev = await sql<{ record_id: string; present: boolean }>`
      SELECT DISTINCT l.record_id::text AS record_id,
        EXISTS (SELECT 1 FROM ${tableOf(c)} AS x WHERE x.id = l.record_id) AS present
      FROM bastide.sync_log l CROSS JOIN LATERAL jsonb_populate_record(NULL::${tableOf(c)}, l.previous) AS r
      WHERE l.collection_id = ${x.logId} AND l.record_id = ANY(${gone}::uuid[])
        AND (l.xid, l.id) > (${at.xid}::bigint, ${at.id}::bigint) AND l.previous IS NOT NULL
        AND ${x.visibleBefore}`.execute(trx)
    for (const r of prev.rows) before.set(r.record_id, r.present)
  }
  const changes: SyncChange[] = []
  for (const id of ids) {
    const row = current.get(id)
    if (row) changes.push({ op: 'upsert', record: shapeRecord(c, row, x.bypass) as never })
    else if (before.has(id))
      changes.push({ op: 'remove', id, reason: before.get(id) ? 'left_view' : 'deleted' })
  }
  return page(changes)
}
