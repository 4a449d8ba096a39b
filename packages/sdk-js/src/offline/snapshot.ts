import type { OfflineBatch, OfflineSnapshot, QueuedMutation, SyncRecord } from './types.ts'

/** A store's data in memory, for the stores that keep it there (memory, file). */
export interface MutableSnapshot {
  readonly records: Map<string, Map<string, SyncRecord>>
  readonly outbox: Map<string, QueuedMutation>
  readonly meta: Map<string, unknown>
}

export function emptySnapshot(): MutableSnapshot {
  return { records: new Map(), outbox: new Map(), meta: new Map() }
}

/** Applies a batch in its documented order: clear, remove, put, dequeue, enqueue, meta. */
export function applyBatch(s: MutableSnapshot, b: OfflineBatch): void {
  for (const c of b.clear ?? []) s.records.delete(c)
  for (const [c, id] of b.remove ?? []) s.records.get(c)?.delete(id)
  for (const [c, r] of b.put ?? []) {
    let m = s.records.get(c)
    if (!m) s.records.set(c, (m = new Map()))
    m.set(r.id, r)
  }
  for (const id of b.dequeue ?? []) s.outbox.delete(id)
  // Map.set on a known key keeps its place: a replaced mutation stays where it was queued.
  for (const m of b.enqueue ?? []) s.outbox.set(m.id, m)
  for (const [k, v] of Object.entries(b.meta ?? {})) {
    if (v === null || v === undefined) s.meta.delete(k)
    else s.meta.set(k, v)
  }
}

export function toSnapshot(s: MutableSnapshot): OfflineSnapshot {
  const records: Record<string, SyncRecord[]> = {}
  for (const [c, m] of s.records) if (m.size > 0) records[c] = [...m.values()]
  return {
    records,
    outbox: [...s.outbox.values()].sort((a, b) => a.seq - b.seq),
    meta: Object.fromEntries(s.meta),
  }
}

export function fromSnapshot(snap: OfflineSnapshot): MutableSnapshot {
  const s = emptySnapshot()
  for (const [c, rows] of Object.entries(snap.records)) s.records.set(c, new Map(rows.map((r) => [r.id, r])))
  for (const m of [...snap.outbox].sort((a, b) => a.seq - b.seq)) s.outbox.set(m.id, m)
  for (const [k, v] of Object.entries(snap.meta)) s.meta.set(k, v)
  return s
}
