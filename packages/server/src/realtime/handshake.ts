import type { Server, Socket } from 'socket.io'
import type { Authenticator, Principal } from '../core/auth/principal.ts'
import { armExpiry, type Conn, endSession } from './connection.ts'

/** Longer is not a token we issue; refused without asking the authenticator. */
const MAX_TOKEN_LENGTH = 8192

const principalFor = (authenticate: Authenticator, token: unknown): Promise<Principal | undefined> =>
  typeof token === 'string' && token.length < MAX_TOKEN_LENGTH
    ? authenticate(token).catch(() => undefined)
    : Promise.resolve(undefined)

/**
 * Identity at the handshake: no token is anonymous; a token that does not authenticate is refused, never a
 * silent fall back to anonymous.
 */
export function authenticateHandshakes(io: Server, authenticate: Authenticator): void {
  io.use(async (socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token
    if (token === undefined || token === null || token === '') {
      socket.data.principal = { kind: 'anonymous' } satisfies Principal
      return next()
    }
    const p = await principalFor(authenticate, token)
    if (!p) {
      // The client learns why and reconnects with a valid token.
      const err = new Error('UNAUTHORIZED') as Error & { data?: unknown }
      err.data = { code: 'UNAUTHORIZED', message: 'Invalid or expired token.' }
      return next(err)
    }
    socket.data.principal = p
    socket.data.token = token
    next()
  })
}

/**
 * `auth`: a fresh credential on a live connection (the access JWT was refreshed), for the same identity only.
 * `rebind` then binds what the connection holds to the new principal (its record may have changed).
 */
export function acceptReauth(
  socket: Socket,
  conn: Conn,
  authenticate: Authenticator,
  rebind: (p: Principal) => void,
): void {
  socket.on('auth', async (payload: { token?: unknown }, ack?: (r: unknown) => void) => {
    const reply = typeof ack === 'function' ? ack : () => {}
    const token = payload.token
    const p = await principalFor(authenticate, token)
    if (!p) {
      reply({ ok: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or expired token.' } })
      endSession(socket, 'UNAUTHORIZED', 'Invalid or expired token.')
      return
    }
    if (!sameIdentity(conn.principal, p)) {
      reply({
        ok: false,
        error: { code: 'FORBIDDEN', message: 'A connection keeps its identity; reconnect to switch.' },
      })
      return
    }
    conn.principal = p
    armExpiry(socket, conn, token as string)
    rebind(p)
    reply({ ok: true })
  })
}

/**
 * Another key, or another console admin, is another identity too: what was joined or subscribed under one
 * principal's scopes must not carry over to another's. An anonymous connection may sign in.
 */
function sameIdentity(before: Principal, p: Principal): boolean {
  return (
    before.kind === 'anonymous' ||
    (before.kind === 'user' && p.kind === 'user' && before.id === p.id) ||
    (before.kind === 'key' && p.kind === 'key' && before.id === p.id) ||
    (before.kind === 'admin' && p.kind === 'admin' && before.adminId === p.adminId)
  )
}
