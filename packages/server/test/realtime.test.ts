import { io as connect, type Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, type SignedUp, signUp } from './support/auth.ts'
import { ADMIN_KEY, createCollection, startTestServer, type TestServer } from './support/harness.ts'

/**
 * Record subscriptions over socket.io against a real server: each subscriber receives exactly the changes a
 * REST read would show it, rendered for it (hidden fields stripped), from the same rules.
 */
let s: TestServer
let alice: SignedUp
let bob: SignedUp
const sockets: Socket[] = []

interface Change {
  subscriptionId: string
  action: string
  record: Record<string, any>
  seq: number
}

beforeAll(async () => {
  // A short replay window, so that the test can outrun it.
  s = await startTestServer({
    listen: true,
    env: { BASTIDE_REALTIME_REPLAY_WINDOW: '5', BASTIDE_REALTIME_SESSION_CHECK_MS: '500' },
  })
  alice = await signUp(s, 'rt-alice@example.com')
  bob = await signUp(s, 'rt-bob@example.com')
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'secret', type: 'text', hidden: true },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
    rules: {
      list: 'owner = @request.auth.id',
      view: 'owner = @request.auth.id',
      create: 'owner = @request.auth.id',
      update: 'owner = @request.auth.id',
      delete: 'owner = @request.auth.id',
    },
  })
  // A rule that looks through a relation: evaluated in SQL, batched.
  await createCollection(s, {
    name: 'comments',
    fields: [
      { name: 'body', type: 'text' },
      { name: 'note', type: 'relation', options: { collection: 'notes', onDelete: 'cascade' } },
    ],
    rules: { list: 'note.owner = @request.auth.id', view: 'note.owner = @request.auth.id' },
  })
})
afterAll(async () => {
  for (const so of sockets) so.disconnect()
  await s?.close()
})

function client(token?: string): Socket {
  const so = connect(s.bastide.url, {
    path: '/realtime',
    transports: ['websocket'],
    reconnection: false,
    ...(token ? { auth: { token } } : {}),
  })
  sockets.push(so)
  return so
}

async function connected(so: Socket): Promise<Socket> {
  if (so.connected) return so
  await new Promise<void>((resolve, reject) => {
    so.once('connect', () => resolve())
    so.once('connect_error', reject)
  })
  return so
}

function call(so: Socket, event: string, payload: unknown): Promise<any> {
  return so.timeout(5000).emitWithAck(event, payload)
}

/** Collects `change` events of a socket. */
function changes(so: Socket): Change[] {
  const got: Change[] = []
  so.on('change', (c: Change) => got.push(c))
  return got
}

const settle = () => new Promise((r) => setTimeout(r, 300))

const asUser = (u: SignedUp) => ({ as: u.jwt })

