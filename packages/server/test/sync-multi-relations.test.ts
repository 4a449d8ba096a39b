import { randomUUID } from 'node:crypto'
import type { SyncChange, SyncMutationResult } from '@bastide/protocol'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordAtVersion } from '../src/core/sync/history.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'
import { enableSync, pullAll } from './support/sync.ts'
import { until } from './support/until.ts'

/**
 * Multiple relations (their links live in a join table of their own) in offline sync: the change log's `previous`
 * carries them, so a rule over them (`members ?= @request.auth.id`) is judged on the links a past state had (a
 * member removed gets `left_view`, a record deleted with its links `deleted`), and lww_field sees a server change
 * of them.
 */
let s: TestServer
let ada: SignedUp
let bob: SignedUp
let cy: SignedUp

const MEMBER = 'members ?= @request.auth.id'
const SIGNED_IN = "@request.auth.id != ''"
const members = { name: 'members', type: 'relation', options: { collection: 'users', multiple: true } }
const db = () => s.bastide.database.db
const pull = (as: SignedUp, since?: string) =>
  pullAll(s, 'rooms', { as: as.token, ...(since !== undefined ? { since } : {}) })
/** What a page says of `id`: the upsert's record, or the removal. */
const about = (changes: readonly SyncChange[], id: string) =>
  changes.filter((c) => (c.op === 'upsert' ? c.record.id === id : c.id === id))
const collectionId = async (name: string) =>
  (await s.api('GET', `/api/collections/${name}`)).body.id as string
const logged = async (name: string, recordId: string) =>
  (
    await sql<{
      op: string
      previous: Record<string, unknown> | null
    }>`SELECT op, previous FROM bastide.sync_log
      WHERE collection_id = ${await collectionId(name)} AND record_id = ${recordId}::uuid ORDER BY id`.execute(
      db(),
    )
  ).rows

beforeAll(async () => {
  s = await startTestServer()
  ada = await signUp(s, 'ada@example.com')
  bob = await signUp(s, 'bob@example.com')
  cy = await signUp(s, 'cy@example.com')
  await createCollection(s, {
    name: 'rooms',
    fields: [{ name: 'title', type: 'text' }, members],
    rules: { list: MEMBER, view: MEMBER, create: MEMBER, update: MEMBER, delete: MEMBER },
  })
  await enableSync(s, 'rooms')
  await createCollection(s, {
    name: 'boards',
    fields: [{ name: 'title', type: 'text' }, members],
    rules: { list: SIGNED_IN, view: SIGNED_IN, create: SIGNED_IN, update: SIGNED_IN, delete: SIGNED_IN },
  })
  await enableSync(s, 'boards', 'lww_field')
})
afterAll(() => s?.close())

