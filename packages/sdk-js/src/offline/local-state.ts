import { applyBatch, type MutableSnapshot } from './snapshot.ts'
import type { OfflineBatch, OfflineSnapshot, QueuedMutation, SyncRecord } from './types.ts'

const key = (collection: string, id: string): string => `${collection}\u0000${id}`

/**
 * The client's copy of the store in memory: the server's records, the outbox, and the view the app reads,
 * which is each server record with the queued writes replayed over it (so a pull never hides an unsent edit,
 * and a refused write disappears by leaving the outbox).
 */
export class LocalState {
  readonly #s: MutableSnapshot = { records: new Map(), outbox: new Map(), meta: new Map() }
  readonly #view = new Map<string, Map<string, SyncRecord>>()
  readonly #pending = new Map<string, QueuedMutation[]>()
  #seq = 0

  load(snap: OfflineSnapshot): Set<string> {
    const changed = new Set<string>()
    for (const [c, rows] of Object.entries(snap.records)) {
      this.#s.records.set(c, new Map(rows.map((r) => [r.id, r])))
      changed.add(c)
    }
    for (const m of [...snap.outbox].sort((a, b) => a.seq - b.seq)) {
      this.#s.outbox.set(m.id, m)
      changed.add(m.collection)
    }
    for (const [k, v] of Object.entries(snap.meta)) this.#s.meta.set(k, v)
    this.#rebuildPending()
    for (const c of changed) this.#recomputeCollection(c)
    return changed
  }

  /** Applies a batch the store has written; returns the collections whose view changed. */
  apply(b: OfflineBatch): Set<string> {
    const touched = new Map<string, Set<string>>()
    const touch = (c: string, id: string) => {
      let s = touched.get(c)
      if (!s) touched.set(c, (s = new Set()))
      s.add(id)
    }
    for (const [c, id] of b.remove ?? []) touch(c, id)
    for (const [c, r] of b.put ?? []) touch(c, r.id)
    for (const id of b.dequeue ?? []) {
      const m = this.#s.outbox.get(id)
      if (m) touch(m.collection, m.recordId)
    }
    for (const m of b.enqueue ?? []) {
      touch(m.collection, m.recordId)
      this.#seq = Math.max(this.#seq, m.seq)
    }
    applyBatch(this.#s, b)
    this.#rebuildPending(touched)
    const changed = new Set<string>()
    for (const c of b.clear ?? []) {
      this.#recomputeCollection(c)
      changed.add(c)
    }
    for (const [c, ids] of touched) {
      for (const id of ids) if (this.#recompute(c, id)) changed.add(c)
    }
    return changed
  }

  /** The records the app sees, by id. */
  view(collection: string): ReadonlyMap<string, SyncRecord> {
    return this.#view.get(collection) ?? EMPTY
  }

  server(collection: string, id: string): SyncRecord | undefined {
    return this.#s.records.get(collection)?.get(id)
  }

  /** The queued writes of one record, oldest first. */
  pending(collection: string, id: string): readonly QueuedMutation[] {
    return this.#pending.get(key(collection, id)) ?? []
  }

  get outbox(): IterableIterator<QueuedMutation> {
    return this.#s.outbox.values()
  }

  get outboxSize(): number {
    return this.#s.outbox.size
  }

  mutation(id: string): QueuedMutation | undefined {
    return this.#s.outbox.get(id)
  }

  meta(k: string): unknown {
    return this.#s.meta.get(k)
  }

  /** The collections the store holds records of. */
  collections(): string[] {
    return [...this.#s.records.keys()]
  }

  metaEntries(): IterableIterator<[string, unknown]> {
    return this.#s.meta.entries()
  }

  nextSeq(): number {
    return ++this.#seq
  }

  /** Records of `collection` with queued writes: kept through a resync. */
  serverCopiesWithPending(collection: string): SyncRecord[] {
    const out: SyncRecord[] = []
    for (const m of this.#s.outbox.values()) {
      if (m.collection !== collection) continue
      const r = this.server(collection, m.recordId)
      if (r && !out.includes(r)) out.push(r)
    }
    return out
  }

  #rebuildPending(only?: Map<string, Set<string>>): void {
    if (only) for (const [c, ids] of only) for (const id of ids) this.#pending.delete(key(c, id))
    else this.#pending.clear()
    for (const m of this.#s.outbox.values()) {
      // The outbox is in seq order, so each record's list is too.
      if (only && !only.get(m.collection)?.has(m.recordId)) continue
      const k = key(m.collection, m.recordId)
      const list = this.#pending.get(k)
      if (list) list.push(m)
      else this.#pending.set(k, [m])
      this.#seq = Math.max(this.#seq, m.seq)
    }
  }

  #recomputeCollection(c: string): void {
    this.#view.delete(c)
    const ids = new Set(this.#s.records.get(c)?.keys())
    for (const m of this.#s.outbox.values()) if (m.collection === c) ids.add(m.recordId)
    for (const id of ids) this.#recompute(c, id)
  }

  /** Replays the record's queued writes over the server's copy; says whether the view changed. */
  #recompute(c: string, id: string): boolean {
    let r = this.#s.records.get(c)?.get(id)
    for (const m of this.pending(c, id)) r = replay(r, m)
    let v = this.#view.get(c)
    const before = v?.get(id)
    if (r === before) return false
    if (r) {
      if (!v) this.#view.set(c, (v = new Map()))
      v.set(id, r)
    } else v?.delete(id)
    return true
  }
}

const EMPTY: ReadonlyMap<string, SyncRecord> = new Map()

function replay(r: SyncRecord | undefined, m: QueuedMutation): SyncRecord | undefined {
  switch (m.op) {
    case 'create':
      // Created here and not acknowledged yet: version 0 until the server answers.
      return {
        ...r,
        ...m.data,
        id: m.recordId,
        created: r?.created ?? m.at,
        updated: m.at,
        version: r?.version ?? 0,
      } as SyncRecord
    case 'update':
      return r && ({ ...r, ...m.data, id: r.id, updated: m.at } as SyncRecord)
    case 'delete':
      return undefined
  }
}
