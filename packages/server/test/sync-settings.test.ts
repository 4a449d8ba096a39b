import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dropForeignLog } from '../src/core/sync/settings.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import {
  createCollection,
  createKey,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'
import { enableSync, pullAll, pullPage } from './support/sync.ts'
import { until } from './support/until.ts'

/**
 * /api/admin/sync: who may change a collection's sync settings, the change-log trigger that follows them (in the
 * same transaction), the audit trail, and what a schema change does to the settings and the log.
 */
let s: TestServer
let ada: SignedUp
let schemaKey: string
let readKey: string

const db = () => s.bastide.database.db
const put = (name: string, body: unknown, as = 'admin') =>
  s.api('PUT', `/api/admin/sync/collections/${name}`, body, { as })
const hasTrigger = async (table: string) =>
  (
    await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'data' AND c.relname = ${table} AND t.tgname = 'bastide_sync'`.execute(db())
  ).rows[0]!.n === 1
const logged = async (name: string) => {
  const c = (await s.api('GET', `/api/collections/${name}`)).body
  return (
    await sql<{
      n: number
    }>`SELECT count(*)::int AS n FROM bastide.sync_log WHERE collection_id = ${c.id}`.execute(db())
  ).rows[0]!.n
}

beforeAll(async () => {
  s = await startTestServer()
  ada = await signUp(s, 'ada@example.com')
  schemaKey = await createKey(s, ['schema'])
  readKey = await createKey(s, ['records:read'])
  await createCollection(s, {
    name: 'notes',
    fields: [{ name: 't', type: 'text' }],
    rules: { list: '', view: '' },
  })
})
afterAll(() => s?.close())

describe('settings', () => {
  it('is off until turned on: no trigger, nothing logged, 409 on /changes', async () => {
    const r = await s.api('GET', '/api/admin/sync/collections/notes')
    expect(r.status).toBe(200)
    expect(r.body).toEqual({
      collection: 'notes',
      enabled: false,
      conflict: 'server_wins',
      mergeFunction: null,
    })
    expect(await hasTrigger('notes')).toBe(false)
    await createRecord(s, 'notes', { t: 'before' })
    expect(await logged('notes')).toBe(0)
    expect((await s.api('GET', '/api/collections/notes/changes')).status).toBe(409)
  })

  it('turning sync on creates the trigger; off drops it and empties the log', async () => {
    const on = await put('notes', { enabled: true, conflict: 'lww_field' })
    expect(on.status).toBe(200)
    expect(on.body).toEqual({
      collection: 'notes',
      enabled: true,
      conflict: 'lww_field',
      mergeFunction: null,
    })
    expect(await hasTrigger('notes')).toBe(true)
    await createRecord(s, 'notes', { t: 'after' })
    expect(await logged('notes')).toBe(1)
    expect((await s.api('GET', '/api/admin/sync/collections/notes')).body.conflict).toBe('lww_field')
    const off = await put('notes', { enabled: false, conflict: 'lww_field' })
    expect(off.status).toBe(200)
    expect(await hasTrigger('notes')).toBe(false)
    expect(await logged('notes')).toBe(0)
    await createRecord(s, 'notes', { t: 'while off' })
    expect(await logged('notes')).toBe(0)
  })

  it('tells cursors from before a re-enable to resync (changes while off were not logged)', async () => {
    await enableSync(s, 'notes')
    const { cursor } = await pullAll(s, 'notes')
    await put('notes', { enabled: false, conflict: 'server_wins' })
    await createRecord(s, 'notes', { t: 'unlogged' })
    await enableSync(s, 'notes')
    expect((await pullPage(s, 'notes', { since: cursor })).resync).toBe(true)
    // Changing only the policy keeps cursors valid.
    const fresh = await pullAll(s, 'notes')
    await enableSync(s, 'notes', 'client_wins')
    expect((await pullPage(s, 'notes', { since: fresh.cursor })).resync).toBe(false)
  })

  it('needs a merge function for the function policy, and keeps it only for that policy', async () => {
    const bad = await put('notes', { enabled: true, conflict: 'function' })
    expect(bad.status).toBe(400)
    expect(bad.body.details.fields).toHaveProperty('mergeFunction')
    const ok = await put('notes', { enabled: true, conflict: 'function', mergeFunction: 'merge-notes' })
    expect(ok.status).toBe(200)
    expect(ok.body.mergeFunction).toBe('merge-notes')
    const other = await put('notes', { enabled: true, conflict: 'server_wins', mergeFunction: 'merge-notes' })
    expect(other.body.mergeFunction).toBeNull()
    for (const body of [
      {},
      { enabled: 'yes', conflict: 'server_wins' },
      { enabled: true, conflict: 'newest' },
      { enabled: true, conflict: 'server_wins', extra: 1 },
    ]) {
      const r = await put('notes', body)
      expect(r.status, JSON.stringify(body)).toBe(400)
    }
    expect((await put('nope', { enabled: true, conflict: 'server_wins' })).status).toBe(404)
    expect((await s.api('GET', '/api/admin/sync/collections/nope')).status).toBe(404)
  })

  it('is for console admins and keys with the schema scope only', async () => {
    const body = { enabled: true, conflict: 'server_wins' }
    expect((await put('notes', body, 'anon')).status).toBe(401)
    expect((await put('notes', body, ada.token)).status).toBe(403)
    expect((await put('notes', body, readKey)).status).toBe(403)
    expect((await s.api('GET', '/api/admin/sync', undefined, { as: ada.token })).status).toBe(403)
    expect(
      (await s.api('GET', '/api/admin/sync/collections/notes', undefined, { as: ada.token })).status,
    ).toBe(403)
    expect((await put('notes', body, schemaKey)).status).toBe(200)
  })

  it('records every change in the audit log, with the actor and what changed', async () => {
    await put('notes', { enabled: true, conflict: 'client_wins' }, schemaKey)
    const r = await s.api('GET', '/api/admin/audit?action=sync.*&target=notes')
    expect(r.status).toBe(200)
    const last = r.body.items[0]
    expect(last).toMatchObject({
      action: 'sync.update',
      target: 'notes',
      actor: expect.stringMatching(/^key:/),
    })
    expect(last.diff).toEqual({ before: { conflict: 'server_wins' }, after: { conflict: 'client_wins' } })
    // A refused change leaves no trail.
    const before = r.body.items.length
    await put('notes', { enabled: true, conflict: 'function' })
    expect((await s.api('GET', '/api/admin/audit?action=sync.*&target=notes')).body.items.length).toBe(before)
  })

  it('lists every collection’s settings with the log’s size', async () => {
    const r = await s.api('GET', '/api/admin/sync')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ retentionDays: 30, log: { entries: expect.any(Number) } })
    expect(r.body.collections).toContainEqual({
      collection: 'notes',
      enabled: true,
      conflict: 'client_wins',
      mergeFunction: null,
    })
  })
})

describe('schema changes', () => {
  it('a renamed collection keeps its settings, its trigger and its cursors', async () => {
    await createCollection(s, {
      name: 'drafts',
      fields: [{ name: 't', type: 'text' }],
      rules: { list: '', view: '' },
    })
    await enableSync(s, 'drafts')
    const { cursor } = await pullAll(s, 'drafts')
    expect((await s.api('PATCH', '/api/collections/drafts', { name: 'papers' })).status).toBe(200)
    expect((await s.api('GET', '/api/admin/sync/collections/papers')).body.enabled).toBe(true)
    expect(await hasTrigger('papers')).toBe(true)
    const r = await createRecord(s, 'papers', { t: 'x' })
    const next = await pullAll(s, 'papers', { since: cursor })
    expect(next.pages[0]!.resync).toBe(false)
    expect(next.changes.map((c) => (c.op === 'upsert' ? c.record.id : c.id))).toEqual([r.id])
  })

  it('a deleted collection leaves no settings and no log behind', async () => {
    await createCollection(s, {
      name: 'gone',
      fields: [{ name: 't', type: 'text' }],
      rules: { list: '', view: '' },
    })
    await enableSync(s, 'gone')
    await createRecord(s, 'gone', { t: 'x' })
    const id = (await s.api('GET', '/api/collections/gone')).body.id
    expect((await s.api('DELETE', '/api/collections/gone')).status).toBe(204)
    await until('the settings and log to go', async () => {
      const r = await sql<{
        n: number
      }>`SELECT (SELECT count(*) FROM bastide.sync_collections WHERE collection_id = ${id})
        + (SELECT count(*) FROM bastide.sync_log WHERE collection_id = ${id}) AS n`.execute(db())
      return Number(r.rows[0]!.n) === 0
    })
    // A new collection of the same name starts off.
    await createCollection(s, { name: 'gone', fields: [{ name: 't', type: 'text' }] })
    expect((await s.api('GET', '/api/admin/sync/collections/gone')).body.enabled).toBe(false)
  })
})

describe('a change log from another cluster', () => {
  it('is dropped at start, and devices resync (a backup restored into a new cluster)', async () => {
    await createCollection(s, {
      name: 'restored',
      fields: [{ name: 't', type: 'text' }],
      rules: { list: '', view: '' },
    })
    await enableSync(s, 'restored')
    await createRecord(s, 'restored', { t: 'one' })
    const { cursor } = await pullAll(s, 'restored')
    expect(await dropForeignLog(db())).toBe(false)
    // What a restore into a younger cluster looks like: positions this cluster has not reached.
    await sql`UPDATE bastide.sync_log SET xid = xid + 1000000000`.execute(db())
    expect(await dropForeignLog(db())).toBe(true)
    expect(await logged('restored')).toBe(0)
    expect((await pullPage(s, 'restored', { since: cursor })).resync).toBe(true)
    const again = await pullAll(s, 'restored')
    expect(again.changes).toHaveLength(1)
    expect((await pullPage(s, 'restored', { since: again.cursor })).resync).toBe(false)
  })
})
