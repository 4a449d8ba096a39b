import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BastideClient, RecordChange } from '../src/index.ts'
import { PASSWORD } from './support/auth.ts'
import { clientFor, createCollection, email, startServer, type TestServer } from './support/server.ts'

/**
 * Realtime with the real auth service: the refreshed access JWT is handed to the live connection (which the
 * server would otherwise close at expiry), and signing out or in reconnects as the new identity.
 */
const TTL_S = 30 // the shortest access JWT lifetime the server allows
interface Note {
  text: string
  owner: string
}
type NoteRecord = Note & { id: string; version: number }

let s: TestServer & { url: string }
const clients: BastideClient<any>[] = []
/** What connections sent the server, by event. */
const received: { event: string; socket: string; payload: unknown }[] = []

beforeAll(async () => {
  s = await startServer({ BASTIDE_ACCESS_TOKEN_TTL: String(TTL_S) })
  s.bastide.realtime!.io.on('connection', (so) =>
    so.onAny((event: string, payload: unknown) => received.push({ event, socket: so.id, payload })),
  )
  const own = 'owner = @request.auth.id'
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
    rules: { list: own, view: own, create: own, update: own, delete: own },
  })
})
afterAll(async () => {
  for (const c of clients) await c.close()
  await s?.close()
})

async function signedUp() {
  const c = clientFor(s)
  clients.push(c)
  const addr = email('rt-auth')
  const r = await c.auth.signUp({ email: addr, password: PASSWORD, name: 'RT' })
  const session = r.session ?? (await c.auth.signInWithPassword({ email: addr, password: PASSWORD })).session
  if (!session) throw new Error('no session')
  return { c, id: session.user.id, addr, session }
}

function watch(c: BastideClient<any>) {
  const changes: RecordChange<NoteRecord>[] = []
  let readies = 0
  const stop = c.realtime.subscribe<NoteRecord>({ collection: 'notes' }, (ch) => changes.push(ch), {
    onReady: () => readies++,
  })
  return { changes, stop, readies: () => readies }
}

const actions = (changes: RecordChange<NoteRecord>[]) =>
  changes.map((ch) => (ch.action === 'resync' ? 'resync' : `${ch.action}:${ch.record.text}`))

describe('realtime and auth', () => {
  it('keeps a subscription working across access-token expiry on the same connection', async () => {
    const { c, id, session } = await signedUp()
    const w = watch(c)
    await expect.poll(w.readies).toBe(1)
    const connection = c.realtime.connectionId!
    const notes = c.collection<Note>('notes')
    await notes.create({ text: 'before', owner: id })
    await expect.poll(() => w.changes.length).toBe(1)

    // Past the first JWT's expiry (and the server's 5 s clock tolerance).
    const wait = Date.parse(session.accessTokenExpiresAt) - Date.now() + 6_500
    await new Promise((r) => setTimeout(r, wait))
    expect(c.realtime.connectionId).toBe(connection)
    expect(c.realtime.status).toBe('connected')
    // The refresh reached the live connection as `auth {token}` with a new JWT.
    const auths = received.filter((m) => m.event === 'auth' && m.socket === connection)
    expect(auths.length).toBeGreaterThanOrEqual(1)
    expect((auths.at(-1)!.payload as { token: string }).token).not.toBe(session.accessToken)

    await notes.create({ text: 'after', owner: id })
    await expect.poll(() => actions(w.changes)).toEqual(['create:before', 'create:after'])
    expect(w.readies()).toBe(1)
    w.stop()
  }, 90_000)

  it('reconnects as the new identity on sign-out and sign-in, and tells subscriptions to resync', async () => {
    const { c, id, addr } = await signedUp()
    const w = watch(c)
    await expect.poll(w.readies).toBe(1)
    const first = c.realtime.connectionId!
    expect(s.bastide.realtime!.io.sockets.sockets.get(first)!.handshake.auth.token).toEqual(
      expect.any(String),
    )

    await c.auth.signOut()
    await expect.poll(w.readies).toBe(2)
    expect(actions(w.changes)).toEqual(['resync'])
    const anon = c.realtime.connectionId!
    expect(anon).not.toBe(first)
    expect(s.bastide.realtime!.io.sockets.sockets.get(anon)!.handshake.auth.token).toBeUndefined()

    await c.auth.signInWithPassword({ email: addr, password: PASSWORD })
    await expect.poll(w.readies).toBe(3)
    expect(actions(w.changes)).toEqual(['resync', 'resync'])
    await c.collection<Note>('notes').create({ text: 'mine', owner: id })
    await expect.poll(() => actions(w.changes)).toEqual(['resync', 'resync', 'create:mine'])
    w.stop()
  })
})
