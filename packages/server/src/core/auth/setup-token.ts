import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'

/** How to get a setup token, for log lines and refusals alike. */
export const SETUP_TOKEN_HOW =
  'the setup token printed in the server log at start-up (or shown by `bastide setup-token`)'

/**
 * The console setup token: an HMAC keyed with BASTIDE_SECRET, so that every node sharing the secret, after
 * any restart, and `bastide setup-token` derive the same one, and nothing stores it. The command needs
 * only the secret, not the database: it works beside a running server that holds the embedded PostgreSQL.
 * It opens POST /api/admin/setup only while the console has no admin; after that it is refused (409).
 */
export function setupToken(secret: string): string {
  return `bst_setup_${createHmac('sha256', secret).update('bastide:console-setup-token').digest('base64url')}`
}

/** Whether `given` is the setup token, compared in constant time. */
export function isSetupToken(secret: string, given: string): boolean {
  // Digests of both sides: equal lengths whatever was sent, so the comparison itself leaks nothing.
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(given), digest(setupToken(secret)))
}

export async function consoleHasAdmin(db: Db): Promise<boolean> {
  const r = await sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM bastide.admins) AS any`.execute(db)
  return r.rows[0]?.any === true
}

/**
 * At start-up, while the console has no admin: one log line saying how to create the first one, token
 * included (as PocketBase prints its installer link). Silent once an admin exists.
 */
export async function announceSetupToken(db: Db, secret: string, log: Logger, baseUrl: string) {
  if (await consoleHasAdmin(db)) return
  const token = setupToken(secret)
  log.warn(
    { setupToken: token },
    `No console admin yet. Open ${baseUrl}/_/ and paste this setup token to create the first one, or POST ` +
      `${baseUrl}/api/admin/setup with the JSON body ` +
      `{"email": "…", "password": "…", "setupToken": "${token}"} (or with the admin key as bearer token). ` +
      'The token works until the first admin exists; `bastide setup-token` shows it again.',
  )
}
