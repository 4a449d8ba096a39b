import { sql } from 'kysely'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { purgeIdempotencyKeys } from '../src/core/idempotency/run-idempotent.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
beforeAll(async () => {
  s = await startTestServer()
})
afterAll(async () => {
  await s?.close()
})

it('purges every expired idempotency key in batches, and keeps the live ones', async () => {
  const db = s.bastide.database.db
  // More expired keys than one batch deletes, and a few still within their lifetime.
  await sql`INSERT INTO bastide.idempotency_keys (principal, key, request_hash, created)
    SELECT 'p', 'old-' || i, 'h', now() - interval '3 days' FROM generate_series(1, 12345) i`.execute(db)
  await sql`INSERT INTO bastide.idempotency_keys (principal, key, request_hash)
    SELECT 'p', 'new-' || i, 'h' FROM generate_series(1, 3) i`.execute(db)
  await purgeIdempotencyKeys(db)
  const left = await sql<{ key: string }>`SELECT key FROM bastide.idempotency_keys ORDER BY key`.execute(db)
  expect(left.rows.map((r) => r.key)).toEqual(['new-1', 'new-2', 'new-3'])
})
