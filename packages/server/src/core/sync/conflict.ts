import type { SyncConflictInfo } from '@bastide/protocol'
import type { Rec } from '../records/service.ts'

/** What a conflicting update turns into: the fields to write over the server's record (none: keep it). */
export interface UpdateResolution {
  readonly write: Rec | undefined
  readonly outcome: SyncConflictInfo['outcome']
}

export interface UpdateConflict {
  /** The client's fields (only those its edit changed). */
  readonly data: Rec
  /** The record at the client's base version (a read row, like current), or undefined when the log lost it. */
  readonly base: Rec | undefined
  readonly current: Rec
  /** The collection's fields (system fields aside): what the server may have changed. */
  readonly fields: readonly string[]
  /** When the client made its edit, clamped to the server's clock (ms). */
  readonly clientAt: number
  /** The record's `updated` (ms). */
  readonly serverAt: number
}

/** The fields the server changed since `base`: those whose value differs (every field when base is unknown). */
export function serverChanged(base: Rec | undefined, current: Rec, fields: readonly string[]): Set<string> {
  return new Set(fields.filter((f) => !base || !Object.hasOwn(base, f) || !sameValue(base[f], current[f])))
}

/** Fields both sides changed since the base: what `conflict.fields` reports (empty when the base is unknown). */
export function bothChanged(c: UpdateConflict): string[] {
  if (!c.base) return []
  const server = serverChanged(c.base, c.current, Object.keys(c.data))
  return Object.keys(c.data).filter((f) => server.has(f))
}

/** server_wins: the write is dropped. */
export const serverWins = (): UpdateResolution => ({ write: undefined, outcome: 'server' })

/** client_wins: every field the client sent goes over the server's record. */
export const clientWins = (c: UpdateConflict): UpdateResolution => ({
  write: { ...c.data },
  outcome: 'client',
})

/**
 * lww_field: a field only the client changed is written; a field both changed (since the base) goes to the later
 * edit, the client's `at` against the record's `updated` (a tie to the client, whose write arrives last). Without
 * the base (past the log's retention, or a create over an existing id) every client field counts as changed on
 * both sides. The outcome says whose data the record holds: the server's when nothing of the client's was written,
 * the client's when all of it was and the server changed nothing else, else merged.
 */
export function lastWriterWins(c: UpdateConflict): UpdateResolution {
  const keys = Object.keys(c.data)
  const server = serverChanged(c.base, c.current, keys)
  const clientLater = c.clientAt >= c.serverAt
  const write: Rec = {}
  for (const k of keys) if (!server.has(k) || clientLater) write[k] = c.data[k]
  const written = Object.keys(write).length
  if (written === 0) return { write: undefined, outcome: 'server' }
  const serverKept = c.base
    ? [...serverChanged(c.base, c.current, c.fields)].some((f) => !Object.hasOwn(write, f))
    : false
  return { write, outcome: written === keys.length && !serverKept ? 'client' : 'merged' }
}

/** A stale delete under lww_field: it applies when the client deleted after the server's last write. */
export const deleteWins = (clientAt: number, serverAt: number): boolean => clientAt >= serverAt

/** Equality of two column values as read (Dates by instant, arrays and JSON by content, key order aside). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return instant(a) === instant(b)
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const y = b as unknown[]
    return a.length === y.length && a.every((v, i) => sameValue(v, y[i]))
  }
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  const kx = Object.keys(x)
  return kx.length === Object.keys(y).length && kx.every((k) => Object.hasOwn(y, k) && sameValue(x[k], y[k]))
}

function instant(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime()
  if (typeof v === 'string') {
    const t = Date.parse(v)
    return Number.isNaN(t) ? undefined : t
  }
  return undefined
}
