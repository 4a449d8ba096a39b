import { io as connect, type Socket } from 'socket.io-client'

/**
 * A socket.io client on `url`'s /realtime, authenticated with `token` (websocket only, no reconnection),
 * resolved once connected; a refused handshake rejects with its error. The socket is pushed onto `opened`
 * before it connects, so that a test's cleanup disconnects it whatever happens.
 */
export async function connectRealtime(url: string, token: string, opened: Socket[]): Promise<Socket> {
  const so = connect(url, {
    path: '/realtime',
    transports: ['websocket'],
    reconnection: false,
    auth: { token },
  })
  opened.push(so)
  await new Promise<void>((resolve, reject) => {
    so.once('connect', () => resolve())
    so.once('connect_error', reject)
  })
  return so
}
