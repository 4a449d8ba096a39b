import {
  SYSTEM_FIELDS,
  type SyncCollectionSettings,
  type SyncConflictInfo,
  type SyncMergeEvent,
  type SyncMergeResult,
  type SyncMutation,
  type SyncMutationResult,
  type SyncPushRequest,
  type SyncPushResponse,
  type SyncRecord,
} from '@bastide/protocol'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { AppError, errors, fromPgError } from '../../errors/index.ts'
import { type Principal, principalId } from '../auth/principal.ts'
import type { CollectionsService } from '../collections/service.ts'
import type { Collection } from '../collections/types.ts'
import { selectList, shapeRecord, tableOf } from '../records/select.ts'
import type { Rec, RecordsService } from '../records/service.ts'
import { authorize } from '../rules/authorize.ts'
import {
  bothChanged,
  clientWins,
  deleteWins,
  lastWriterWins,
  sameValue,
  serverWins,
  type UpdateConflict,
  type UpdateResolution,
} from './conflict.ts'
import { pastPredicate, readPast, recordAtVersion } from './history.ts'
import type { MergeRunner } from './merge.ts'
import type { SyncSettingsStore } from './settings.ts'

export interface PushDeps {
  readonly db: Db
  readonly records: RecordsService
  readonly collections: CollectionsService
  readonly settings: SyncSettingsStore
  readonly merge: MergeRunner
  readonly log: Logger
}

/** A stale write is resolved again against the newer record this many times, then refused. */
const MAX_TRIES = 3

/**
 * Merge function runs in one push at most: a push that would run more answers the mutations before it (fewer
 * results than it was sent) and the client pushes the rest again. The first mutation of a push is always answered.
 */
export const MAX_MERGES_PER_PUSH = 10

/** What sync_mutations keeps of an answer: the record is read again for every answer, replays included. */
type Stored = Omit<SyncMutationResult, 'id' | 'record'>

/** Failures that may pass on their own: never a mutation's stored answer (the SDK drops a rejected edit). */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'UNAVAILABLE',
  'RATE_LIMITED',
  'FUNCTION_TIMEOUT',
  'INTERNAL',
])
const BUSY = 'The record kept changing while this change was applied; push it again.'
/** CONFLICT is transient only as a deadlock, a serialization failure or a record that kept changing: an id or a
 * unique value taken, or a delete other records restrict, would be refused again. */
const TRANSIENT_CONFLICTS: ReadonlySet<string | undefined> = new Set([
  fromPgError({ code: '40001' })?.message,
  fromPgError({ code: '40P01' })?.message,
  BUSY,
])

function isTransient(err: unknown): boolean {
  if (!(err instanceof AppError)) return true
  return TRANSIENT_CODES.has(err.code) || (err.code === 'CONFLICT' && TRANSIENT_CONFLICTS.has(err.message))
}

/**
 * POST /api/sync/push: the mutations in order, each in its own transaction with its sync_mutations row, so that
 * one refused (rules, validation, sync off) leaves the others applied, and a retried push (the same principal,
 * client and mutation id) answers with the first result and writes nothing. Writes go through the records
 * service in that transaction: rules, validation, events, realtime and webhooks as for any write.
 * A mutation that fails for a reason that may pass (the database busy, a deadlock, a merge function out of
 * time, a fault) stores nothing and ends the push with 503 UNAVAILABLE: the ones before it stay applied, and
 * the client's retry replays them and goes on in order from it.
 * Merge functions run outside any transaction (pushOne), MAX_MERGES_PER_PUSH at most per push: a push that
 * reaches that answers the mutations before the next one that needs a merge, and the client sends the rest again.
 */
