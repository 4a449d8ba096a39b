import type { SyncChange, SyncChangesPage, SyncConflictPolicy } from '@bastide/protocol'
import { sql } from 'kysely'
import type { TestServer } from './harness.ts'
import { until } from './until.ts'

/** Turns offline sync on for `collection` (as the admin key), with `conflict` (and its merge function). */
export async function enableSync(
  s: TestServer,
  collection: string,
  conflict: SyncConflictPolicy = 'server_wins',
  mergeFunction?: string,
): Promise<void> {
  const r = await s.api('PUT', `/api/admin/sync/collections/${collection}`, {
    enabled: true,
    conflict,
    ...(mergeFunction ? { mergeFunction } : {}),
  })
  if (r.status !== 200) throw new Error(`enableSync failed: ${r.status} ${JSON.stringify(r.body)}`)
}

export async function disableSync(s: TestServer, collection: string): Promise<void> {
  const r = await s.api('PUT', `/api/admin/sync/collections/${collection}`, {
    enabled: false,
    conflict: 'server_wins',
  })
  if (r.status !== 200) throw new Error(`disableSync failed: ${r.status} ${JSON.stringify(r.body)}`)
}

export interface PullOptions {
  readonly since?: string
  readonly filter?: string
  readonly limit?: number
  /** 'admin' (default), 'anon' or a bearer token, as in TestServer.api. */
  readonly as?: string
}

/**
 * Waits until every transaction begun so far has finished, on the whole PostgreSQL cluster: the change log is
 * read only below the oldest running transaction (pg_snapshot_xmin), and other test files' transactions on
 * the same server count too. After it, every write committed before the call is visible to a pull.
 */
export async function settle(s: TestServer): Promise<void> {
  const db = s.bastide.database.db
  const now = await sql<{ x: string }>`SELECT pg_current_xact_id()::text AS x`.execute(db)
  const mine = BigInt(now.rows[0]!.x)
  await until('older transactions to finish', async () => {
    const r = await sql<{ x: string }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x`.execute(db)
    return BigInt(r.rows[0]!.x) > mine
  })
}

/** One GET /api/collections/:c/changes; throws unless 200. */
export async function pullPage(
  s: TestServer,
  collection: string,
  o: PullOptions = {},
): Promise<SyncChangesPage> {
  const q = new URLSearchParams()
  if (o.since !== undefined) q.set('since', o.since)
  if (o.filter !== undefined) q.set('filter', o.filter)
  if (o.limit !== undefined) q.set('limit', String(o.limit))
  const qs = q.toString()
  const r = await s.api('GET', `/api/collections/${collection}/changes${qs ? `?${qs}` : ''}`, undefined, {
    as: o.as ?? 'admin',
  })
  if (r.status !== 200) throw new Error(`pull failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

/** Pulls until `hasMore` is false (after settle, unless told not to): every page's changes, and the last cursor. */
export async function pullAll(
  s: TestServer,
  collection: string,
  o: PullOptions & { readonly settle?: boolean } = {},
): Promise<{ changes: SyncChange[]; cursor: string; pages: SyncChangesPage[] }> {
  if (o.settle !== false) await settle(s)
  const pages: SyncChangesPage[] = []
  let since = o.since
  for (;;) {
    const page = await pullPage(s, collection, { ...o, ...(since !== undefined ? { since } : {}) })
    pages.push(page)
    since = page.cursor
    if (!page.hasMore || page.resync) break
    if (pages.length > 10_000) throw new Error('pullAll: no end')
  }
  return { changes: pages.flatMap((p) => p.changes), cursor: since!, pages }
}
