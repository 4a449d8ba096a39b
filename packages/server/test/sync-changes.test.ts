import type { SyncChange } from '@bastide/protocol'
import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSyncCursorCodec, MAX_ID } from '../src/core/sync/cursor.ts'
import { recordAtVersion } from '../src/core/sync/history.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import {
  createCollection,
  createRecord,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from './support/harness.ts'
import { enableSync, pullAll, pullPage, settle } from './support/sync.ts'

/**
 * GET /api/collections/:name/changes: the initial sync by id, then the change log in commit order; removals only
 * for callers who could see the record; cursors that must resync; a transaction that commits late is not lost.
 */
let s: TestServer
let ada: SignedUp
let bob: SignedUp

const users = (name: string) => ({
  name,
  type: 'relation',
  options: { collection: 'users', onDelete: 'set_null' },
})
const db = () => s.bastide.database.db
const api = (method: string, path: string, body?: unknown) => s.api(method, path, body)
const ids = (changes: readonly SyncChange[]) => changes.map((c) => (c.op === 'upsert' ? c.record.id : c.id))
const upserted = (changes: readonly SyncChange[]) =>
  changes.flatMap((c) => (c.op === 'upsert' ? [c.record as Record<string, unknown>] : []))

beforeAll(async () => {
  s = await startTestServer()
  ada = await signUp(s, 'ada@example.com')
  bob = await signUp(s, 'bob@example.com')
  await createCollection(s, {
    name: 'bulk',
    fields: [{ name: 'n', type: 'number' }],
    rules: { list: '', view: '' },
  })
  await createCollection(s, {
    name: 'tasks',
    fields: [
      { name: 'title', type: 'text' },
      { name: 'done', type: 'bool' },
      { name: 'secret', type: 'text', hidden: true },
      users('owner'),
    ],
    rules: {
      list: 'owner = @request.auth.id',
      view: 'owner = @request.auth.id',
      create: '',
      update: 'owner = @request.auth.id',
      delete: 'owner = @request.auth.id',
    },
  })
  await createCollection(s, {
    name: 'quiet',
    fields: [{ name: 't', type: 'text' }],
    rules: { list: '', view: '' },
  })
  await enableSync(s, 'bulk')
  await enableSync(s, 'tasks')
})
afterAll(() => s?.close())

describe('initial sync', () => {
  it('pages 2500 records 1000 at a time, each once, by id, then an empty delta', async () => {
    await sql`INSERT INTO data.bulk (id, n) SELECT gen_random_uuid(), g FROM generate_series(1, 2500) g`.execute(
      db(),
    )
    // Logged before the initial sync starts, so its delta has nothing to replay.
    await settle(s)
    const first = await pullPage(s, 'bulk', { limit: 1000 })
    expect(first).toMatchObject({ hasMore: true, resync: false })
    expect(first.changes).toHaveLength(1000)
    expect(first.fields).toEqual([{ name: 'n', type: 'number', multiple: false }])
    const { changes, cursor, pages } = await pullAll(s, 'bulk', { limit: 1000, since: first.cursor })
    const all = [...first.changes, ...changes]
    expect(pages.map((p) => p.changes.length)).toEqual([1000, 500])
    expect(all.every((c) => c.op === 'upsert')).toBe(true)
    const got = ids(all)
    expect(new Set(got).size).toBe(2500)
    expect(got).toEqual([...got].sort())
    const ns = upserted(all).map((r) => r.n as number)
    expect(new Set(ns).size).toBe(2500)
    const delta = await pullPage(s, 'bulk', { since: cursor })
    expect(delta).toMatchObject({ changes: [], hasMore: false, resync: false })
  })

  it('answers an empty collection with no changes and a cursor that sees what comes next', async () => {
    await createCollection(s, {
      name: 'empty',
      fields: [{ name: 't', type: 'text' }],
      rules: { list: '', view: '' },
    })
    await enableSync(s, 'empty')
    const page = await pullPage(s, 'empty')
    expect(page).toMatchObject({ changes: [], hasMore: false, resync: false })
    const r = await createRecord(s, 'empty', { t: 'x' })
    const next = await pullAll(s, 'empty', { since: page.cursor })
    expect(ids(next.changes)).toEqual([r.id])
  })
})