export async function pushMutations(
  deps: PushDeps,
  p: Principal,
  req: SyncPushRequest,
): Promise<SyncPushResponse> {
  if (p.kind === 'anonymous')
    throw errors.unauthorized('Sign in to push changes: a push is applied as a user (or an API key).')
  const results: SyncMutationResult[] = []
  const budget: MergeBudget = { left: MAX_MERGES_PER_PUSH, first: true }
  for (const m of req.mutations) {
    try {
      budget.first = results.length === 0
      const r = await pushOne(deps, p, req.clientId, m, budget)
      if (!r) {
        deps.log.debug(
          { answered: results.length, sent: req.mutations.length },
          'a push reached its merge function runs: the client pushes the rest again',
        )
        break
      }
      results.push(r)
    } catch (err) {
      // What failed, never the data: a database error's message may quote a value.
      deps.log.warn(
        {
          collection: m.collection,
          mutation: m.id,
          op: m.op,
          code:
            err instanceof AppError ? err.code : ((err as { code?: unknown })?.code ?? (err as Error)?.name),
        },
        'a pushed mutation failed for a reason that may pass: the push is refused, for the client to retry',
      )
      throw new AppError(
        'UNAVAILABLE',
        'A change could not be applied just now; push again shortly (the changes before it were applied).',
        { mutation: m.id },
      )
    }
  }
  return { results }
}

/** Merge function runs the push may still make; `first`: no mutation of the push answered yet. */
interface MergeBudget {
  left: number
  first: boolean
}

/**
 * A merge the mutation's transaction needs: thrown out of it (it rolls back, its claim with it) for the function
 * to run with no transaction open. `event` is what the function gets, computed against `version` of the record.
 */
class NeedsMerge extends Error {
  constructor(
    readonly fnName: string,
    readonly event: SyncMergeEvent,
    readonly version: number,
    readonly updated: number,
  ) {
    super('a merge function must run outside the transaction')
  }
}

/** A merge function's answer (or refusal, an AppError), good for the record at `version` (and `updated`) only. */
interface Merged {
  readonly fnName: string
  readonly version: number
  readonly updated: number
  readonly outcome: { readonly result: SyncMergeResult } | { readonly error: AppError }
}

/**
 * One mutation: its transaction claims the mutation id, applies it and stores its result. A conflict under the
 * `function` policy rolls that transaction back (NeedsMerge), runs the function with no transaction open (no
 * connection, no row lock held while it runs), then runs the transaction again with its answer, which applies if
 * the record is still at the version it was merged against; else the function runs again on the newer record,
 * MAX_TRIES times at most (then busy: transient). Undefined: the push used up its merge function runs before
 * this mutation was answered (nothing stored for it).
 */
async function pushOne(
  deps: PushDeps,
  p: Principal,
  clientId: string,
  m: SyncMutation,
  budget: MergeBudget,
): Promise<SyncMutationResult | undefined> {
  let stored: Stored | undefined
  let merged: Merged | undefined
  let merges = 0
  // Twice at most: the first result may be purged (retention) between the claim that fails and its read.
  for (let lost = 0; !stored && lost < 2; ) {
    try {
      stored = await claimAndDecide(deps, p, clientId, m, merged)
      if (!stored) lost++
    } catch (err) {
      if (!(err instanceof NeedsMerge)) throw err
      if (merges >= MAX_TRIES) busy(deps, m)
      if (budget.left <= 0 && !budget.first) return undefined
      budget.left--
      merges++
      merged = {
        fnName: err.fnName,
        version: err.version,
        updated: err.updated,
        outcome: await runMergeFunction(deps, err.fnName, err.event),
      }
    }
  }
  if (!stored) throw errors.conflict('This mutation is being applied by another request; push again.')
  // The record as it is now and as the caller may see it (null: gone, or hidden by the view rule), read after
  // the commit: a replay gets the current record too, never one that stayed in the table.
  const record = deps.collections.find(m.collection)
    ? await visible(deps.records, m.collection, m.recordId, p)
    : null
  return { id: m.id, ...stored, record } satisfies SyncMutationResult
}

