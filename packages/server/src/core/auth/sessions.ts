import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'

/**
 * Of the given session ids, those that still let their user in: the session exists and has not expired, and
 * its user is not banned (a ban with an end date counts until that date). Signed out, revoked and expired
 * sessions, and those of deleted users, are missing from the answer.
 */
export async function liveSessionIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const alive = await sql<{ id: string }>`
    SELECT s.id FROM bastide.auth_sessions s JOIN data.users u ON u.id = s."userId"
    WHERE s.id = ANY(${ids}::text[]) AND s."expiresAt" > now()
      AND NOT (coalesce(u.banned, false) AND (u."banExpires" IS NULL OR u."banExpires" > now()))`.execute(db)
  return new Set(alive.rows.map((r) => r.id))
}

/** Of the given API key ids, those neither revoked nor expired (deleted keys are missing too). */
export async function liveKeyIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const alive = await sql<{ id: string }>`
    SELECT id FROM bastide.api_keys
    WHERE id = ANY(${ids}::uuid[]) AND revoked IS NULL AND (expires IS NULL OR expires > now())`.execute(db)
  return new Set(alive.rows.map((r) => r.id))
}
