import { type SignedUp, signUp } from '@bastide/server/test/support/auth.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BastideClient, BastideError, RecordChange } from '../src/index.ts'
import type { PresenceState, SubscriptionTarget } from '../src/realtime/types.ts'
import { clientFor, createCollection, email, startServer, type TestServer } from './support/server.ts'

/**
 * The SDK's realtime against a real server: record subscriptions filtered by the same rules as REST reads,
 * filters, one-record subscriptions, refused filters, channels with broadcast and presence.
 */
interface Note {
  text: string
  secret?: string
  owner: string
}
type NoteRecord = Note & { id: string; version: number; created: string; updated: string }

let s: TestServer & { url: string }
let alice: SignedUp
let bob: SignedUp
const clients: BastideClient<any>[] = []

beforeAll(async () => {
  s = await startServer()
  alice = await signUp(s, email('rt-alice'))
  bob = await signUp(s, email('rt-bob'))
  const own = 'owner = @request.auth.id'
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'secret', type: 'text', hidden: true },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
    rules: { list: own, view: own, create: own, update: own, delete: own },
  })
  const r = await s.api('POST', '/api/realtime/channels', {
    pattern: 'room:*',
    rules: { join: "@request.auth.id != ''", send: "@request.auth.id != ''" },
  })
  expect(r.status).toBe(201)
})
afterAll(async () => {
  for (const c of clients) await c.close()
  await s?.close()
})

function as(u?: SignedUp): BastideClient<any> {
  // Until the auth service signs in for real, `apiKey` sends the user's access JWT as the bearer.
  const c = clientFor(s, u ? { apiKey: u.jwt } : {})
  clients.push(c)
  return c
}

/** Subscribes and collects what arrives; `ready` resolves when the server accepted the subscription. */
function collect(c: BastideClient<any>, target: SubscriptionTarget) {
  const changes: RecordChange<NoteRecord>[] = []
  const errors: BastideError[] = []
  let ready!: () => void
  const accepted = new Promise<void>((resolve) => {
    ready = resolve
  })
  const stop = c.realtime.subscribe<NoteRecord>(target, (ch) => changes.push(ch), {
    onReady: ready,
    onError: (e) => errors.push(e),
  })
  return { changes, errors, accepted, stop }
}

/** The records a sequence of changes leaves, by id. */
function apply(changes: RecordChange<NoteRecord>[]): Map<string, NoteRecord> {
  const m = new Map<string, NoteRecord>()
  for (const ch of changes) {
    if (ch.action === 'resync') continue
    if (ch.action === 'delete') m.delete(ch.record.id)
    else m.set(ch.record.id, ch.record)
  }
  return m
}

const settle = (ms = 400) => new Promise((r) => setTimeout(r, ms))

