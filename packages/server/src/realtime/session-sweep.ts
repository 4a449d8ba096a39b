import type { Logger } from 'pino'
import type { Socket } from 'socket.io'
import type { Principal } from '../core/auth/principal.ts'
import { liveKeyIds, liveSessionIds } from '../core/auth/sessions.ts'
import type { Db } from '../db/create-db.ts'
import type { RecordEvent } from '../events/catalog.ts'
import { type Conns, endSession } from './connection.ts'

/**
 * Credentials that died since their connection opened end it: sessions signed out, revoked, expired or
 * banned, and API keys revoked or expired. One query per kind for every connection of this node; a failed
 * check is logged and tried again next time.
 */
export async function sweepSessions(conns: Conns, db: Db, log: Logger): Promise<void> {
  await Promise.all(
    [checkSessions, checkKeys].map((check) =>
      check(conns, db).catch((err) =>
        log.warn({ err: (err as Error).message }, 'realtime: session check failed'),
      ),
    ),
  )
}

/** A banned or deleted user is disconnected at once (their sessions end with it anyway). */
export function endGoneUser(conns: Conns, e: RecordEvent): void {
  const gone = e.action === 'delete' || e.record.banned === true
  if (!gone) return
  for (const [socket, conn] of conns) {
    if (conn.principal.kind === 'user' && conn.principal.id === e.record.id)
      endSession(socket, 'SESSION_ENDED')
  }
}

async function checkSessions(conns: Conns, db: Db): Promise<void> {
  const bySession = socketsBy(conns, (p) => (p.kind === 'user' ? p.sessionId || undefined : undefined))
  if (bySession.size === 0) return
  const live = await liveSessionIds(db, [...bySession.keys()])
  for (const [sid, sockets] of bySession)
    if (!live.has(sid)) for (const s of sockets) endSession(s, 'SESSION_ENDED')
}

async function checkKeys(conns: Conns, db: Db): Promise<void> {
  const byKey = socketsBy(conns, (p) => (p.kind === 'key' ? p.id : undefined))
  if (byKey.size === 0) return
  const live = await liveKeyIds(db, [...byKey.keys()])
  for (const [id, sockets] of byKey)
    if (!live.has(id))
      for (const s of sockets) endSession(s, 'SESSION_ENDED', 'The API key was revoked or has expired.')
}

/** This node's sockets by the id `idOf` gives their principal (skipped when undefined). */
function socketsBy(conns: Conns, idOf: (p: Principal) => string | undefined): Map<string, Socket[]> {
  const by = new Map<string, Socket[]>()
  for (const [socket, conn] of conns) {
    const id = idOf(conn.principal)
    if (id === undefined) continue
    const list = by.get(id) ?? []
    list.push(socket)
    by.set(id, list)
  }
  return by
}
