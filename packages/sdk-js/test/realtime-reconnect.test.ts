import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BastideClient, BastideError, RecordChange } from '../src/index.ts'
import type { RealtimeStatus } from '../src/realtime/types.ts'
import { clientFor, createCollection, email, startServer, type TestServer } from './support/server.ts'

/**
 * Connections that drop: missed changes replayed once and in order, `resync` past the replay window, channels
 * rejoined with their presence, refused credentials surfaced without a retry loop.
 */
interface Note {
  text: string
  owner: string
}
type NoteRecord = Note & { id: string; version: number }

const WINDOW = 5
/** Set: new realtime connections wait for it (see beforeAll). */
let held: Promise<void> | null = null
let s: TestServer & { url: string }
let alice: SignedUp
let bob: SignedUp
const clients: BastideClient<any>[] = []
/** The `subscribe` messages the server received, by connection. */
const subscribes: { socket: string; since?: number }[] = []

beforeAll(async () => {
  // A short replay window, so that a test can outrun it.
  s = await startServer({ BASTIDE_REALTIME_REPLAY_WINDOW: String(WINDOW) })
  // While `held` is set, new connections wait in the handshake: a test makes changes while a client is away for
  // sure (its reconnection is due within seconds, which a slow machine's writes can outlast).
  s.bastide.realtime!.io.use((_so, next) => {
    if (held) void held.then(() => next())
    else next()
  })
  s.bastide.realtime!.io.on('connection', (so) =>
    so.on('subscribe', (m: { since?: number }) => subscribes.push({ socket: so.id, since: m.since })),
  )
  alice = await signUp(s, email('rc-alice'))
  bob = await signUp(s, email('rc-bob'))
  const own = 'owner = @request.auth.id'
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
    rules: { list: own, view: own, create: own, update: own, delete: own },
  })
  expect(
    (
      await s.api('POST', '/api/realtime/channels', {
        pattern: 'room:*',
        rules: { join: "@request.auth.id != ''", send: "@request.auth.id != ''" },
      })
    ).status,
  ).toBe(201)
})
afterAll(async () => {
  for (const c of clients) await c.close()
  await s?.close()
})

function as(u: SignedUp | string): BastideClient<any> {
  const c = clientFor(s, { apiKey: typeof u === 'string' ? u : u.jwt })
  clients.push(c)
  return c
}

function watch(c: BastideClient<any>) {
  const changes: RecordChange<NoteRecord>[] = []
  const statuses: RealtimeStatus[] = []
  let readies = 0
  c.realtime.onStatusChange((st) => statuses.push(st))
  const stop = c.realtime.subscribe<NoteRecord>({ collection: 'notes' }, (ch) => changes.push(ch), {
    onReady: () => readies++,
  })
  return { changes, statuses, stop, readies: () => readies }
}

/** The server side of a client's connection. */
function serverSocket(c: BastideClient<any>) {
  const so = s.bastide.realtime!.io.sockets.sockets.get(c.realtime.connectionId!)
  if (!so) throw new Error('no such connection on the server')
  return so
}

const settle = (ms = 500) => new Promise((r) => setTimeout(r, ms))
const texts = (changes: RecordChange<NoteRecord>[]) =>
  changes.map((ch) => (ch.action === 'resync' ? 'resync' : `${ch.action}:${ch.record.text}`))

