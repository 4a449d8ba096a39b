import type { Redis } from 'ioredis'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../db/create-db.ts'
import type { EventBus } from '../events/bus.ts'
import type { RecordEvent } from '../events/catalog.ts'
import { RingBuffer } from './ring-buffer.ts'

/**
 * Every committed record change, once per node, whichever node made it: local changes from the event bus,
 * other nodes' through Redis pub/sub. Keeps a bounded window of recent changes for clients that reconnect
 * with the last sequence number they saw.
 */
export interface ChangeFeed {
  /** Called once per change, local or remote, in arrival order. */
  onChange(handler: (e: RecordEvent) => void): () => void
  /**
   * The changes a client that last saw `seq` may have missed, oldest first — or 'resync' when this node
   * cannot tell (the window no longer reaches back that far, or changes were lost while Redis was down).
   */
  since(seq: number): RecordEvent[] | 'resync'
  close(): Promise<void>
}

export interface ChangeFeedOptions {
  readonly db: Db
  readonly bus: EventBus
  readonly log: Logger
  readonly nodeId: string
  /** Cross-node transport; without it this node sees its own changes only (a single node). */
  readonly redis?: { readonly pub: Redis; readonly sub: Redis; readonly prefix: string }
  /** Changes kept for replay. */
  readonly windowSize?: number
}

interface Arrived {
  readonly e: RecordEvent
  /** Order of arrival on this node (commit order, as near as this node can tell). */
  readonly n: number
  /** When it arrived (ms), and whether it was made on this node (rather than heard of through Redis). */
  readonly at: number
  readonly local: boolean
}

const DEFAULT_WINDOW = 10_000
/**
 * How far apart two nodes may see the same two changes arrive: a node has its own changes at once and other
 * nodes' a moment later through Redis, so their order differs between nodes by up to the Redis delay.
 */
const REORDER_SLACK_MS = 2000

export async function createChangeFeed(o: ChangeFeedOptions): Promise<ChangeFeed> {
  const windowSize = o.windowSize ?? DEFAULT_WINDOW
  const handlers = new Set<(e: RecordEvent) => void>()
  // Oldest first; a change past windowSize pushes out the oldest.
  const window = new RingBuffer<Arrived>(windowSize)
  let arrivals = 0
  /**
   * Every change with a sequence number above this has reached this node. Sequence numbers are taken in
   * the writing transaction and the change arrives after its commit, so they arrive slightly out of order;
   * `since` accounts for that by arrival order (below).
   */
  let coveredFrom = await currentSeq(o.db)

  const accept = (e: RecordEvent, local: boolean) => {
    const dropped = window.push({ e, n: ++arrivals, at: Date.now(), local })
    if (dropped) coveredFrom = Math.max(coveredFrom, dropped.e.seq)
    for (const h of handlers) {
      try {
        h(e)
      } catch (err) {
        o.log.error({ err }, 'realtime change handler failed')
      }
    }
  }

  const channel = o.redis ? `${o.redis.prefix}rt:changes` : undefined
  const offBus = (['record.created', 'record.updated', 'record.deleted'] as const).map((name) =>
    o.bus.on(name, (e) => {
      accept(e, true)
      if (o.redis && channel) {
        o.redis.pub.publish(channel, JSON.stringify({ n: o.nodeId, e })).catch((err: Error) =>
          // Local subscribers have it; other nodes will tell their clients to resync (see below).
          o.log.warn({ err: err.message }, 'realtime: could not publish a change to other nodes'),
        )
      }
    }),
  )

  if (o.redis && channel) {
    const sub = o.redis.sub
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return
      try {
        const m = JSON.parse(message) as { n: string; e: RecordEvent }
        if (m.n !== o.nodeId) accept(m.e, false)
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, 'realtime: unreadable change from Redis')
      }
    })
    let lost = false
    sub.on('close', () => {
      lost = true
    })
    // Back after an outage: changes other nodes made meanwhile never came, so the window only vouches
    // for what comes next.
    sub.on('ready', () => {
      if (!lost) return
      lost = false
      currentSeq(o.db)
        .then((s) => {
          coveredFrom = Math.max(coveredFrom, s)
          o.log.info('realtime: Redis is back; cross-node changes resume')
        })
        .catch(() => {
          coveredFrom = Number.MAX_SAFE_INTEGER
        })
    })
    await sub.subscribe(channel)
  }

  return {
    onChange(h) {
      handlers.add(h)
      return () => handlers.delete(h)
    },
    since(seq) {
      if (!Number.isSafeInteger(seq) || seq < coveredFrom) return 'resync'
      const seen = window.find((a) => a.e.seq === seq)
      // The client saw a change that never reached this node (lost on the way from the node that made it):
      // what else was lost with it cannot be told.
      if (seen === undefined && seq > coveredFrom) return 'resync'
      // Everything numbered after `seq`, and whatever numbered before it arrived after it: a transaction
      // that took its number earlier may have committed later, after the client's last change.
      // And when `seen` came through Redis, those that arrived shortly before it: the node the client was on
      // may have made `seen` itself and had it at once, and these only later, too late for the client
      // (when `seen` was made here, every node had it after the earlier ones). Some may repeat a change the
      // client has: it deduplicates by record id and version.
      const from = seen && !seen.local ? seen.at - REORDER_SLACK_MS : Number.POSITIVE_INFINITY
      return window
        .filter(
          (a) => a !== seen && (a.e.seq > seq || (seen !== undefined && (a.n > seen.n || a.at >= from))),
        )
        .map((a) => a.e)
    },
    async close() {
      for (const off of offBus) off()
      handlers.clear()
    },
  }
}

async function currentSeq(db: Db): Promise<number> {
  const r = await sql<{ last_value: string; is_called: boolean }>`
    SELECT last_value, is_called FROM bastide.record_seq`.execute(db)
  const row = r.rows[0]
  if (!row) return 0
  return row.is_called ? Number(row.last_value) : Number(row.last_value) - 1
}
