import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
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

/** `v1.<collection>.<filter>.<horizon xid>.<horizon id>.i.<xid>.<id>[.<after>]` or `…d.<xid>.<id>`. */
function payloadOf(c: SyncCursor): string {
  const tail = c.phase === 'initial' ? `i.${pos(c.start)}${c.after ? `.${c.after}` : ''}` : `d.${pos(c.at)}`
  return `v1.${c.collection}.${c.filter}.${c.horizon}.${tail}`
}

const BIGINT = /^(0|[1-9]\d{0,18})$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ID = /^[A-Za-z0-9_-]{1,64}$/

const NOT_OURS = 'The cursor is malformed: pass back a `cursor` from an earlier page, or none to start over.'

/** The payload's fields, or undefined when it is not one payloadOf could have written. */
function parsePayload(text: string): SyncCursor | undefined {
  const parts = text.split('.')
  const [v, collection, filter, hx, hi, phase, x, i, after] = parts
  const ok =
    v === 'v1' &&
    ID.test(collection ?? '') &&
    /^[A-Za-z0-9_-]{16}$/.test(filter ?? '') &&
    [hx, hi, x, i].every((n) => BIGINT.test(n ?? '') && BigInt(n!) <= BigInt(MAX_ID)) &&
    ((phase === 'i' && (parts.length === 8 || (parts.length === 9 && UUID.test(after ?? '')))) ||
      (phase === 'd' && parts.length === 8))
  if (!ok) return undefined
  const base = { collection: collection!, filter: filter!, horizon: `${hx}.${hi}` }
  const p = { xid: x!, id: i! }
  return phase === 'i'
    ? { ...base, phase: 'initial', start: p, after: parts.length === 9 ? after! : null }
    : { ...base, phase: 'delta', at: p }
}

/** Bytes of HMAC-SHA256 a cursor carries. */
const MAC_BYTES = 16
const KEY_INFO = 'bastide/sync/cursors'

export interface SyncCursorCodec {
  /** The payload and its HMAC, base64url: an opaque, URL-safe string. */
  encode(c: SyncCursor): string
  /** The cursor, or INVALID_CURSOR (400) for anything this server (this BASTIDE_SECRET) did not issue. */
  decode(raw: string): SyncCursor
}

/**
 * Cursors are signed: HMAC-SHA256, cut to 16 bytes, of the payload, under a key of their own derived from
 * BASTIDE_SECRET (HKDF-SHA256, info `bastide/sync/cursors`), so a client cannot forge a position, a query hash or a
 * horizon it was never given, and a cursor from a server with another secret is refused.
 */
export function createSyncCursorCodec(serverSecret: string): SyncCursorCodec {
  const key = Buffer.from(
    hkdfSync('sha256', Buffer.from(serverSecret, 'utf8'), Buffer.alloc(0), KEY_INFO, 32),
  )
  const macOf = (payload: Buffer) => createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES)
  return {
    encode(c) {
      const payload = Buffer.from(payloadOf(c), 'utf8')
      return Buffer.concat([payload, macOf(payload)]).toString('base64url')
    },
    decode(raw) {
      if (raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw errors.invalidCursor(NOT_OURS)
      const bytes = Buffer.from(raw, 'base64url')
      // Only the encoding encode() writes: base64url's last character has spare bits another one would ignore.
      if (bytes.length <= MAC_BYTES || bytes.toString('base64url') !== raw)
        throw errors.invalidCursor(NOT_OURS)
      const payload = bytes.subarray(0, bytes.length - MAC_BYTES)
      if (!timingSafeEqual(macOf(payload), bytes.subarray(bytes.length - MAC_BYTES)))
        throw errors.invalidCursor(NOT_OURS)
      const c = parsePayload(payload.toString('utf8'))
      if (!c) throw errors.invalidCursor(NOT_OURS)
      return c
    },
  }
}

/** (a.xid, a.id) compared with (b.xid, b.id). */
export function comparePositions(a: Position, b: Position): number {
  const dx = BigInt(a.xid) - BigInt(b.xid)
  if (dx !== 0n) return dx < 0n ? -1 : 1
  const di = BigInt(a.id) - BigInt(b.id)
  return di === 0n ? 0 : di < 0n ? -1 : 1
}
