/**
 * GET /api/auth/account/export shows a user the records that point at them only as the records API would:
 * through each collection's view rule, with this user as @request.auth, without hidden fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, type SignedUp, signUp } from './support/auth.ts'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
let bob: SignedUp
let alice: SignedUp

const users = (field: string) => ({
  name: field,
  type: 'relation',
  options: { collection: 'users', onDelete: 'set_null' },
})

beforeAll(async () => {
  s = await startTestServer()
  bob = await signUp(s, 'bob@example.com', { name: 'Bob' })
  alice = await signUp(s, 'alice@example.com', { name: 'Alice' })
  // Moderators only: the reported user must not learn who reported them, or why.
  await createCollection(s, {
    name: 'reports',
    fields: [{ name: 'reason', type: 'text' }, users('reporter'), users('subject')],
  })
  // Each reporter sees their own flags, never the flags raised about them.
  await createCollection(s, {
    name: 'flags',
    fields: [{ name: 'why', type: 'text' }, users('reporter'), users('subject')],
    rules: { list: 'reporter = @request.auth.id', view: 'reporter = @request.auth.id' },
  })
  // A rule reading another field of the user (as @request.auth) and a hidden field.
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'internal', type: 'text', hidden: true },
      users('owner'),
    ],
    rules: { list: '', view: "owner = @request.auth.id && @request.auth.name != 'Mallory'" },
  })
  await createCollection(s, {
    name: 'posts',
    fields: [{ name: 'title', type: 'text' }, users('author')],
    rules: { list: '', view: '' },
  })
  await createRecord(s, 'reports', { reason: 'spam', reporter: alice.id, subject: bob.id })
  await createRecord(s, 'reports', { reason: 'filed by bob', reporter: bob.id, subject: alice.id })
  await createRecord(s, 'flags', { why: 'about bob', reporter: alice.id, subject: bob.id })
  await createRecord(s, 'flags', { why: 'by bob', reporter: bob.id, subject: alice.id })
  for (const text of ['n1', 'n2', 'n3'])
    await createRecord(s, 'notes', { text, internal: `secret ${text}`, owner: bob.id })
  await createRecord(s, 'notes', { text: 'alice', owner: alice.id })
  await createRecord(s, 'posts', { title: 'hello', author: bob.id })
})
afterAll(() => s?.close())

const exportOf = async (u: SignedUp) => {
  const r = await authCall(s, 'GET', '/account/export', undefined, { token: u.token })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return r.body
}

describe('account export under the view rules', () => {
  it('leaves out a collection the user may not view, even though its records name them', async () => {
    const body = await exportOf(bob)
    expect(body.records).not.toHaveProperty('reports')
    const text = JSON.stringify(body)
    expect(text).not.toContain('spam')
    expect(text).not.toContain('filed by bob')
  })

  it('exports only the records the view rule lets this user view', async () => {
    const body = await exportOf(bob)
    expect(body.records.flags.map((f: any) => f.why)).toEqual(['by bob'])
    expect(JSON.stringify(body)).not.toContain('about bob')
    const theirs = await exportOf(alice)
    expect(theirs.records.flags.map((f: any) => f.why)).toEqual(['about bob'])
  })

  it('keeps what the rule allows, without hidden fields, as the records API shows it', async () => {
    const body = await exportOf(bob)
    expect(body.records.notes.map((n: any) => n.text)).toEqual(['n1', 'n2', 'n3'])
    for (const n of body.records.notes) expect(n).not.toHaveProperty('internal')
    expect(body.records.posts.map((p: any) => p.title)).toEqual(['hello'])
    const viaApi = await s.api(
      'GET',
      `/api/collections/notes/records/${body.records.notes[0].id}`,
      undefined,
      {
        as: bob.token,
      },
    )
    expect(body.records.notes[0]).toEqual(viaApi.body)
  })
})