describe('record subscriptions', () => {
  it('delivers each change only to those whose view rule allows it, with hidden fields stripped', async () => {
    const a = await connected(client(alice.jwt))
    const b = await connected(client(bob.jwt))
    const anon = await connected(client())
    const admin = await connected(client(ADMIN_KEY))
    const [ga, gb, gn, gadm] = [changes(a), changes(b), changes(anon), changes(admin)]
    for (const so of [a, b, anon, admin]) {
      const r = await call(so, 'subscribe', { collection: 'notes' })
      expect(r.ok).toBe(true)
      expect(typeof r.subscriptionId).toBe('string')
    }
    // Created by the admin: only admins and keys may set a hidden field.
    const created = await s.api('POST', '/api/collections/notes/records', {
      text: 'hello',
      secret: 's3',
      owner: alice.id,
    })
    expect(created.status).toBe(201)
    await s.api(
      'PATCH',
      `/api/collections/notes/records/${created.body.id}`,
      { text: 'edited' },
      asUser(alice),
    )
    await s.api('DELETE', `/api/collections/notes/records/${created.body.id}`, undefined, asUser(alice))
    await expect.poll(() => ga.length).toBe(3)
    await expect.poll(() => gadm.length).toBe(3)
    await settle()
    expect(ga.map((c) => c.action)).toEqual(['create', 'update', 'delete'])
    expect(ga[1]!.record).toMatchObject({ id: created.body.id, text: 'edited', owner: alice.id, version: 2 })
    expect(ga[0]!.record).not.toHaveProperty('secret')
    expect(gadm[0]!.record.secret).toBe('s3')
    expect(gb).toEqual([])
    expect(gn).toEqual([])
    const seqs = ga.map((c) => c.seq)
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs)
    // Every subscriber gets its own object: what one sees never carries another's view.
    expect(ga[0]!.record).not.toBe(gadm[0]!.record)
  })

  it('follows one record, or a filter, and refuses filters on fields the subscriber cannot read', async () => {
    const a = await connected(client(alice.jwt))
    const n1 = (
      await s.api('POST', '/api/collections/notes/records', { text: 'one', owner: alice.id }, asUser(alice))
    ).body
    const n2 = (
      await s.api('POST', '/api/collections/notes/records', { text: 'two', owner: alice.id }, asUser(alice))
    ).body
    const got = changes(a)
    const one = await call(a, 'subscribe', { collection: 'notes', id: n1.id })
    const filtered = await call(a, 'subscribe', { collection: 'notes', filter: "text ~ 'urgent'" })
    await s.api('PATCH', `/api/collections/notes/records/${n2.id}`, { text: 'urgent two' }, asUser(alice))
    await s.api('PATCH', `/api/collections/notes/records/${n1.id}`, { text: 'one again' }, asUser(alice))
    await expect.poll(() => got.length).toBe(2)
    await settle()
    expect(got.find((c) => c.subscriptionId === one.subscriptionId)!.record.id).toBe(n1.id)
    expect(got.find((c) => c.subscriptionId === filtered.subscriptionId)!.record.id).toBe(n2.id)

    const hidden = await call(a, 'subscribe', { collection: 'notes', filter: "secret = 'x'" })
    expect(hidden).toMatchObject({ ok: false, error: { code: 'INVALID_FILTER' } })
    const bad = await call(a, 'subscribe', { collection: 'notes', filter: 'text ==' })
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_FILTER' } })
    expect(await call(a, 'subscribe', { collection: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    })
    expect(await call(a, 'unsubscribe', { subscriptionId: one.subscriptionId })).toEqual({ ok: true })
  })

  it('checks rules that look through relations in SQL, one query for all subscribers', async () => {
    const a = await connected(client(alice.jwt))
    const b = await connected(client(bob.jwt))
    const [ga, gb] = [changes(a), changes(b)]
    await call(a, 'subscribe', { collection: 'comments' })
    await call(b, 'subscribe', { collection: 'comments' })
    const note = (
      await s.api('POST', '/api/collections/notes/records', { text: 'n', owner: alice.id }, asUser(alice))
    ).body
    const comment = await s.api('POST', '/api/collections/comments/records', { body: 'first', note: note.id })
    expect(comment.status).toBe(201)
    await expect.poll(() => ga.length).toBe(1)
    await settle()
    expect(ga[0]!.record.body).toBe('first')
    expect(gb).toEqual([])
    // A delete is judged on the record as it was.
    await s.api('DELETE', `/api/collections/comments/records/${comment.body.id}`)
    await expect.poll(() => ga.length).toBe(2)
    expect(ga[1]!.action).toBe('delete')
    await settle()
    expect(gb).toEqual([])
  })
})

describe('identity', () => {
  it('refuses a bad token at the handshake instead of falling back to anonymous', async () => {
    const so = client('not-a-token')
    const err = await new Promise<any>((resolve) => so.once('connect_error', resolve))
    expect(err.data).toMatchObject({ code: 'UNAUTHORIZED' })
    expect(so.connected).toBe(false)
  })

  it('takes a fresh token for the same user on a live connection, and no other identity', async () => {
    const a = await connected(client(alice.jwt))
    const fresh = (await authCall(s, 'GET', '/token', undefined, { token: alice.token })).body.token
    expect(await call(a, 'auth', { token: fresh })).toEqual({ ok: true })
    expect(await call(a, 'auth', { token: bob.jwt })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    })
    expect(a.connected).toBe(true)
  })

  it('disconnects a connection whose session was signed out', async () => {
    const dave = await signUp(s, 'rt-dave@example.com')
    const viaJwt = await connected(client(dave.jwt))
    const viaSession = await connected(client(dave.token))
    const ended = Promise.all(
      [viaJwt, viaSession].map((so) => new Promise<any>((resolve) => so.once('auth_error', resolve))),
    )
    expect((await authCall(s, 'POST', '/sign-out', undefined, { token: dave.token })).status).toBe(200)
    for (const e of await ended) expect(e).toMatchObject({ code: 'SESSION_ENDED' })
    await expect.poll(() => viaJwt.connected || viaSession.connected).toBe(false)
  })

  it('disconnects a user who is banned', async () => {
    const carol = await signUp(s, 'rt-carol@example.com')
    const c = await connected(client(carol.jwt))
    const ended = new Promise<any>((resolve) => c.once('auth_error', resolve))
    const ban = await s.api('POST', `/api/admin/users/${carol.id}/ban`, { reason: 'test' })
    expect(ban.status).toBe(200)
    expect(await ended).toMatchObject({ code: 'SESSION_ENDED' })
    await expect.poll(() => c.connected).toBe(false)
  })
})