describe('the change log', () => {
  it('logs the links before an update and a delete, in their order, under the field’s name', async () => {
    const room = await createRecord(s, 'rooms', { title: 'r', members: [bob.id, ada.id] })
    const patched = await s.api('PATCH', `/api/collections/rooms/records/${room.id}`, { members: [cy.id] })
    expect(patched.status).toBe(200)
    expect(patched.body.members).toEqual([cy.id])
    expect((await s.api('DELETE', `/api/collections/rooms/records/${room.id}`)).status).toBe(204)
    const log = await logged('rooms', room.id)
    expect(log.map((l) => l.op)).toEqual(['c', 'u', 'd'])
    expect(log[1]!.previous).toMatchObject({ title: 'r', version: 1, members: [bob.id, ada.id] })
    expect(log[2]!.previous).toMatchObject({ title: 'r', version: 2, members: [cy.id] })
  })

  it('follows a change of the collection’s multiple relations, and a dropped one never fails a write', async () => {
    let col = (await s.api('GET', '/api/collections/rooms')).body
    const watchers = { name: 'watchers', type: 'relation', options: { collection: 'users', multiple: true } }
    expect(
      (await s.api('PATCH', '/api/collections/rooms', { fields: [...col.fields, watchers] })).status,
    ).toBe(200)
    // The trigger is made again after the schema change commits.
    await until('the trigger to name the new relation', async () => {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_trigger
        WHERE tgrelid = 'data.rooms'::regclass AND tgname IN ('bastide_sync', 'bastide_sync_delete')
          AND position('watchers' in encode(tgargs, 'escape')) > 0`.execute(db())
      return r.rows[0]!.n === 2
    })
    const room = await createRecord(s, 'rooms', { title: 'w', members: [ada.id], watchers: [bob.id, cy.id] })
    expect((await s.api('PATCH', `/api/collections/rooms/records/${room.id}`, { watchers: [] })).status).toBe(
      200,
    )
    expect((await logged('rooms', room.id))[1]!.previous).toMatchObject({
      members: [ada.id],
      watchers: [bob.id, cy.id],
    })

    // Dropped: whether or not the trigger has caught up yet, writes go on.
    col = (await s.api('GET', '/api/collections/rooms')).body
    const keep = col.fields.filter((f: { name: string }) => f.name !== 'watchers')
    expect((await s.api('PATCH', '/api/collections/rooms', { fields: keep })).status).toBe(200)
    expect((await s.api('PATCH', `/api/collections/rooms/records/${room.id}`, { title: 'w2' })).status).toBe(
      200,
    )
    expect((await s.api('DELETE', `/api/collections/rooms/records/${room.id}`)).status).toBe(204)
    await until('the trigger to drop the relation', async () => {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_trigger
        WHERE tgrelid = 'data.rooms'::regclass AND tgname IN ('bastide_sync', 'bastide_sync_delete')
          AND position('watchers' in encode(tgargs, 'escape')) = 0`.execute(db())
      return r.rows[0]!.n === 2
    })
  })
})

