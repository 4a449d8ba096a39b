import type { Logger } from 'pino'
import type { CollectionsService } from '../core/collections/service.ts'
import type { Collection } from '../core/collections/types.ts'
import type { Db } from '../db/create-db.ts'
import type { RecordEvent } from '../events/catalog.ts'
import type { RealtimeLimits } from './gateway.ts'
import type { RecordSub } from './record-subscriptions.ts'
import { matchChange, render } from './subscriptions.ts'

/**
 * Emits `change` for one subscription, shaped for its subscriber; held back while the subscription replays
 * missed changes. A connection whose writes pile up past the limit is dropped instead.
 */
export function deliver(
  s: RecordSub,
  e: RecordEvent,
  deps: { collections: CollectionsService; limits: RealtimeLimits; log: Logger },
): void {
  if (s.held) {
    s.held.push(e)
    return
  }
  const c = deps.collections.find(e.collection)
  if (!c) return
  const buffered = (s.socket.conn as unknown as { writeBuffer?: unknown[] }).writeBuffer?.length ?? 0
  if (buffered > deps.limits.maxBufferedPackets) {
    // A subscriber that cannot keep up is dropped rather than buffered without end; it reconnects with
    // its last sequence number and catches up from the window.
    deps.log.warn({ socket: s.socket.id, buffered }, 'realtime: dropping a slow connection')
    s.socket.disconnect(true)
    return
  }
  s.socket.emit('change', {
    subscriptionId: s.id,
    action: e.action,
    record: render(c, e.record, s.seeHidden),
    seq: e.seq,
  })
}

/** Of `events`, those `sub` would have received, in order (for replay). */
export async function matchEach(
  db: Db,
  c: Collection,
  sub: RecordSub,
  events: readonly RecordEvent[],
): Promise<RecordEvent[]> {
  const out: RecordEvent[] = []
  for (const e of events) {
    if (e.collection !== sub.collection) continue
    if ((await matchChange(db, c, e, [{ matcher: sub.matcher, recordId: sub.recordId }])).length) out.push(e)
  }
  return out
}
