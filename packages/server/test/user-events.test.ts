import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { EventName, RecordEvent } from '../src/events/catalog.ts'
import { authCall, type SignedUp, signIn, signUp } from './support/auth.ts'
import { createCollection, startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
type Seen = RecordEvent & { readonly name: EventName }
const seen: Seen[] = []
const unsubscribe: (() => void)[] = []

beforeAll(async () => {
  s = await startTestServer()
  for (const name of ['record.created', 'record.updated', 'record.deleted'] as const)
    unsubscribe.push(s.bastide.bus.on(name, (e) => seen.push({ ...e, name })))
})
afterAll(async () => {
  for (const u of unsubscribe) u()
  await s?.close()
})

const usersEvents = () => seen.filter((e) => e.collection === 'users')
const lastSeq = () => seen.at(-1)?.seq ?? 0

/** Seqs strictly increase in the order events are emitted, across collections. */
function expectIncreasingSeqs(events: readonly Seen[]) {
  for (let i = 1; i < events.length; i++) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq)
}

describe('the users collection emits record events for writes made by auth and the console', () => {
  let u: SignedUp
  beforeEach(() => expectIncreasingSeqs(seen))

  it('sign-up: one record.created with the id and email, no secret', async () => {
    const before = seen.length
    const r = await authCall(s, 'POST', '/sign-up/email', {
      email: 'Eve@Example.com',
      password: 'a long and unusual passphrase',
      name: 'Eve',
    })
    expect(r.status).toBe(200)
    const mine = seen.slice(before).filter((e) => e.collection === 'users')
    expect(mine.map((e) => e.name)).toEqual(['record.created'])
    const e = mine[0]!
    expect(e).toMatchObject({ action: 'create', collection: 'users' })
    expect(e.record).toMatchObject({
      id: r.body.user.id,
      email: 'eve@example.com',
      name: 'Eve',
      verified: false,
    })
    // The record as the records API returns it to a rule-bypassing reader: hidden fields, no secrets.
    expect(e.record).toHaveProperty('banned', false)
    const json = JSON.stringify(e)
    expect(json).not.toMatch(/password|passphrase|secret|token/i)
    expect(typeof e.seq).toBe('number')
    expect(Date.parse(e.at)).not.toBeNaN()

    const token = await signIn(s, 'eve@example.com', 'a long and unusual passphrase')
    u = {
      id: r.body.user.id,
      email: 'eve@example.com',
      password: 'a long and unusual passphrase',
      token,
      jwt: '',
    }
  })

  it('a failed sign-up (weak password) emits nothing', async () => {
    const before = seen.length
    const r = await authCall(s, 'POST', '/sign-up/email', {
      email: 'weak@example.com',
      password: 'x',
      name: 'W',
    })
    expect(r.status).toBe(400)
    expect(seen.length).toBe(before)
  })

  it('update-user: record.updated with the new name and a higher seq', async () => {
    const seq = lastSeq()
    const before = seen.length
    const r = await authCall(s, 'POST', '/update-user', { name: 'Evelyn' }, { token: u.token })
    expect(r.status).toBe(200)
    const mine = seen.slice(before)
    expect(mine.map((e) => [e.name, e.collection])).toEqual([['record.updated', 'users']])
    expect(mine[0]!.record).toMatchObject({ id: u.id, name: 'Evelyn', email: u.email })
    expect(mine[0]!.seq).toBeGreaterThan(seq)
  })

  it('console verify: record.updated with verified true', async () => {
    const before = seen.length
    const v = await s.api('POST', `/api/admin/users/${u.id}/verify`)
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    const mine = seen.slice(before)
    expect(mine.map((e) => e.name)).toEqual(['record.updated'])
    expect(mine[0]!.record).toMatchObject({ id: u.id, verified: true, name: 'Evelyn' })
  })

  it('console patch of system and profile fields: one record.updated with the final row', async () => {
    const before = seen.length
    const p = await s.api('PATCH', `/api/admin/users/${u.id}`, { role: 'editor', name: 'Eve R.' })
    expect(p.status, JSON.stringify(p.body)).toBe(200)
    const mine = seen.slice(before)
    expect(mine.map((e) => e.name)).toEqual(['record.updated'])
    expect(mine[0]!.record).toMatchObject({ id: u.id, role: 'editor', name: 'Eve R.' })

    const only = seen.length
    expect((await s.api('PATCH', `/api/admin/users/${u.id}`, { role: 'user' })).status).toBe(200)
    expect(seen.slice(only).map((e) => [e.name, e.record.role])).toEqual([['record.updated', 'user']])

    // A refused patch (rolled back) emits nothing.
    const refused = seen.length
    expect((await s.api('PATCH', `/api/admin/users/${u.id}`, { role: 'x', nope: 1 })).status).toBe(400)
    expect(seen.length).toBe(refused)
  })

  it('console ban and unban: record.updated each, with the ban state', async () => {
    const before = seen.length
    expect((await s.api('POST', `/api/admin/users/${u.id}/ban`, { reason: 'spam' })).status).toBe(200)
    expect((await s.api('POST', `/api/admin/users/${u.id}/unban`)).status).toBe(200)
    const mine = seen.slice(before)
    expect(mine.map((e) => [e.name, e.record.banned, e.record.banReason])).toEqual([
      ['record.updated', true, 'spam'],
      ['record.updated', false, null],
    ])
    const missing = seen.length
    expect(
      (await s.api('POST', '/api/admin/users/00000000-0000-7000-8000-00000000abcd/ban', {})).status,
    ).toBe(404)
    expect(seen.length).toBe(missing)
  })

  it('console create (through better-auth): record.created', async () => {
    const before = seen.length
    const c = await s.api('POST', '/api/admin/users', {
      email: 'made@example.com',
      password: 'quiet meadow after rain',
      verified: true,
    })
    expect(c.status, JSON.stringify(c.body)).toBe(201)
    const mine = seen.slice(before)
    expect(mine.map((e) => e.name)).toEqual(['record.created'])
    expect(mine[0]!.record).toMatchObject({ id: c.body.id, email: 'made@example.com', verified: true })
  })

  it('account deletion: record.deleted with the record as it was', async () => {
    const token = await signIn(s, u.email, u.password)
    const wrongBefore = seen.length
    const wrong = await authCall(s, 'POST', '/delete-user', { password: 'not the password' }, { token })
    expect(wrong.status).toBe(400)
    expect(seen.length).toBe(wrongBefore)

    const before = seen.length
    const del = await authCall(s, 'POST', '/delete-user', { password: u.password }, { token })
    expect(del.status, JSON.stringify(del.body)).toBe(200)
    const mine = seen.slice(before)
    expect(mine.map((e) => [e.name, e.collection])).toEqual([['record.deleted', 'users']])
    expect(mine[0]).toMatchObject({ action: 'delete', record: { id: u.id, email: u.email, name: 'Eve R.' } })
  })

  it('an anonymous user signing up: its records move with record.updated, then it goes', async () => {
    await createCollection(s, {
      name: 'notes',
      fields: [
        { name: 'text', type: 'text' },
        { name: 'owner', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
      ],
      rules: { list: '', view: '', create: '', update: '', delete: '' },
    })
    const a = await authCall(s, 'POST', '/sign-in/anonymous')
    expect(a.status).toBe(200)
    const anonId = a.body.user.id as string
    const note = await s.api('POST', '/api/collections/notes/records', { text: 'n', owner: anonId })
    expect(note.status).toBe(201)

    const real = await signUp(s, 'ann@example.com')
    const before = seen.length
    const r = await authCall(
      s,
      'POST',
      '/sign-in/email',
      { email: real.email, password: real.password },
      { token: a.body.token },
    )
    expect(r.status).toBe(200)
    const mine = seen.slice(before)
    expect(mine.map((e) => [e.name, e.collection, e.record.id])).toEqual([
      ['record.updated', 'notes', note.body.id],
      ['record.deleted', 'users', anonId],
    ])
    expect(mine[0]!.record).toMatchObject({ owner: real.id, version: note.body.version + 1 })
    expect(mine[1]!.record).toMatchObject({ anonymous: true })
  })

  it('seqs strictly increase across every event seen', () => {
    expect(usersEvents().length).toBeGreaterThanOrEqual(9)
    expectIncreasingSeqs(seen)
  })
})