describe('delta', () => {
  it('returns creates, updates and deletes after the cursor once each, in commit order, as they are now', async () => {
    const a = await createRecord(s, 'bulk', { n: -1 })
    const b = await createRecord(s, 'bulk', { n: -2 })
    const { cursor } = await pullAll(s, 'bulk')
    expect((await pullPage(s, 'bulk', { since: cursor })).changes).toEqual([])
    expect((await api('PATCH', `/api/collections/bulk/records/${b.id}`, { n: -20 })).status).toBe(200)
    expect((await api('DELETE', `/api/collections/bulk/records/${a.id}`)).status).toBe(204)
    const c = await createRecord(s, 'bulk', { n: -3 })
    expect((await api('PATCH', `/api/collections/bulk/records/${b.id}`, { n: -200 })).status).toBe(200)
    // Created and deleted between two pulls: a removal all the same (the device may hold it from its push's answer).
    const d = await createRecord(s, 'bulk', { n: -4 })
    expect((await api('DELETE', `/api/collections/bulk/records/${d.id}`)).status).toBe(204)
    await settle(s)
    const page = await pullPage(s, 'bulk', { since: cursor })
    expect(page.hasMore).toBe(false)
    expect(page.changes).toEqual([
      { op: 'upsert', record: expect.objectContaining({ id: b.id, n: -200, version: 3 }) },
      { op: 'remove', id: a.id, reason: 'deleted' },
      { op: 'upsert', record: expect.objectContaining({ id: c.id, n: -3 }) },
      { op: 'remove', id: d.id, reason: 'deleted' },
    ])
    // Shaped as the records API shapes them.
    const viewed = await api('GET', `/api/collections/bulk/records/${c.id}`)
    expect(upserted(page.changes)[1]).toEqual(viewed.body)
    expect((await pullPage(s, 'bulk', { since: page.cursor })).changes).toEqual([])
  })

  it('pages the log by limit, each record at most once per page', async () => {
    const { cursor } = await pullAll(s, 'bulk')
    const r = await createRecord(s, 'bulk', { n: 1 })
    for (let i = 2; i <= 5; i++) await api('PATCH', `/api/collections/bulk/records/${r.id}`, { n: i })
    const others = [await createRecord(s, 'bulk', { n: 10 }), await createRecord(s, 'bulk', { n: 11 })]
    await settle(s)
    const first = await pullPage(s, 'bulk', { since: cursor, limit: 3 })
    expect(first.hasMore).toBe(true)
    expect(ids(first.changes)).toEqual([r.id])
    const rest = await pullAll(s, 'bulk', { since: first.cursor, limit: 3 })
    expect(ids(rest.changes)).toEqual([r.id, ...others.map((o) => o.id)])
    expect(upserted(rest.changes)[0]!.n).toBe(5)
  })

  it('does not skip a transaction that took its xid first and committed after a later one', async () => {
    const { cursor } = await pullAll(s, 'bulk')
    const client = new pg.Client({ connectionString: s.dbUrl })
    await client.connect()
    try {
      await client.query('BEGIN')
      const early = '0190f000-0000-7000-8000-00000000e001'
      await client.query('INSERT INTO data.bulk (id, n) VALUES ($1, 1000)', [early])
      const later = await createRecord(s, 'bulk', { n: 1001 })
      // The later write committed, but it sits behind the open transaction: not yet.
      const held = await pullAll(s, 'bulk', { since: cursor, settle: false })
      expect(ids(held.changes)).not.toContain(early)
      await client.query('COMMIT')
      const after = await pullAll(s, 'bulk', { since: held.cursor })
      const got = [...ids(held.changes), ...ids(after.changes)]
      expect(got).toContain(early)
      expect(got).toContain(later.id)
      expect(got.filter((x) => x === early)).toHaveLength(1)
    } finally {
      await client.end()
    }
  })
})

describe('history', () => {
  it('finds a record as it was at a version, while the log has it', async () => {
    const r = await createRecord(s, 'bulk', { n: 1 })
    await api('PATCH', `/api/collections/bulk/records/${r.id}`, { n: 2 })
    await api('PATCH', `/api/collections/bulk/records/${r.id}`, { n: 3 })
    const c = (await api('GET', '/api/collections/bulk')).body
    const v1 = await recordAtVersion(db(), c, r.id, 1)
    expect(v1).toMatchObject({ id: r.id, n: 1, version: 1 })
    expect(new Date(v1!.created as Date).toISOString()).toBe(r.created)
    expect(await recordAtVersion(db(), c, r.id, 2)).toMatchObject({ n: 2, version: 2 })
    // The current version is the table's, not the log's.
    expect(await recordAtVersion(db(), c, r.id, 3)).toBeUndefined()
  })
})