describe('triggers made by an older version', () => {
  it('are made again (a schema change or a start): deletes then log the links', async () => {
    await createCollection(s, {
      name: 'halls',
      fields: [{ name: 'title', type: 'text' }, members],
      rules: { list: MEMBER, view: MEMBER },
    })
    await enableSync(s, 'halls')
    const id = await collectionId('halls')
    // What 0001-sync made: one AFTER trigger for every event, with the collection's id alone.
    await sql`DROP TRIGGER bastide_sync_delete ON data.halls`.execute(db())
    await sql`CREATE OR REPLACE TRIGGER bastide_sync AFTER INSERT OR UPDATE OR DELETE ON data.halls
      FOR EACH ROW EXECUTE FUNCTION bastide.sync_log_change(${sql.lit(id)})`.execute(db())
    const old = await createRecord(s, 'halls', { title: 'o', members: [bob.id] })
    expect((await s.api('DELETE', `/api/collections/halls/records/${old.id}`)).status).toBe(204)
    // Still logged, as before, without the links.
    expect((await logged('halls', old.id)).map((l) => [l.op, l.previous?.members])).toEqual([
      ['c', undefined],
      ['d', undefined],
    ])
    const rules = { list: MEMBER, view: MEMBER, update: MEMBER }
    expect((await s.api('PATCH', '/api/collections/halls', { rules })).status).toBe(200)
    await until('the triggers to be made again', async () => {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_trigger
        WHERE tgrelid = 'data.halls'::regclass AND tgname IN ('bastide_sync', 'bastide_sync_delete')
          AND position('members' in encode(tgargs, 'escape')) > 0`.execute(db())
      return r.rows[0]!.n === 2
    })
    const rec = await createRecord(s, 'halls', { title: 'n', members: [bob.id] })
    expect((await s.api('DELETE', `/api/collections/halls/records/${rec.id}`)).status).toBe(204)
    expect((await logged('halls', rec.id)).map((l) => [l.op, l.previous?.members])).toEqual([
      ['c', undefined],
      ['d', [bob.id]],
    ])
  })
})

describe('pull: visibility through a multiple relation', () => {
  it('a member removed from `members` gets left_view; one who never was gets nothing', async () => {
    const room = await createRecord(s, 'rooms', { title: 'team', members: [ada.id, bob.id] })
    const b0 = await pull(bob)
    const c0 = await pull(cy)
    expect(about(b0.changes, room.id)).toMatchObject([
      { op: 'upsert', record: { members: [ada.id, bob.id] } },
    ])
    expect(about(c0.changes, room.id)).toEqual([])

    const r = await s.api('PATCH', `/api/collections/rooms/records/${room.id}`, { members: [ada.id] })
    expect(r.status).toBe(200)
    const b1 = await pull(bob, b0.cursor)
    expect(about(b1.changes, room.id)).toEqual([{ op: 'remove', id: room.id, reason: 'left_view' }])
    expect(about((await pull(cy, c0.cursor)).changes, room.id)).toEqual([])
    expect(about((await pull(ada)).changes, room.id)).toMatchObject([
      { op: 'upsert', record: { members: [ada.id] } },
    ])
  })

  it('a member added gets the record; removed again later, left_view', async () => {
    const room = await createRecord(s, 'rooms', { title: 'later', members: [ada.id] })
    const c0 = await pull(cy)
    expect(about(c0.changes, room.id)).toEqual([])
    await s.api('PATCH', `/api/collections/rooms/records/${room.id}`, { members: [ada.id, cy.id] })
    const c1 = await pull(cy, c0.cursor)
    expect(about(c1.changes, room.id)).toMatchObject([{ op: 'upsert', record: { id: room.id } }])
    await s.api('PATCH', `/api/collections/rooms/records/${room.id}`, { title: 'renamed', members: [ada.id] })
    const c2 = await pull(cy, c1.cursor)
    expect(about(c2.changes, room.id)).toEqual([{ op: 'remove', id: room.id, reason: 'left_view' }])
  })

  it('a record deleted with its links is `deleted` for a member, nothing for anyone else', async () => {
    const room = await createRecord(s, 'rooms', { title: 'doomed', members: [bob.id] })
    const b0 = await pull(bob)
    const c0 = await pull(cy)
    expect(about(b0.changes, room.id)).toHaveLength(1)
    expect((await s.api('DELETE', `/api/collections/rooms/records/${room.id}`)).status).toBe(204)
    expect(about((await pull(bob, b0.cursor)).changes, room.id)).toEqual([
      { op: 'remove', id: room.id, reason: 'deleted' },
    ])
    expect(about((await pull(cy, c0.cursor)).changes, room.id)).toEqual([])
  })

  it('a filter over the relation is judged on the past state too', async () => {
    const room = await createRecord(s, 'rooms', { title: 'filtered', members: [ada.id, bob.id] })
    const filter = `members ?= '${bob.id}'`
    const a0 = await pullAll(s, 'rooms', { as: ada.token, filter })
    expect(about(a0.changes, room.id)).toHaveLength(1)
    await s.api('PATCH', `/api/collections/rooms/records/${room.id}`, { members: [ada.id] })
    const a1 = await pullAll(s, 'rooms', { as: ada.token, filter, since: a0.cursor })
    expect(about(a1.changes, room.id)).toEqual([{ op: 'remove', id: room.id, reason: 'left_view' }])
  })
})

describe('push', () => {
  const push = async (as: SignedUp, m: Record<string, unknown>) => {
    const r = await s.api(
      'POST',
      '/api/sync/push',
      { clientId: randomUUID(), mutations: [{ id: randomUUID(), at: new Date().toISOString(), ...m }] },
      { as: as.token },
    )
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body.results[0] as SyncMutationResult & { record: any }
  }
  const earlier = () => new Date(Date.now() - 3_600_000).toISOString()
  const later = () => new Date(Date.now() + 86_400_000).toISOString()

  it('an update of a record deleted while the caller was a member resolves as deleted; others get 404', async () => {
    const room = await createRecord(s, 'rooms', { title: 'gone', members: [bob.id] })
    expect((await s.api('DELETE', `/api/collections/rooms/records/${room.id}`)).status).toBe(204)
    const edit = {
      collection: 'rooms',
      op: 'update',
      recordId: room.id,
      data: { title: 'x' },
      baseVersion: 1,
    }
    expect(await push(bob, edit)).toMatchObject({
      status: 'resolved',
      conflict: { serverVersion: null, outcome: 'server' },
      record: null,
    })
    expect(await push(cy, edit)).toMatchObject({ status: 'rejected', error: { code: 'NOT_FOUND' } })
  })

  it('lww_field: the base has the links of its version', async () => {
    const board = await createRecord(s, 'boards', { title: 'v1', members: [ada.id] }, ada.token)
    await s.api('PATCH', `/api/collections/boards/records/${board.id}`, { members: [ada.id, bob.id] })
    const c = (await s.api('GET', '/api/collections/boards')).body
    const base = await recordAtVersion(db(), c, board.id, 1)
    expect(base).toMatchObject({ title: 'v1', version: 1, members: [ada.id] })
  })

  it('lww_field: a list the server changed after the device’s edit stays; the device’s own change applies', async () => {
    // The server changed the members (v2); the device, offline at v1, changed the title and the members earlier.
    const board = await createRecord(s, 'boards', { title: 'v1', members: [ada.id] }, ada.token)
    await s.api('PATCH', `/api/collections/boards/records/${board.id}`, { members: [ada.id, bob.id] })
    const r = await push(ada, {
      collection: 'boards',
      op: 'update',
      recordId: board.id,
      data: { title: 'A', members: [ada.id, cy.id] },
      baseVersion: 1,
      at: earlier(),
    })
    expect(r).toMatchObject({
      status: 'resolved',
      conflict: { policy: 'lww_field', serverVersion: 2, outcome: 'merged', fields: ['members'] },
      record: { title: 'A', members: [ada.id, bob.id], version: 3 },
    })

    // The device did not touch the members: the server's list stays, the title applies.
    const b2 = await createRecord(s, 'boards', { title: 'v1', members: [ada.id] }, ada.token)
    await s.api('PATCH', `/api/collections/boards/records/${b2.id}`, { members: [bob.id] })
    const r2 = await push(ada, {
      collection: 'boards',
      op: 'update',
      recordId: b2.id,
      data: { title: 'A' },
      baseVersion: 1,
      at: earlier(),
    })
    expect(r2).toMatchObject({
      status: 'resolved',
      conflict: { outcome: 'merged', fields: [] },
      record: { title: 'A', members: [bob.id], version: 3 },
    })

    // Both changed the members, the device later: its list wins.
    const b3 = await createRecord(s, 'boards', { title: 'v1', members: [ada.id] }, ada.token)
    await s.api('PATCH', `/api/collections/boards/records/${b3.id}`, { members: [bob.id] })
    const r3 = await push(ada, {
      collection: 'boards',
      op: 'update',
      recordId: b3.id,
      data: { members: [cy.id, ada.id] },
      baseVersion: 1,
      at: later(),
    })
    expect(r3).toMatchObject({
      status: 'resolved',
      conflict: { outcome: 'client', fields: ['members'] },
      record: { members: [cy.id, ada.id], version: 3 },
    })

    // Only the server changed the title; the device changed the members: its list applies.
    const b4 = await createRecord(s, 'boards', { title: 'v1', members: [ada.id] }, ada.token)
    await s.api('PATCH', `/api/collections/boards/records/${b4.id}`, { title: 'B' })
    const r4 = await push(ada, {
      collection: 'boards',
      op: 'update',
      recordId: b4.id,
      data: { members: [ada.id, bob.id] },
      baseVersion: 1,
      at: earlier(),
    })
    expect(r4).toMatchObject({
      status: 'resolved',
      conflict: { outcome: 'merged', fields: [] },
      record: { title: 'B', members: [ada.id, bob.id], version: 3 },
    })
  })
})