/**
 * The merge function's answer, or its refusal (FUNCTION_FAILED, FUNCTION_NOT_FOUND: the mutation's rejection once
 * the transaction runs again); a failure that may pass (FUNCTION_TIMEOUT, a fault) is thrown: nothing is stored.
 */
async function runMergeFunction(
  deps: PushDeps,
  fnName: string,
  event: SyncMergeEvent,
): Promise<Merged['outcome']> {
  try {
    return { result: await deps.merge(fnName, event) }
  } catch (err) {
    if (isTransient(err)) throw err
    return { error: err as AppError }
  }
}

/**
 * The mutation's transaction: its key claimed, then applied (`merged`: a merge function's answer, from a previous
 * run of this transaction). Undefined: the result stored by an earlier push was purged meanwhile.
 */
async function claimAndDecide(
  deps: PushDeps,
  p: Principal,
  clientId: string,
  m: SyncMutation,
  merged: Merged | undefined,
): Promise<Stored | undefined> {
  // Mutation ids are unique per principal and client (sync_mutations.principal).
  const key = principalId(p)
  const where = sql`principal = ${key} AND client_id = ${clientId}::uuid AND mutation_id = ${m.id}`
  return inTransaction(deps.db, async (tx) => {
    // The key first: the same mutation pushed concurrently waits on it until this transaction ends, then
    // reads the result it stored; the loser never writes.
    const claim = await sql`INSERT INTO bastide.sync_mutations (principal, client_id, mutation_id, result)
      VALUES (${key}, ${clientId}::uuid, ${m.id}, '{}'::jsonb) ON CONFLICT DO NOTHING RETURNING 1`.execute(
      tx.db,
    )
    if (claim.rows.length === 0) {
      const prior = await sql<{
        result: Stored
      }>`SELECT result FROM bastide.sync_mutations WHERE ${where}`.execute(tx.db)
      return prior.rows[0]?.result
    }
    const result = await decide(deps, tx, p, m, merged)
    await sql`UPDATE bastide.sync_mutations SET result = ${JSON.stringify(result)}::jsonb WHERE ${where}`.execute(
      tx.db,
    )
    return result
  })
}

/**
 * One mutation's work in transaction `tx`: a refusal is its answer (rejected), never an error of the push. A
 * transient failure is thrown: the transaction rolls back with its claim, so nothing is stored for it.
 */
async function decide(
  deps: PushDeps,
  tx: Tx,
  p: Principal,
  m: SyncMutation,
  merged: Merged | undefined,
): Promise<Stored> {
  try {
    const c = deps.collections.get(m.collection)
    const settings = await deps.settings.get(m.collection)
    if (!settings?.enabled)
      throw new AppError('SYNC_DISABLED', `Offline sync is not enabled for the ${c.name} collection.`)
    // The device's clock may run ahead: an edit is never later than its arrival.
    const at = Date.parse(m.at)
    const clientAt = Math.min(Number.isNaN(at) ? 0 : at, Date.now())
    const x: Ctx = { deps, tx, p, m, c, settings, clientAt, merged }
    if (m.op === 'create') return await create(x)
    if (m.op === 'update') return await update(x)
    return await remove(x)
  } catch (err) {
    // A merge to run first (NeedsMerge) is not an AppError: thrown, as a transient failure is.
    if (!isTransient(err)) return { status: 'rejected', error: (err as AppError).toBody() }
    throw err
  }
}

interface Ctx {
  readonly deps: PushDeps
  readonly tx: Tx
  readonly p: Principal
  readonly m: SyncMutation
  readonly c: Collection
  readonly settings: SyncCollectionSettings
  /** The client's `at`, clamped to the server's clock (ms). */
  readonly clientAt: number
  /** The merge function's answer from a previous run of this mutation's transaction. */
  readonly merged: Merged | undefined
}

/**
 * create: the record with the client's id. An id that exists already (the create sent again under another
 * mutation id, or two devices that made the same id) is an update of every field sent, on base version 0: a
 * conflict the policy resolves, without a base (lww_field: every field counts as changed on both sides).
 */