describe('missed changes', () => {
  it('replays what a reconnecting client missed, in order, or says to resync', async () => {
    const a = await connected(client(alice.jwt))
    const got = changes(a)
    await call(a, 'subscribe', { collection: 'notes' })
    const n = (
      await s.api('POST', '/api/collections/notes/records', { text: 'v1', owner: alice.id }, asUser(alice))
    ).body
    await expect.poll(() => got.length).toBe(1)
    const last = got[0]!.seq
    a.disconnect()
    await s.api('PATCH', `/api/collections/notes/records/${n.id}`, { text: 'v2' }, asUser(alice))
    await s.api('PATCH', `/api/collections/notes/records/${n.id}`, { text: 'v3' }, asUser(alice))
    // Someone else's change, which Alice must not get even on replay.
    await s.api('POST', '/api/collections/notes/records', { text: 'bob', owner: bob.id }, asUser(bob))

    const again = await connected(client(alice.jwt))
    const replayed = changes(again)
    const r = await call(again, 'subscribe', { collection: 'notes', since: last })
    expect(r.ok).toBe(true)
    await expect.poll(() => replayed.length).toBe(2)
    await settle()
    expect(replayed.map((c) => c.record.text)).toEqual(['v2', 'v3'])

    const resync = new Promise<any>((resolve) => again.once('resync', resolve))
    const old = await call(again, 'subscribe', { collection: 'notes', since: 0 })
    expect(await resync).toEqual({ subscriptionId: old.subscriptionId })
  })
})

describe('limits', () => {
  it('disconnects a sender of malformed packets, and only that one', async () => {
    const bad = await connected(client(alice.jwt))
    const good = await connected(client(alice.jwt))
    bad.emit('subscribe', 'not an object')
    await expect.poll(() => bad.connected).toBe(false)
    expect(good.connected).toBe(true)
    expect((await call(good, 'subscribe', { collection: 'notes' })).ok).toBe(true)
  })

  it('closes a connection that sends an oversized message', async () => {
    const big = await connected(client(alice.jwt))
    const other = await connected(client(alice.jwt))
    big.emit('subscribe', { collection: 'notes', filter: `text = '${'x'.repeat(100_000)}'` })
    await expect.poll(() => big.connected).toBe(false)
    expect(other.connected).toBe(true)
  })

  it('drops a subscriber that stops reading, while the others keep receiving', async () => {
    const slow = await connected(client(alice.jwt))
    const fast = await connected(client(alice.jwt))
    const got = changes(fast)
    await call(slow, 'subscribe', { collection: 'notes' })
    await call(fast, 'subscribe', { collection: 'notes' })
    // Stop reading the socket: the kernel's buffers fill, then the server's queue for this connection.
    ;(slow.io.engine as any).transport.ws._socket.pause()
    const text = 'x'.repeat(20_000)
    const total = 1400
    for (let i = 0; i < total; i += 100) {
      const requests = Array.from({ length: 100 }, () => ({
        method: 'POST',
        path: '/api/collections/notes/records',
        body: { text, owner: alice.id },
      }))
      expect((await s.api('POST', '/api/batch', { requests })).status).toBe(200)
    }
    await expect.poll(() => got.length, { timeout: 20_000 }).toBe(total)
    // The server let go of the stalled connection instead of queueing for it without end.
    await expect
      .poll(() => s.bastide.realtime!.io.sockets.sockets.has(slow.id!), { timeout: 10_000 })
      .toBe(false)
  }, 60_000)

  it('disconnects a connection that floods', async () => {
    const flood = await connected(client(alice.jwt))
    for (let i = 0; i < 300; i++) flood.emit('unsubscribe', { subscriptionId: 'x' })
    await expect.poll(() => flood.connected).toBe(false)
  })
})

describe('channels on the real server', () => {
  it('serves join, broadcast and presence on the same connections as subscriptions', async () => {
    const def = await s.api('POST', '/api/realtime/channels', {
      pattern: 'room:*',
      rules: { join: "@request.auth.id != ''", send: "@request.auth.id != ''" },
    })
    expect(def.status).toBe(201)
    const a = await connected(client(alice.jwt))
    const b = await connected(client(bob.jwt))
    const anon = await connected(client())
    expect(await call(a, 'join', { channel: 'room:1' })).toMatchObject({ ok: true })
    const joined = await call(b, 'join', { channel: 'room:1' })
    expect(joined.ok).toBe(true)
    expect(await call(anon, 'join', { channel: 'room:1' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    })
    expect(await call(a, 'join', { channel: 'other' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    })
    const heard = new Promise<any>((resolve) => b.once('broadcast', resolve))
    expect(
      await call(a, 'broadcast', { channel: 'room:1', event: 'typing', payload: { on: true } }),
    ).toMatchObject({
      ok: true,
    })
    expect(await heard).toMatchObject({
      channel: 'room:1',
      event: 'typing',
      payload: { on: true },
      from: { id: alice.id },
    })
    const seen = new Promise<any>((resolve) =>
      a.on('presence', (p: any) => {
        if (Object.keys(p.joins).length) resolve(p)
      }),
    )
    expect((await call(b, 'presence:track', { channel: 'room:1', state: { status: 'online' } })).ok).toBe(
      true,
    )
    const diff = await seen
    expect(Object.values(diff.joins)).toEqual([expect.objectContaining({ state: { status: 'online' } })])
  })
})