describe('under rules', () => {
  const task = (data: Record<string, unknown>, as: string) => createRecord(s, 'tasks', data, as)

  it('gives each caller only what it may see, hidden fields left out for users', async () => {
    // The hidden field is the admin's to set.
    const mine = await createRecord(s, 'tasks', { title: 'ada 1', secret: 's1', owner: ada.id })
    await task({ title: 'bob 1', owner: bob.id }, bob.token)
    const asAda = await pullAll(s, 'tasks', { as: ada.token })
    expect(ids(asAda.changes)).toEqual([mine.id])
    expect(upserted(asAda.changes)[0]).not.toHaveProperty('secret')
    expect(asAda.pages[0]!.fields.map((f) => f.name)).toEqual(['title', 'done', 'owner'])
    expect(asAda.pages[0]!.fields.find((f) => f.name === 'owner')).toEqual({
      name: 'owner',
      type: 'relation',
      multiple: false,
      collection: 'users',
    })
    const asAdmin = await pullAll(s, 'tasks')
    expect(upserted(asAdmin.changes).find((r) => r.id === mine.id)).toMatchObject({ secret: 's1' })
    expect(asAdmin.pages[0]!.fields.map((f) => f.name)).toContain('secret')
    const anon = await pullAll(s, 'tasks', { as: 'anon' })
    expect(anon.changes).toEqual([])
    // A hidden field cannot be filtered on by a user either.
    const r = await s.api(
      'GET',
      `/api/collections/tasks/changes?filter=${encodeURIComponent("secret = 's1'")}`,
      undefined,
      {
        as: ada.token,
      },
    )
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('INVALID_FILTER')
  })

  it('announces a record that left a view, and a deletion, only to callers who could see it', async () => {
    const moved = await task({ title: 'to bob', owner: ada.id }, ada.token)
    const dropped = await task({ title: 'to nobody', owner: ada.id }, ada.token)
    const deleted = await task({ title: 'deleted', owner: ada.id }, ada.token)
    const adaStart = (await pullAll(s, 'tasks', { as: ada.token })).cursor
    const bobStart = (await pullAll(s, 'tasks', { as: bob.token })).cursor
    const anonStart = (await pullAll(s, 'tasks', { as: 'anon' })).cursor
    expect((await api('PATCH', `/api/collections/tasks/records/${moved.id}`, { owner: bob.id })).status).toBe(
      200,
    )
    expect((await api('PATCH', `/api/collections/tasks/records/${dropped.id}`, { owner: null })).status).toBe(
      200,
    )
    expect((await api('DELETE', `/api/collections/tasks/records/${deleted.id}`)).status).toBe(204)
    const forAda = await pullAll(s, 'tasks', { as: ada.token, since: adaStart })
    expect(forAda.changes).toEqual([
      { op: 'remove', id: moved.id, reason: 'left_view' },
      { op: 'remove', id: dropped.id, reason: 'left_view' },
      { op: 'remove', id: deleted.id, reason: 'deleted' },
    ])
    const forBob = await pullAll(s, 'tasks', { as: bob.token, since: bobStart })
    expect(forBob.changes).toEqual([
      { op: 'upsert', record: expect.objectContaining({ id: moved.id, owner: bob.id }) },
    ])
    // Never a word about records the caller never saw.
    const forAnon = await pullAll(s, 'tasks', { as: 'anon', since: anonStart })
    expect(forAnon.changes).toEqual([])
  })

  it('removes a record the caller got newer than its cursor, created and deleted since', async () => {
    // A transaction held open elsewhere keeps the first sync's start position before the create: the record
    // arrives with the first sync's pages, and its create and delete both lie after the cursor.
    const client = new pg.Client({ connectionString: s.dbUrl })
    await client.connect()
    try {
      await client.query('BEGIN')
      await client.query('SELECT pg_current_xact_id()')
      const brief = await task({ title: 'brief', owner: ada.id }, ada.token)
      const first = await pullAll(s, 'tasks', { as: ada.token, settle: false })
      expect(ids(first.changes)).toContain(brief.id)
      const bobFirst = await pullAll(s, 'tasks', { as: bob.token, settle: false })
      await client.query('COMMIT')
      expect((await api('DELETE', `/api/collections/tasks/records/${brief.id}`)).status).toBe(204)
      const next = await pullAll(s, 'tasks', { as: ada.token, since: first.cursor })
      expect(next.changes).toContainEqual({ op: 'remove', id: brief.id, reason: 'deleted' })
      // Bob never could see it: not a word.
      const forBob = await pullAll(s, 'tasks', { as: bob.token, since: bobFirst.cursor })
      expect(ids(forBob.changes)).not.toContain(brief.id)
    } finally {
      await client.end()
    }
  })

  it('applies the filter, and a removal when a record stops matching it', async () => {
    const open = await task({ title: 'open', done: false, owner: ada.id }, ada.token)
    const closed = await task({ title: 'closed', done: true, owner: ada.id }, ada.token)
    const filter = 'done = false'
    const initial = await pullAll(s, 'tasks', { as: ada.token, filter })
    expect(ids(initial.changes)).toContain(open.id)
    expect(ids(initial.changes)).not.toContain(closed.id)
    expect(upserted(initial.changes).every((r) => r.done === false)).toBe(true)
    await api('PATCH', `/api/collections/tasks/records/${open.id}`, { done: true })
    await api('PATCH', `/api/collections/tasks/records/${closed.id}`, { title: 'still closed' })
    const delta = await pullAll(s, 'tasks', { as: ada.token, filter, since: initial.cursor })
    expect(delta.changes).toEqual([{ op: 'remove', id: open.id, reason: 'left_view' }])
    // The same cursor with another filter: start over.
    const other = await pullPage(s, 'tasks', { as: ada.token, filter: 'done = true', since: initial.cursor })
    expect(other).toMatchObject({ changes: [], resync: true, hasMore: false })
    const none = await pullPage(s, 'tasks', { as: ada.token, since: initial.cursor })
    expect(none.resync).toBe(true)
  })
})