describe('record subscriptions', () => {
  it('gives each subscriber exactly what a REST read shows it', async () => {
    const [ca, cb, anon] = [as(alice), as(bob), as()]
    const subs = [ca, cb, anon].map((c) => collect(c, { collection: 'notes' }))
    await Promise.all(subs.map((x) => x.accepted))
    const notesA = ca.collection<Note>('notes')
    const notesB = cb.collection<Note>('notes')
    // Alice's record with a hidden value in it, set by the admin (users may not write hidden fields).
    const a1 = (
      await s.api('POST', '/api/collections/notes/records', { text: 'a1', secret: 'shh', owner: alice.id })
    ).body as NoteRecord
    const a2 = await notesA.create({ text: 'a2', owner: alice.id })
    await notesB.create({ text: 'b1', owner: bob.id })
    await notesA.update(a1.id, { text: 'a1 edited' })
    await notesA.delete(a2.id)
    const [ga, gb, gn] = subs.map((x) => x.changes)
    await expect.poll(() => ga!.length).toBe(4)
    await expect.poll(() => gb!.length).toBe(1)
    await settle()
    expect(ga!.map((c) => c.action)).toEqual(['create', 'create', 'update', 'delete'])
    expect(gb!.map((c) => c.action)).toEqual(['create'])
    expect(gn).toEqual([])
    for (const [c, got] of [
      [ca, ga!],
      [cb, gb!],
      [anon, gn!],
    ] as const) {
      const rest = await c.collection<Note>('notes').list()
      expect(new Map(rest.items.map((r) => [r.id, r]))).toEqual(apply(got))
    }
    // Hidden fields are stripped, as in REST.
    for (const ch of ga!) if (ch.action !== 'resync') expect(ch.record).not.toHaveProperty('secret')
    const seqs = ga!.map((c) => (c.action === 'resync' ? 0 : c.seq))
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs)
    for (const x of subs) expect(x.errors).toEqual([])
  })

  it('follows a filter, or a single record, through the collection helper too', async () => {
    const c = as(alice)
    const notes = c.collection<Note>('notes')
    const n1 = await notes.create({ text: 'one', owner: alice.id })
    const n2 = await notes.create({ text: 'two', owner: alice.id })
    const filtered = collect(c, { collection: 'notes', filter: "text ~ 'urgent'" })
    const single: RecordChange<NoteRecord>[] = []
    let singleReady!: () => void
    const singleAccepted = new Promise<void>((r) => {
      singleReady = r
    })
    notes.subscribe({ id: n1.id }, (ch) => single.push(ch as RecordChange<NoteRecord>), {
      onReady: singleReady,
    })
    await Promise.all([filtered.accepted, singleAccepted])
    await notes.update(n2.id, { text: 'urgent two' })
    await notes.update(n1.id, { text: 'one again' })
    await notes.update(n2.id, { text: 'calm two' })
    await notes.delete(n1.id)
    await expect.poll(() => single.length).toBe(2)
    await expect.poll(() => filtered.changes.length).toBe(1)
    await settle()
    expect(single.map((ch) => ch.action)).toEqual(['update', 'delete'])
    expect(single.every((ch) => ch.action !== 'resync' && ch.record.id === n1.id)).toBe(true)
    // The update that took n2 out of the filter is not announced (the filter no longer matches it).
    expect(filtered.changes).toHaveLength(1)
    expect(filtered.changes[0]).toMatchObject({ action: 'update', record: { id: n2.id, text: 'urgent two' } })
  })

  it('stops delivering after unsubscribe', async () => {
    const c = as(alice)
    const sub = collect(c, { collection: 'notes' })
    await sub.accepted
    const notes = c.collection<Note>('notes')
    const n = await notes.create({ text: 'before', owner: alice.id })
    await expect.poll(() => sub.changes.length).toBe(1)
    sub.stop()
    await notes.update(n.id, { text: 'after' })
    // A second subscription on the same connection proves the change went out meanwhile.
    const other = collect(c, { collection: 'notes' })
    await other.accepted
    await notes.update(n.id, { text: 'after again' })
    await expect.poll(() => other.changes.length).toBe(1)
    await settle()
    expect(sub.changes).toHaveLength(1)
    other.stop()
  })

  it('reports a refused filter (INVALID_FILTER) to the app, per subscription or on the service', async () => {
    const c = as(alice)
    const hidden = collect(c, { collection: 'notes', filter: "secret = 'x'" })
    await expect.poll(() => hidden.errors.length).toBe(1)
    expect(hidden.errors[0]).toMatchObject({ code: 'INVALID_FILTER', status: 400 })
    expect(hidden.changes).toEqual([])

    const seen: BastideError[] = []
    c.realtime.onError((e) => seen.push(e))
    c.collection('notes').subscribe('text ==', () => {})
    c.collection('nope').subscribe(() => {})
    await expect.poll(() => seen.map((e) => e.code).sort()).toEqual(['INVALID_FILTER', 'NOT_FOUND'])
  })

  it('keeps one connection, connected status and a connection id', async () => {
    const c = as(alice)
    const statuses: string[] = []
    c.realtime.onStatusChange((st) => statuses.push(st))
    expect(c.realtime.status).toBe('disconnected')
    const a = collect(c, { collection: 'notes' })
    const b = collect(c, { collection: 'notes', filter: "text = 'x'" })
    await Promise.all([a.accepted, b.accepted])
    expect(c.realtime.status).toBe('connected')
    expect(statuses).toEqual(['connecting', 'connected'])
    const id = c.realtime.connectionId!
    expect(s.bastide.realtime!.io.sockets.sockets.has(id)).toBe(true)
    expect(
      [...s.bastide.realtime!.io.sockets.sockets.values()].filter(
        (so) => so.handshake.auth.token === alice.jwt,
      ).length,
    ).toBeGreaterThanOrEqual(1)
    // Nothing left to deliver: the connection closes after a short grace period.
    a.stop()
    b.stop()
    await expect.poll(() => c.realtime.status, { timeout: 8000 }).toBe('disconnected')
    await expect.poll(() => s.bastide.realtime!.io.sockets.sockets.has(id)).toBe(false)
  })
})

describe('channels', () => {
  it('broadcasts between members, keeps presence in sync, and sees a disconnected member leave', async () => {
    const [ca, cb] = [as(alice), as(bob)]
    const roomA = ca.realtime.channel<{ status: string }>('room:1')
    const roomB = cb.realtime.channel<{ status: string }>('room:1')
    const heard: { payload: unknown; from: string | null; event: string }[] = []
    roomB.on('hello', (payload, from, event) => heard.push({ payload, from: from.id, event }))
    const views: PresenceState<{ status: string }>[] = []
    roomA.onPresence((state) => views.push(state))

    expect(await roomA.join()).toEqual({})
    await roomA.track({ status: 'online' })
    const seenByB = await roomB.join()
    expect(Object.values(seenByB)).toEqual([{ user: alice.id, state: { status: 'online' } }])
    expect(Object.keys(seenByB)).toEqual([ca.realtime.connectionId])

    await roomA.send('hello', { text: 'hi' })
    await expect.poll(() => heard).toEqual([{ payload: { text: 'hi' }, from: alice.id, event: 'hello' }])

    await roomB.track({ status: 'away' })
    await expect
      .poll(() => roomA.presence())
      .toEqual({
        [ca.realtime.connectionId!]: { user: alice.id, state: { status: 'online' } },
        [cb.realtime.connectionId!]: { user: bob.id, state: { status: 'away' } },
      })
    expect(views.at(-1)).toEqual(roomA.presence())

    // Anonymous connections may not join (the channel's join rule).
    const anon = as()
    await expect(anon.realtime.channel('room:1').join()).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(anon.realtime.channel('room:1').send('x')).rejects.toMatchObject({ code: 'FORBIDDEN' })

    cb.realtime.disconnect()
    await expect.poll(() => Object.values(roomA.presence()).map((e) => e.user)).toEqual([alice.id])

    await roomA.leave()
    expect(roomA.joined).toBe(false)
    await expect(roomA.send('hello')).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })
})