async function create(x: Ctx): Promise<Stored> {
  const { deps, tx, p, m, c } = x
  const { id: _, ...data } = m.data ?? {}
  const body = { ...data, id: m.recordId }
  for (let i = 0; i < MAX_TRIES; i++) {
    const current = await readRow(tx, c, m.recordId)
    if (!current) {
      try {
        await attempt(tx, (t) => deps.records.create(c.name, body, p, { tx: t }))
        return { status: 'applied' }
      } catch (err) {
        // Created by a concurrent write since the read: resolved against it on the next round.
        if (err instanceof AppError && err.code === 'CONFLICT' && (await readRow(tx, c, m.recordId))) continue
        throw err
      }
    }
    try {
      await checkWritable(tx, (t) => deps.records.update(c.name, m.recordId, data, p, { tx: t, ifMatch: -1 }))
    } catch (err) {
      if (isTransient(err)) throw err
      // The caller may not write over that record: the answer is the records API's to this create (its rule's
      // 403, or 409 for an id taken), which says no more than it would.
      await attempt(tx, (t) => deps.records.create(c.name, body, p, { tx: t }))
      return { status: 'applied' }
    }
    const r = await resolveWrite(x, 'create', data, current, undefined)
    if (r) return r
  }
  return busy(deps, m)
}

/**
 * update: applied as sent when `baseVersion` is absent or still the record's version (If-Match on it, so a write
 * in between is caught and resolved again); otherwise a conflict the collection's policy resolves. An update of
 * a deleted record is resolved as the server's (record null: the client drops its copy), whatever the policy.
 */
async function update(x: Ctx): Promise<Stored> {
  const { deps, tx, p, m, c } = x
  const data = m.data ?? {}
  for (let i = 0; i < MAX_TRIES; i++) {
    const current = await readRow(tx, c, m.recordId)
    if (!current) {
      // Only a record the log saw deleted while the caller could view it: any other id answers as the records
      // API does, not found, so that a push tells no more of an id than a read would.
      if (await wasDeleted(x)) return resolved(x, { serverVersion: null, fields: [], outcome: 'server' })
      throw errors.notFound('Record')
    }
    const version = current.version as number
    if (m.baseVersion === undefined || m.baseVersion === version) {
      if (
        await write(tx, (t) => deps.records.update(c.name, m.recordId, data, p, { tx: t, ifMatch: version }))
      )
        return { status: 'applied' }
      continue
    }
    await checkWritable(tx, (t) => deps.records.update(c.name, m.recordId, data, p, { tx: t, ifMatch: -1 }))
    const base = await recordAtVersion(tx.db, c, m.recordId, m.baseVersion)
    const r = await resolveWrite(x, 'update', data, current, base)
    if (r) return r
  }
  return busy(deps, m)
}

/**
 * delete: applied when `baseVersion` is absent or current; a record already gone is applied too (null). On a
 * stale base: server_wins keeps the record, client_wins deletes it, lww_field deletes it when the client's `at`
 * is not before the record's `updated`, and a merge function keeps it by returning `{ keep: 'server' }` (any
 * `{ data }` lets the delete through; its data is not written).
 */
async function remove(x: Ctx): Promise<Stored> {
  const { deps, tx, p, m, c, settings } = x
  for (let i = 0; i < MAX_TRIES; i++) {
    const current = await readRow(tx, c, m.recordId)
    if (!current) return { status: 'applied' }
    const version = current.version as number
    const del = (v: number) => (t: Tx) => deps.records.remove(c.name, m.recordId, p, { tx: t, ifMatch: v })
    if (m.baseVersion === undefined || m.baseVersion === version) {
      if (await write(tx, del(version))) return { status: 'applied' }
      continue
    }
    await checkWritable(tx, del(-1))
    let deletes: boolean
    if (settings.conflict === 'server_wins') deletes = false
    else if (settings.conflict === 'client_wins') deletes = true
    else if (settings.conflict === 'lww_field') deletes = deleteWins(x.clientAt, updatedOf(current))
    else {
      const base = await recordAtVersion(tx.db, c, m.recordId, m.baseVersion)
      deletes = !('keep' in runMerge(x, 'delete', {}, current, base))
    }
    if (!deletes) return resolved(x, { serverVersion: version, fields: [], outcome: 'server' })
    if (await write(tx, del(version)))
      return resolved(x, { serverVersion: version, fields: [], outcome: 'client' })
  }
  return busy(deps, m)
}