describe('resync and errors', () => {
  it('tells a cursor past retention to resync', async () => {
    const r = await createRecord(s, 'bulk', { n: 7 })
    const { cursor } = await pullAll(s, 'bulk')
    await api('PATCH', `/api/collections/bulk/records/${r.id}`, { n: 8 })
    await sql`UPDATE bastide.sync_log SET at = now() - interval '40 days'`.execute(db())
    // Retention removes only entries of finished transactions.
    await settle(s)
    await s.bastide.scheduler.runNow('sync', 'purge-log')
    const page = await pullPage(s, 'bulk', { since: cursor })
    expect(page).toMatchObject({ changes: [], resync: true })
    // Its cursor starts a fresh initial sync.
    const again = await pullAll(s, 'bulk', { since: page.cursor })
    expect(ids(again.changes)).toContain(r.id)
    expect(again.pages.every((p) => !p.resync)).toBe(true)
  })

  it('keeps a quiet collection’s cursor ahead of retention', async () => {
    await enableSync(s, 'quiet')
    const { cursor } = await pullAll(s, 'quiet')
    await createRecord(s, 'bulk', { n: 9 })
    await settle(s)
    const moved = await pullPage(s, 'quiet', { since: cursor })
    await sql`UPDATE bastide.sync_log SET at = now() - interval '40 days'`.execute(db())
    await settle(s)
    await s.bastide.scheduler.runNow('sync', 'purge-log')
    expect((await pullPage(s, 'quiet', { since: moved.cursor })).resync).toBe(false)
  })

  it('tells cursors to resync when the collection’s fields or rules change', async () => {
    const { cursor } = await pullAll(s, 'bulk')
    expect(
      (await api('PATCH', '/api/collections/bulk', { rules: { list: '', view: 'n != 0' } })).status,
    ).toBe(200)
    // At once: the cursor carries a hash of the fields and rules it was issued under.
    expect((await pullPage(s, 'bulk', { since: cursor })).resync).toBe(true)
    const fresh = await pullAll(s, 'bulk')
    expect(
      (
        await s.api('PATCH', '/api/collections/bulk', {
          fields: [
            { name: 'n', type: 'number' },
            { name: 'm', type: 'text' },
          ],
        })
      ).status,
    ).toBe(200)
    const after = await pullPage(s, 'bulk', { since: fresh.cursor })
    expect(after.resync).toBe(true)
    expect(after.fields.map((f) => f.name)).toEqual(['n', 'm'])
  })

  it('answers 409 SYNC_DISABLED, 400 INVALID_CURSOR, 404 and 400 for a bad limit', async () => {
    await createCollection(s, {
      name: 'off',
      fields: [{ name: 't', type: 'text' }],
      rules: { list: '', view: '' },
    })
    const off = await api('GET', '/api/collections/off/changes')
    expect(off.status).toBe(409)
    expect(off.body).toMatchObject({ code: 'SYNC_DISABLED', status: 409 })
    for (const since of [
      'garbage',
      'djEuYWJj',
      Buffer.from('v1.x.y').toString('base64url'),
      'a'.repeat(600),
    ]) {
      const r = await api('GET', `/api/collections/bulk/changes?since=${since}`)
      expect(r.status, since).toBe(400)
      expect(r.body.code).toBe(since.length > 512 ? 'BAD_REQUEST' : 'INVALID_CURSOR')
    }
    expect((await api('GET', '/api/collections/nope/changes')).status).toBe(404)
    for (const limit of ['0', '5001', 'x', '-1']) {
      const r = await api('GET', `/api/collections/bulk/changes?limit=${limit}`)
      expect(r.status, limit).toBe(400)
    }
    const bad = await api('GET', `/api/collections/bulk/changes?filter=${encodeURIComponent('n ==')}`)
    expect(bad.status).toBe(400)
    expect(bad.body.code).toBe('INVALID_FILTER')
  })

  it('refuses a cursor altered by a character, forged, or signed under another secret, and leaks nothing', async () => {
    const { cursor } = await pullAll(s, 'bulk')
    // Signed with a key derived from this server's secret.
    const issued = createSyncCursorCodec(TEST_SECRET).decode(cursor)
    expect(issued.phase).toBe('delta')
    const bytes = Buffer.from(cursor, 'base64url')
    const payload = bytes.subarray(0, bytes.length - 16)
    const mac = bytes.subarray(bytes.length - 16)
    // The same cursor, moved far into the future: well-formed, as cursors were before they were signed.
    const far = Buffer.from(payload.toString('utf8').replace(/\.d\.\d+\.\d+$/, `.d.${MAX_ID}.${MAX_ID}`))
    expect(far.equals(payload)).toBe(false)
    const swap = (i: number) => `${cursor.slice(0, i)}${cursor[i] === 'A' ? 'B' : 'A'}${cursor.slice(i + 1)}`
    const forged = {
      'first character changed': swap(0),
      'a middle character changed': swap(Math.floor(cursor.length / 2)),
      'last character changed': swap(cursor.length - 1),
      'another position, unsigned': far.toString('base64url'),
      'another position, the old signature': Buffer.concat([far, mac]).toString('base64url'),
      'the signature dropped': payload.toString('base64url'),
      'another server’s secret': createSyncCursorCodec(`${TEST_SECRET}-other`).encode(issued),
    }
    for (const [what, since] of Object.entries(forged)) {
      expect(since, what).not.toBe(cursor)
      const r = await api('GET', `/api/collections/bulk/changes?since=${since}`)
      expect(r.status, what).toBe(400)
      expect(r.body, what).toMatchObject({ code: 'INVALID_CURSOR', status: 400 })
      expect(r.body.message, what).toMatch(/pass back a `cursor` from an earlier page, or none to start over/)
      expect(r.body, what).not.toHaveProperty('changes')
      expect(r.body, what).not.toHaveProperty('cursor')
    }
    // The cursor as issued still pulls.
    expect((await pullPage(s, 'bulk', { since: cursor })).resync).toBe(false)
  })

  it('reads a page in a bounded number of statements, whatever its size', async () => {
    const made = []
    for (let i = 0; i < 20; i++) made.push(await createRecord(s, 'bulk', { n: 100 + i }))
    const { cursor } = await pullAll(s, 'bulk')
    for (const r of made.slice(0, 10)) await api('DELETE', `/api/collections/bulk/records/${r.id}`)
    for (const r of made.slice(10)) await api('PATCH', `/api/collections/bulk/records/${r.id}`, { n: 1 })
    await settle(s)
    s.resetQueries()
    const page = await pullPage(s, 'bulk', { since: cursor })
    expect(page.changes).toHaveLength(20)
    const touching = s.queries.filter((q) => /sync_log|data\.|"data"\./.test(q))
    expect(touching.length).toBeLessThanOrEqual(3)
  })
})
