import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import { type Principal, principalId } from '../auth/principal.ts'

export interface StoredResponse {
  readonly status: number
  readonly body: unknown
}

/** Keys are kept this long; a retry after that runs again. */
export const IDEMPOTENCY_TTL_HOURS = 24

/** Everything that shapes the outcome: method, path with its query string, If-Match, body. */
export function requestHash(method: string, url: string, ifMatch: string | undefined, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${url}\n${ifMatch ?? ''}\n${JSON.stringify(body ?? null)}`)
    .digest('hex')
}

/**
 * Whose keys a request uses, or undefined when its key cannot be honoured. A user, key or admin is one scope
 * wherever it calls from. Anonymous callers share no identity, so each network address is a scope of its own:
 * two strangers who pick the same key never get each other's stored answer (nor a 422 telling them the key
 * was used). Without a known address (an in-process call) an anonymous request runs as if it had no key.
 */
export function idempotencyScope(p: Principal, clientIp: string | undefined): string | undefined {
  if (p.kind !== 'anonymous') return principalId(p)
  return clientIp ? `anonymous:${clientIp}` : undefined
}

class Replay extends Error {}

/**
 * Runs a write at most once per (principal, key). The key row is inserted in the write's own transaction,
 * so concurrent retries queue on it and then replay the stored response; a failed write stores nothing,
 * so its retry runs again. The same key with another request answers 422.
 */
export async function runIdempotent(
  db: Db,
  scope: { principal: string; key: string; hash: string },
  fn: (tx: Tx) => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await find(db, scope)
    if (existing) return existing
    try {
      const out = await inTransaction(db, async (tx) => {
        const ins = await sql`INSERT INTO bastide.idempotency_keys (principal, key, request_hash)
          VALUES (${scope.principal}, ${scope.key}, ${scope.hash})
          ON CONFLICT (principal, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, status = NULL, response = NULL, created = now()
            -- An expired key is free again (the hourly purge may not have run yet).
            WHERE bastide.idempotency_keys.created <= now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})
          RETURNING 1`.execute(tx.db)
        if (ins.rows.length === 0) throw new Replay()
        const res = await fn(tx)
        await sql`UPDATE bastide.idempotency_keys SET status = ${res.status}, response = ${JSON.stringify(res.body ?? null)}::jsonb
          WHERE principal = ${scope.principal} AND key = ${scope.key}`.execute(tx.db)
        return res
      })
      return { ...out, replayed: false }
    } catch (err) {
      if (!(err instanceof Replay)) throw err
    }
  }
  throw errors.conflict('This Idempotency-Key is busy; retry shortly.')
}

async function find(db: Db, s: { principal: string; key: string; hash: string }) {
  const res = await sql<{ request_hash: string; status: number | null; response: unknown }>`
    SELECT request_hash, status, response FROM bastide.idempotency_keys
    WHERE principal = ${s.principal} AND key = ${s.key}
      AND created > now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`.execute(db)
  const row = res.rows[0]
  if (!row) return undefined
  if (row.request_hash !== s.hash) throw errors.idempotencyReused()
  return { status: row.status ?? 200, body: row.response, replayed: true }
}

/** Rows deleted per statement: each stays well inside the request statement timeout, however many expired. */
const PURGE_BATCH = 5000

export async function purgeIdempotencyKeys(db: Db): Promise<void> {
  for (;;) {
    const r = await sql`
      DELETE FROM bastide.idempotency_keys WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM bastide.idempotency_keys
        WHERE created < now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS}) LIMIT ${PURGE_BATCH}))`.execute(
      db,
    )
    if (Number(r.numAffectedRows ?? 0) < PURGE_BATCH) return
  }
}