/**
 * Resolves a conflicting create or update against `current` by the collection's policy and writes the outcome
 * at `current`'s version; undefined when the record moved on meanwhile (the caller resolves it again).
 */
async function resolveWrite(
  x: Ctx,
  op: 'create' | 'update',
  data: Rec,
  current: Rec,
  base: Rec | undefined,
): Promise<Stored | undefined> {
  const { deps, tx, p, m, c, settings } = x
  const conflict: UpdateConflict = {
    data,
    base,
    current,
    fields: c.fields.map((f) => f.name),
    clientAt: x.clientAt,
    serverAt: updatedOf(current),
  }
  let r: UpdateResolution
  if (settings.conflict === 'server_wins') r = serverWins()
  else if (settings.conflict === 'client_wins') r = clientWins(conflict)
  else if (settings.conflict === 'lww_field') r = lastWriterWins(conflict)
  else {
    const merged = runMerge(x, op, data, current, base)
    // Only what differs from the record: a function that returns the whole record (system and hidden fields
    // included) writes its changes, not fields the caller may not set.
    const write = 'keep' in merged ? {} : changes(merged.data, current)
    r = Object.keys(write).length ? { write, outcome: 'merged' } : { write: undefined, outcome: 'server' }
  }
  const version = current.version as number
  const info = { serverVersion: version, fields: bothChanged(conflict), outcome: r.outcome }
  const fields = r.write
  if (!fields) return resolved(x, info)
  const ok = await write(tx, (t) =>
    deps.records.update(c.name, m.recordId, fields, p, { tx: t, ifMatch: version }),
  )
  return ok ? resolved(x, info) : undefined
}

/**
 * The merge function's answer for `current`: the one computed against its version (and `updated`) by a previous
 * run of the transaction, else NeedsMerge is thrown, which rolls the transaction back for the function to run
 * with none open. A refusal of the function is thrown here, as the mutation's rejection.
 */
function runMerge(
  x: Ctx,
  op: SyncMutation['op'],
  data: Rec,
  current: Rec,
  base: Rec | undefined,
): SyncMergeResult {
  const fnName = x.settings.mergeFunction ?? ''
  const version = current.version as number
  const updated = updatedOf(current)
  const m = x.merged
  if (m && m.fnName === fnName && m.version === version && m.updated === updated) {
    if ('error' in m.outcome) throw m.outcome.error
    return m.outcome.result
  }
  const shape = (r: Rec) => shapeRecord(x.c, r, true) as SyncRecord
  const event: SyncMergeEvent = {
    trigger: 'sync',
    collection: x.c.name,
    recordId: x.m.recordId,
    base: base ? shape(base) : null,
    server: shape(current),
    client: { op, data, at: x.m.at },
  }
  throw new NeedsMerge(fnName, event, version, updated)
}

function resolved(x: Ctx, info: Omit<SyncConflictInfo, 'policy'>): Stored {
  return { status: 'resolved', conflict: { policy: x.settings.conflict, ...info } }
}

/** The record kept changing while it was resolved: transient, the push is refused and retried. */
function busy(deps: PushDeps, m: SyncMutation): never {
  deps.log.warn(
    { collection: m.collection, record: m.recordId },
    'a pushed mutation could not be resolved: the record kept changing',
  )
  throw errors.conflict(BUSY)
}