describe('reconnection', () => {
  it('replays the changes missed while the network was down, once and in order', async () => {
    const c = as(alice)
    const w = watch(c)
    await expect.poll(w.readies).toBe(1)
    const notes = c.collection<Note>('notes')
    const n = await notes.create({ text: 'v1', owner: alice.id })
    await expect.poll(() => w.changes.length).toBe(1)

    // The transport dies (as when a phone changes networks); socket.io reconnects by itself.
    serverSocket(c).conn.close()
    await expect.poll(() => c.realtime.status).not.toBe('connected')
    await notes.update(n.id, { text: 'v2' })
    await notes.update(n.id, { text: 'v3' })
    await as(bob).collection<Note>('notes').create({ text: 'not for alice', owner: bob.id })

    await expect.poll(w.readies, { timeout: 15_000 }).toBe(2)
    await expect.poll(() => w.changes.length).toBe(3)
    // Subscribed again from the last change it had seen: v2 and v3 came as a replay.
    const again = subscribes.filter((m) => m.socket === c.realtime.connectionId)
    const first = w.changes[0]!
    expect(again).toEqual([
      { socket: c.realtime.connectionId, since: first.action === 'resync' ? -1 : first.seq },
    ])
    await notes.update(n.id, { text: 'v4' })
    await expect.poll(() => w.changes.length).toBe(4)
    await settle()
    expect(texts(w.changes)).toEqual(['create:v1', 'update:v2', 'update:v3', 'update:v4'])
    expect(w.statuses).toContain('connecting')
    expect(w.statuses.at(-1)).toBe('connected')
    w.stop()
  })

  it('comes back after the server closed the connection, and drops replayed duplicates', async () => {
    const c = as(alice)
    const w = watch(c)
    await expect.poll(w.readies).toBe(1)
    const notes = c.collection<Note>('notes')
    const n = await notes.create({ text: 'k1', owner: alice.id })
    await expect.poll(() => w.changes.length).toBe(1)
    // A server-side close is not retried by socket.io itself: the SDK does, with backoff.
    serverSocket(c).disconnect(true)
    await notes.update(n.id, { text: 'k2' })
    await expect.poll(w.readies, { timeout: 15_000 }).toBe(2)
    await expect.poll(() => w.changes.length).toBe(2)

    // The same change twice (as a replay may send it) reaches the app once.
    const so = serverSocket(c)
    const sent: unknown[] = []
    const emit = so.emit.bind(so)
    so.emit = ((event: string, ...args: unknown[]) => {
      if (event === 'change') sent.push(args[0])
      return emit(event, ...args)
    }) as typeof so.emit
    await notes.update(n.id, { text: 'k3' })
    await expect.poll(() => w.changes.length).toBe(3)
    emit('change', sent[0])
    await notes.update(n.id, { text: 'k4' })
    await expect.poll(() => w.changes.length).toBe(4)
    await settle()
    expect(texts(w.changes)).toEqual(['create:k1', 'update:k2', 'update:k3', 'update:k4'])
    w.stop()
  })

  it('says resync when the missed changes no longer fit in the replay window, then follows live changes', async () => {
    const c = as(alice)
    const w = watch(c)
    await expect.poll(w.readies).toBe(1)
    const notes = c.collection<Note>('notes')
    const n = await notes.create({ text: 'r1', owner: alice.id })
    await expect.poll(() => w.changes.length).toBe(1)
    let release = () => {}
    held = new Promise<void>((r) => (release = r))
    serverSocket(c).conn.close()
    await expect.poll(() => c.realtime.status).not.toBe('connected')
    try {
      for (let i = 0; i < WINDOW + 3; i++) await notes.update(n.id, { text: `lost ${i}` })
    } finally {
      held = null
      release()
    }
    await expect.poll(w.readies, { timeout: 15_000 }).toBe(2)
    await expect.poll(() => texts(w.changes)).toEqual(['create:r1', 'resync'])
    await notes.update(n.id, { text: 'r2' })
    await expect.poll(() => texts(w.changes)).toEqual(['create:r1', 'resync', 'update:r2'])
    w.stop()
  })

  it('tells a subscription that never saw a change to resync after a drop (nothing to resume from)', async () => {
    const c = as(bob)
    const w = watch(c)
    await expect.poll(w.readies).toBe(1)
    serverSocket(c).conn.close()
    await expect.poll(w.readies, { timeout: 15_000 }).toBe(2)
    expect(texts(w.changes)).toEqual(['resync'])
    await c.collection<Note>('notes').create({ text: 'quiet no more', owner: bob.id })
    await expect.poll(() => texts(w.changes)).toEqual(['resync', 'create:quiet no more'])
    w.stop()
  })

  it('rejoins channels after a reconnection and tracks the same presence state again', async () => {
    const [ca, cb] = [as(alice), as(bob)]
    const roomA = ca.realtime.channel<{ mood: string }>('room:re')
    const roomB = cb.realtime.channel<{ mood: string }>('room:re')
    await roomA.join()
    await roomB.join()
    await roomB.track({ mood: 'ok' })
    await expect.poll(() => Object.values(roomA.presence()).map((e) => e.state)).toEqual([{ mood: 'ok' }])
    const before = cb.realtime.connectionId!
    serverSocket(cb).conn.close()
    // Bob leaves with his old connection and comes back with a new one, state included.
    await expect
      .poll(() => Object.entries(roomA.presence()).map(([k, e]) => [k === before, e.state]), {
        timeout: 15_000,
      })
      .toEqual([[false, { mood: 'ok' }]])
    expect(Object.keys(roomA.presence())).toEqual([cb.realtime.connectionId])
    const heard: unknown[] = []
    roomA.on('ping', (p) => heard.push(p))
    await roomB.send('ping', 1)
    await expect.poll(() => heard).toEqual([1])
  })
})

describe('identity', () => {
  it('surfaces a refused credential and does not retry it in a loop', async () => {
    const c = as('not-a-valid-token')
    const errors: BastideError[] = []
    c.realtime.onError((e) => errors.push(e))
    const statuses: RealtimeStatus[] = []
    c.realtime.onStatusChange((st) => statuses.push(st))
    c.realtime.subscribe({ collection: 'notes' }, () => {})
    await expect.poll(() => errors.map((e) => e.code)).toEqual(['UNAUTHORIZED'])
    await settle(2500)
    expect(errors).toHaveLength(1)
    expect(c.realtime.status).toBe('disconnected')
    expect(statuses).toEqual(['connecting', 'disconnected'])
    await expect(c.realtime.connect()).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
  })
})
