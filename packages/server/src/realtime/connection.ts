import { decodeJwt } from 'jose'
import type { Socket } from 'socket.io'
import type { Principal } from '../core/auth/principal.ts'
import type { RealtimeLimits } from './gateway.ts'
import type { RecordSub } from './record-subscriptions.ts'

/** One socket's state on this node: who it is, what it subscribed to, its message budget, its token's end. */
export interface Conn {
  /** Replaced when the client sends a fresh credential for the same identity. */
  principal: Principal
  readonly subs: Map<string, RecordSub>
  /** Message budget (a token bucket refilled at messagesPerSecond). */
  tokens: number
  last: number
  expiry?: NodeJS.Timeout | undefined
}

/** This node's live connections. */
export type Conns = Map<Socket, Conn>

export function openConn(principal: Principal, limits: RealtimeLimits): Conn {
  return { principal, subs: new Map(), tokens: limits.messagesPerSecond * 2, last: Date.now() }
}

/** Ends a connection whose credential no longer holds, telling the client why before it goes. */
export function endSession(
  socket: Socket,
  code: string,
  message = 'The session has ended; sign in again.',
): void {
  socket.emit('auth_error', { code, message })
  socket.disconnect(true)
}

/** An access JWT ends the connection when it expires, unless the client sent a fresh one. */
export function armExpiry(socket: Socket, conn: Conn, token: string): void {
  if (conn.expiry) clearTimeout(conn.expiry)
  conn.expiry = undefined
  if (token.split('.').length !== 3) return
  try {
    const exp = decodeJwt(token).exp
    if (typeof exp !== 'number') return
    const ms = Math.max(0, exp * 1000 - Date.now())
    conn.expiry = setTimeout(
      () => endSession(socket, 'TOKEN_EXPIRED', 'The access token expired; send a fresh one.'),
      ms,
    )
    conn.expiry.unref()
  } catch {}
}

/**
 * Rate limit and packet shape, before any handler: a flood or a malformed packet ends this connection and
 * nothing else.
 */
export function guardPackets(socket: Socket, conn: Conn, limits: RealtimeLimits): void {
  socket.use(([event, payload, ...rest], next) => {
    const now = Date.now()
    conn.tokens = Math.min(
      limits.messagesPerSecond * 2,
      conn.tokens + ((now - conn.last) / 1000) * limits.messagesPerSecond,
    )
    conn.last = now
    if (conn.tokens < 1) {
      socket.emit('error', { code: 'RATE_LIMITED', message: 'Too many messages; disconnected.' })
      socket.disconnect(true)
      return
    }
    conn.tokens--
    const ack = rest[rest.length - 1]
    if (
      typeof event !== 'string' ||
      payload === null ||
      typeof payload !== 'object' ||
      Array.isArray(payload)
    ) {
      if (typeof ack === 'function')
        ack({ ok: false, error: { code: 'BAD_REQUEST', message: 'Send one object.' } })
      socket.disconnect(true)
      return
    }
    next()
  })
}
