import { createHash } from 'node:crypto'
import { errors } from '../../errors/index.ts'
import type { Collection } from '../collections/types.ts'

/** A position in the change log, (xid, id) as decimal strings (both are bigint). */
export interface Position {
  readonly xid: string
  readonly id: string
}

/** Past every log id: `(xmin - 1, MAX_ID)` stands for "every entry of a finished transaction below xmin". */
export const MAX_ID = '9223372036854775807'

/**
 * What a `/changes` cursor holds. `initial`: records by id after `after` (null: from the start), then the log
 * from `start`, the position captured when the initial sync began. `delta`: the log after `at`.
 */
export type SyncCursor = {
  /** The collection's id: a cursor for a collection deleted and created again resyncs. */
  readonly collection: string
  /**
   * sha256 of the filter and of the collection's fields and rules, shortened: a cursor reused with another filter,
   * or issued before a change of fields or rules, resyncs.
   */
  readonly filter: string
  /** The collection's horizon when the cursor was issued (see settings.ts). */
  readonly horizon: string
} & (
  | { readonly phase: 'initial'; readonly start: Position; readonly after: string | null }
  | { readonly phase: 'delta'; readonly at: Position }
)

/** JSON with object keys sorted: a collection read back from jsonb has its keys in another order. */
export const stableJson = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  )

// Collection objects are replaced, never mutated, on a schema change.
const shapes = new WeakMap<Collection, string>()

/** What decides which records a query sees and how they look: the collection's fields and rules. */
export function shapeOf(c: Collection): string {
  let s = shapes.get(c)
  if (s === undefined) shapes.set(c, (s = `${stableJson(c.fields)}\n${stableJson(c.rules)}`))
  return s
}

export const queryHash = (c: Collection, filter: string): string =>
  createHash('sha256')
    .update(`${filter.trim()}\n${shapeOf(c)}`)
    .digest('base64url')
    .slice(0, 16)

const pos = (p: Position) => `${p.xid}.${p.id}`

/** `v1.<collection>.<filter>.<horizon xid>.<horizon id>.i.<xid>.<id>[.<after>]` or `…d.<xid>.<id>`, base64url. */
export function encodeSyncCursor(c: SyncCursor): string {
  const tail = c.phase === 'initial' ? `i.${pos(c.start)}${c.after ? `.${c.after}` : ''}` : `d.${pos(c.at)}`
  return Buffer.from(`v1.${c.collection}.${c.filter}.${c.horizon}.${tail}`).toString('base64url')
}

const BIGINT = /^(0|[1-9]\d{0,18})$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ID = /^[A-Za-z0-9_-]{1,64}$/

const NOT_OURS = 'The cursor is malformed: pass back a `cursor` from an earlier page, or none to start over.'

/** The cursor, or INVALID_CURSOR (400) for anything this server did not issue. */
export function decodeSyncCursor(raw: string): SyncCursor {
  if (raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw errors.invalidCursor(NOT_OURS)
  const parts = Buffer.from(raw, 'base64url').toString('utf8').split('.')
  const [v, collection, filter, hx, hi, phase, x, i, after] = parts
  const ok =
    v === 'v1' &&
    ID.test(collection ?? '') &&
    /^[A-Za-z0-9_-]{16}$/.test(filter ?? '') &&
    [hx, hi, x, i].every((n) => BIGINT.test(n ?? '') && BigInt(n!) <= BigInt(MAX_ID)) &&
    ((phase === 'i' && (parts.length === 8 || (parts.length === 9 && UUID.test(after ?? '')))) ||
      (phase === 'd' && parts.length === 8))
  if (!ok) throw errors.invalidCursor(NOT_OURS)
  const base = { collection: collection!, filter: filter!, horizon: `${hx}.${hi}` }
  const p = { xid: x!, id: i! }
  return phase === 'i'
    ? { ...base, phase: 'initial', start: p, after: parts.length === 9 ? after! : null }
    : { ...base, phase: 'delta', at: p }
}

/** (a.xid, a.id) compared with (b.xid, b.id). */
export function comparePositions(a: Position, b: Position): number {
  const dx = BigInt(a.xid) - BigInt(b.xid)
  if (dx !== 0n) return dx < 0n ? -1 : 1
  const di = BigInt(a.id) - BigInt(b.id)
  return di === 0n ? 0 : di < 0n ? -1 : 1
}
