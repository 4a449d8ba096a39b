import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import type { FileStore } from '../../storage/file-store.ts'
import { RESUMABLE_UPLOADS_PREFIX } from './resumable-uploads.ts'

export interface ReconcileReport {
  /** Blobs recorded as garbage (replaced or deleted objects) whose bytes were removed now. */
  readonly garbage: number
  /** Blobs no object or variant points at (an upload cut off before its row was written). */
  readonly orphans: number
  /** Leftovers of writes interrupted mid-file (local disk). */
  readonly temp: number
  /** False when another node was already reconciling: this run did nothing. */
  readonly ran: boolean
}

/** One node at a time: the same key on every node. */
const RECONCILE_LOCK = 7261536845
const BATCH = 500

/**
 * Brings bytes and metadata back in line after crashes. Rows only ever point at complete blobs (bytes are
 * written first), so what can be left behind is bytes nothing points at: garbage rows whose removal did
 * not happen, blobs of uploads cut off before their row committed, temp files of interrupted writes.
 * `graceMs` spares blobs young enough to belong to an upload still in flight.
 */
export async function reconcileStorage(deps: {
  db: Db
  store: FileStore
  collectGarbage: () => Promise<number>
  graceMs?: number
}): Promise<ReconcileReport> {
  const graceMs = deps.graceMs ?? 15 * 60_000
  return deps.db.connection().execute(async (conn) => {
    const got = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${RECONCILE_LOCK}) AS ok`.execute(conn)
    if (!got.rows[0]?.ok) return { garbage: 0, orphans: 0, temp: 0, ran: false }
    try {
      let garbage = 0
      for (let n = await deps.collectGarbage(); n > 0; n = await deps.collectGarbage()) garbage += n
      const temp = (await deps.store.sweepTemp?.(graceMs)) ?? 0
      let orphans = 0
      const cutoff = Date.now() - graceMs
      let batch: string[] = []
      const flush = async () => {
        if (batch.length === 0) return
        const known = await sql<{ blob: string }>`
          SELECT blob FROM bastide.objects WHERE blob = ANY(${batch}::text[])
          UNION ALL SELECT blob FROM bastide.object_variants WHERE blob = ANY(${batch}::text[])
          UNION ALL SELECT blob FROM bastide.garbage_blobs WHERE blob = ANY(${batch}::text[])`.execute(conn)
        const keep = new Set(known.rows.map((r) => r.blob))
        const gone = batch.filter((b) => !keep.has(b))
        if (gone.length) await deps.store.removeMany(gone)
        orphans += gone.length
        batch = []
      }
      for await (const b of deps.store.list('')) {
        if (b.modified.getTime() > cutoff) continue
        // Resumable uploads in progress share the S3 bucket; they expire on their own.
        if (b.key.startsWith(RESUMABLE_UPLOADS_PREFIX)) continue
        batch.push(b.key)
        if (batch.length >= BATCH) await flush()
      }
      await flush()
      return { garbage, orphans, temp, ran: true }
    } finally {
      await sql`SELECT pg_advisory_unlock(${RECONCILE_LOCK})`.execute(conn)
    }
  })
}
