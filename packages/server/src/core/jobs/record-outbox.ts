import type { RecordAction, RecordEvent } from '@bastide/protocol'
import type { Tx } from '../../db/transaction.ts'
import { jobIdFrom } from './job-id.ts'
import type { Jobs } from './types.ts'

export type RecordWants = (collection: string, action: RecordAction) => boolean

/** Durable record events, as modules subscribe to them. */
export interface RecordOutbox {
  /**
   * Record changes matching `wants` are enqueued to `queue` inside the writing transaction (payload: the
   * RecordEvent, with `previous` on update), so a crash after commit never loses one. `wants` runs on every
   * write: keep it to a lookup. Returns the unsubscribe function.
   */
  subscribe(queue: string, wants: RecordWants): () => void
}

/** What the records writer sees of it. */
export interface RecordOutboxSink {
  /** Whether any subscriber wants this change: false (no transaction, no job) when nobody subscribed. */
  wants(collection: string, action: RecordAction): boolean
  /** Enqueues the events to every subscriber that wants them, in `tx` (the write's transaction). */
  enqueue(tx: Tx, events: readonly RecordEvent[]): Promise<void>
}

export interface RecordOutboxHub extends RecordOutbox, RecordOutboxSink {
  /** Called by the jobs module once its queue runs; subscribing before that is a module-order mistake. */
  connect(send: Jobs['send']): void
}

/**
 * The records writer's outbox: created by the records module (the writer asks it on every write), connected
 * to the job queue by the jobs module, subscribed to by later modules (functions, webhooks).
 */
export function createRecordOutbox(): RecordOutboxHub {
  const subs = new Map<number, { queue: string; wants: RecordWants }>()
  let next = 0
  let send: Jobs['send'] | undefined
  return {
    connect(s) {
      send = s
    },
    subscribe(queue, wants) {
      if (!send) throw new Error('Durable record events need the jobs module (it starts after records).')
      const key = next++
      subs.set(key, { queue, wants })
      return () => {
        subs.delete(key)
      }
    },
    wants(collection, action) {
      if (subs.size === 0) return false
      for (const s of subs.values()) if (s.wants(collection, action)) return true
      return false
    },
    async enqueue(tx, events) {
      if (!send || subs.size === 0) return
      for (const e of events) {
        for (const s of subs.values()) {
          if (!s.wants(e.collection, e.action)) continue
          // One job per (queue, change): a write retried in the same transaction enqueues it once.
          await send(s.queue, e, { tx, id: jobIdFrom(s.queue, 'record', String(e.seq)) })
        }
      }
    },
  }
}