/** The record's row as the records service reads it (unshaped), or undefined when there is none. */
async function readRow(tx: Tx, c: Collection, id: string): Promise<Rec | undefined> {
  const res =
    await sql<Rec>`SELECT ${selectList(c)} FROM ${tableOf(c)} AS r WHERE r.id = ${id}::uuid`.execute(tx.db)
  return res.rows[0]
}

/**
 * Whether the log saw the record deleted and the caller could view it then: its last delete's `previous`, read
 * as a row of the table (columns added since read null), passes the view rule, as pull's removals do.
 */
async function wasDeleted(x: Ctx): Promise<boolean> {
  const { deps, tx, p, c, m } = x
  const view = authorize(p, {
    rule: c.rules.view,
    scope: 'records:read',
    schema: c,
    lookup: (n) => deps.collections.find(n),
    request: { method: 'GET' },
  })
  // Its own multiple relations as logged with that state: the join table lost them with the record.
  const visible = pastPredicate(view, sql`d.previous`) ?? sql`TRUE`
  const rows = await readPast(
    tx.db,
    sql`SELECT 1 FROM (SELECT l.previous FROM bastide.sync_log l
        WHERE l.collection_id = ${c.id} AND l.record_id = ${m.recordId}::uuid AND l.op = 'd'
          AND l.previous IS NOT NULL
        ORDER BY l.id DESC LIMIT 1) AS d
      CROSS JOIN LATERAL jsonb_populate_record(NULL::${tableOf(c)}, d.previous) AS r
      WHERE ${visible}`,
  )
  return (rows?.length ?? 0) > 0
}

const updatedOf = (row: Rec): number => new Date(row.updated as Date | string).getTime()

/** The fields of `data` that differ from `current`'s, system fields aside. */
function changes(data: Readonly<Rec>, current: Rec): Rec {
  const out: Rec = {}
  for (const [k, v] of Object.entries(data))
    if (!(SYSTEM_FIELDS as readonly string[]).includes(k) && !sameValue(v, current[k])) out[k] = v
  return out
}

/**
 * Runs `fn` in a savepoint of `tx`: a failed write (a constraint, a stale version) rolls back alone and the
 * transaction goes on; the after-commit hooks of a rolled-back write are dropped with it.
 */
async function attempt<T>(tx: Tx, fn: (t: Tx) => Promise<T>): Promise<T> {
  const hooks: (() => void)[] = []
  await sql`SAVEPOINT bst_sync`.execute(tx.db)
  let out: T
  try {
    out = await fn({ db: tx.db, afterCommit: (h) => hooks.push(h) })
  } catch (err) {
    await sql`ROLLBACK TO SAVEPOINT bst_sync`.execute(tx.db)
    throw err
  }
  await sql`RELEASE SAVEPOINT bst_sync`.execute(tx.db)
  for (const h of hooks) tx.afterCommit(h)
  return out
}

/** A write at a version: false when the record moved on since (VERSION_MISMATCH); other refusals throw. */
async function write(tx: Tx, fn: (t: Tx) => Promise<unknown>): Promise<boolean> {
  try {
    await attempt(tx, fn)
    return true
  } catch (err) {
    if (err instanceof AppError && err.code === 'VERSION_MISMATCH') return false
    throw err
  }
}

/**
 * Whether the caller may write this record, writing nothing: `ifMatch: -1` matches no row, so the records service
 * answers after its own access check and validation of the body: 409 with the version when the caller could have
 * written it, its refusal (404 for a record the rules hide, 400 for a bad field) when not, which is thrown.
 */
async function checkWritable(tx: Tx, fn: (t: Tx) => Promise<unknown>): Promise<void> {
  if (await write(tx, fn)) throw new Error('a write at version -1 was applied')
}

async function visible(records: RecordsService, collection: string, id: string, p: Principal) {
  try {
    return (await records.view(collection, id, p)) as SyncRecord
  } catch (err) {
    if (err instanceof AppError && err.status < 500) return null
    throw err
  }
}
