import { randomUUID } from 'node:crypto'
import type { SyncConflictPolicy, SyncMutationResult } from '@bastide/protocol'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, type SignedUp, signUp } from './support/auth.ts'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'
import { enableSync } from './support/sync.ts'

/**
 * POST /api/sync/push: queued offline writes applied in order, idempotently, under the caller's rules, with
 * conflicts (a stale base version) resolved by the collection's policy. The `function` policy is in
 * sync-merge-function.test.ts.
 */

const SIGNED_IN = "@request.auth.id != ''"
const shared = { list: SIGNED_IN, view: SIGNED_IN, create: SIGNED_IN, update: SIGNED_IN, delete: SIGNED_IN }
const OWNER = 'owner = @request.auth.id'
const POLICIES: SyncConflictPolicy[] = ['server_wins', 'client_wins', 'lww_field']

/** An hour ago: an offline edit made before the other user's online one. */
const earlier = () => new Date(Date.now() - 3_600_000).toISOString()
/** Tomorrow: a device clock ahead of the server's (clamped to the server's now). */
const later = () => new Date(Date.now() + 86_400_000).toISOString()

describe('sync push', () => {
  let s: TestServer
  let a: SignedUp
  let b: SignedUp
  let db: pg.Client
  const deviceA = randomUUID()

  const push = (as: string, mutations: unknown[], clientId = deviceA) =>
    s.api('POST', '/api/sync/push', { clientId, mutations }, { as })
  /** One mutation pushed as `as`; its result (the push must answer 200). */
  const pushOne = async (as: string, m: Record<string, unknown>, clientId = deviceA) => {
    const r = await push(as, [mutation(m)], clientId)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.results).toHaveLength(1)
    return r.body.results[0] as SyncMutationResult & { record: any }
  }
  const mutation = (m: Record<string, unknown>) => ({ id: randomUUID(), at: new Date().toISOString(), ...m })
  const read = async (collection: string, id: string) => {
    const r = await s.api('GET', `/api/collections/${collection}/records/${id}`)
    return r.status === 200 ? r.body : null
  }
  const count = async (collection: string) =>
    (await s.api('GET', `/api/collections/${collection}/records?count=true`)).body.totalItems as number
  /** A record user A made at v1, that user B then moved to v2 online. */
  const movedByB = async (
    collection: string,
    data: Record<string, unknown>,
    change: Record<string, unknown>,
  ) => {
    const rec = await createRecord(s, collection, data, a.token)
    expect(rec.version).toBe(1)
    const r = await s.api('PATCH', `/api/collections/${collection}/records/${rec.id}`, change, {
      as: b.token,
    })
    expect(r.status).toBe(200)
    expect(r.body.version).toBe(2)
    return r.body
  }

  beforeAll(async () => {
    s = await startTestServer()
    db = new pg.Client({ connectionString: s.dbUrl })
    await db.connect()
    a = await signUp(s, 'ada@example.com')
    b = await signUp(s, 'bob@example.com')
    const fields = [
      { name: 'title', type: 'text' },
      { name: 'body', type: 'text' },
      { name: 'done', type: 'bool' },
    ]
    for (const policy of POLICIES) {
      await createCollection(s, { name: `notes_${policy}`, fields, rules: shared })
      await enableSync(s, `notes_${policy}`, policy)
    }
    await createCollection(s, {
      name: 'mine',
      fields: [
        { name: 'owner', type: 'text' },
        { name: 'title', type: 'text' },
      ],
      rules: { list: OWNER, view: OWNER, create: OWNER, update: OWNER, delete: OWNER },
    })
    await enableSync(s, 'mine', 'client_wins')
    await createCollection(s, { name: 'unsynced', fields, rules: shared })
    await createCollection(s, {
      name: 'retyped',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'v', type: 'text' },
      ],
      rules: shared,
    })
    await enableSync(s, 'retyped', 'lww_field')
  }, 60_000)
  afterAll(async () => {
    await db?.end()
    await s?.close()
  })

  it('applies a create, an update on the current version and a delete, answering with the record', async () => {
    const id = randomUUID()
    const c = await pushOne(a.token, {
      collection: 'notes_server_wins',
      op: 'create',
      recordId: id,
      data: { title: 'x' },
    })
    expect(c).toMatchObject({ status: 'applied', record: { id, title: 'x', version: 1 } })
    const u = await pushOne(a.token, {
      collection: 'notes_server_wins',
      op: 'update',
      recordId: id,
      data: { title: 'y' },
      baseVersion: 1,
    })
    expect(u).toMatchObject({ status: 'applied', record: { id, title: 'y', version: 2 } })
    expect(u.conflict).toBeUndefined()
    // Without a base version there is no conflict check: the write applies.
    const free = await pushOne(a.token, {
      collection: 'notes_server_wins',
      op: 'update',
      recordId: id,
      data: { body: 'b' },
    })
    expect(free).toMatchObject({ status: 'applied', record: { title: 'y', body: 'b', version: 3 } })
    const d = await pushOne(a.token, {
      collection: 'notes_server_wins',
      op: 'delete',
      recordId: id,
      baseVersion: 3,
    })
    expect(d).toEqual({ id: d.id, status: 'applied', record: null })
    expect(await read('notes_server_wins', id)).toBeNull()
    // Deleting what is gone already is done.
    const again = await pushOne(a.token, {
      collection: 'notes_server_wins',
      op: 'delete',
      recordId: id,
      baseVersion: 3,
    })
    expect(again).toMatchObject({ status: 'applied', record: null })
  })

  describe('two writers: A edits offline on v1 while B moves the record to v2', () => {
    it('server_wins: nothing is written, the client gets the server record', async () => {
      const rec = await movedByB('notes_server_wins', { title: 'v1', body: 'v1' }, { title: 'B' })
      const r = await pushOne(a.token, {
        collection: 'notes_server_wins',
        op: 'update',
        recordId: rec.id,
        data: { title: 'A', body: 'A' },
        baseVersion: 1,
        at: later(),
      })
      expect(r).toMatchObject({
        status: 'resolved',
        conflict: { policy: 'server_wins', serverVersion: 2, outcome: 'server', fields: ['title'] },
        record: { title: 'B', body: 'v1', version: 2 },
      })
      expect(await read('notes_server_wins', rec.id)).toMatchObject({ title: 'B', body: 'v1', version: 2 })
    })

    it("client_wins: the client's fields go over the server's", async () => {
      const rec = await movedByB(
        'notes_client_wins',
        { title: 'v1', body: 'v1', done: false },
        { title: 'B', done: true },
      )
      const r = await pushOne(a.token, {
        collection: 'notes_client_wins',
        op: 'update',
        recordId: rec.id,
        data: { title: 'A' },
        baseVersion: 1,
        at: earlier(),
      })
      expect(r).toMatchObject({
        status: 'resolved',
        conflict: { policy: 'client_wins', serverVersion: 2, outcome: 'client', fields: ['title'] },
        record: { title: 'A', body: 'v1', done: true, version: 3 },
      })
      expect(await read('notes_client_wins', rec.id)).toMatchObject({ title: 'A', done: true, version: 3 })
    })

    it('lww_field: disjoint fields merge, the field both changed goes to the later edit', async () => {
      // A's edit (an hour ago) is older than B's: B keeps the title, A's body still applies.
      const rec = await movedByB('notes_lww_field', { title: 'v1', body: 'v1', done: false }, { title: 'B' })
      const r = await pushOne(a.token, {
        collection: 'notes_lww_field',
        op: 'update',
        recordId: rec.id,
        data: { title: 'A', body: 'A' },
        baseVersion: 1,
        at: earlier(),
      })
      expect(r).toMatchObject({
        status: 'resolved',
        conflict: { policy: 'lww_field', serverVersion: 2, outcome: 'merged', fields: ['title'] },
        record: { title: 'B', body: 'A', done: false, version: 3 },
      })

      // A's edit is later than B's (its clock ahead: clamped to now, still after B's write): A's title wins, B's
      // other change stays.
      const rec2 = await movedByB(
        'notes_lww_field',
        { title: 'v1', body: 'v1', done: false },
        { title: 'B', done: true },
      )
      const r2 = await pushOne(a.token, {
        collection: 'notes_lww_field',
        op: 'update',
        recordId: rec2.id,
        data: { title: 'A', body: 'A' },
        baseVersion: 1,
        at: later(),
      })
      expect(r2).toMatchObject({
        status: 'resolved',
        conflict: { outcome: 'merged', fields: ['title'] },
        record: { title: 'A', body: 'A', done: true, version: 3 },
      })

      // Only the overlapping field, and the server's edit is later: the server's record, nothing written.
      const rec3 = await movedByB('notes_lww_field', { title: 'v1' }, { title: 'B' })
      const r3 = await pushOne(a.token, {
        collection: 'notes_lww_field',
        op: 'update',
        recordId: rec3.id,
        data: { title: 'A' },
        baseVersion: 1,
        at: earlier(),
      })
      expect(r3).toMatchObject({
        status: 'resolved',
        conflict: { outcome: 'server' },
        record: { title: 'B', version: 2 },
      })
    })

    it('an update of a record deleted meanwhile is resolved as gone, whatever the policy', async () => {
      for (const policy of POLICIES) {
        const rec = await createRecord(s, `notes_${policy}`, { title: 'v1' }, a.token)
        const del = await s.api('DELETE', `/api/collections/notes_${policy}/records/${rec.id}`, undefined, {
          as: b.token,
        })
        expect(del.status).toBe(204)
        const r = await pushOne(a.token, {
          collection: `notes_${policy}`,
          op: 'update',
          recordId: rec.id,
          data: { title: 'A' },
          baseVersion: 1,
          at: later(),
        })
        expect(r).toMatchObject({
          status: 'resolved',
          conflict: { policy, serverVersion: null, outcome: 'server' },
          record: null,
        })
        expect(await read(`notes_${policy}`, rec.id)).toBeNull()
      }
    })

    it('a stale delete: server_wins keeps the record, client_wins deletes it, lww_field by time', async () => {
      const sw = await movedByB('notes_server_wins', { title: 'v1' }, { title: 'B' })
      const kept = await pushOne(a.token, {
        collection: 'notes_server_wins',
        op: 'delete',
        recordId: sw.id,
        baseVersion: 1,
      })
      expect(kept).toMatchObject({
        status: 'resolved',
        conflict: { outcome: 'server', serverVersion: 2 },
        record: { title: 'B', version: 2 },
      })

      const cw = await movedByB('notes_client_wins', { title: 'v1' }, { title: 'B' })
      const gone = await pushOne(a.token, {
        collection: 'notes_client_wins',
        op: 'delete',
        recordId: cw.id,
        baseVersion: 1,
      })
      expect(gone).toMatchObject({ status: 'resolved', conflict: { outcome: 'client' }, record: null })
      expect(await read('notes_client_wins', cw.id)).toBeNull()

      const old = await movedByB('notes_lww_field', { title: 'v1' }, { title: 'B' })
      const stays = await pushOne(a.token, {
        collection: 'notes_lww_field',
        op: 'delete',
        recordId: old.id,
        baseVersion: 1,
        at: earlier(),
      })
      expect(stays).toMatchObject({
        status: 'resolved',
        conflict: { outcome: 'server' },
        record: { title: 'B' },
      })
      const fresh = await pushOne(a.token, {
        collection: 'notes_lww_field',
        op: 'delete',
        recordId: old.id,
        baseVersion: 1,
        at: later(),
      })
      expect(fresh).toMatchObject({ status: 'resolved', conflict: { outcome: 'client' }, record: null })
    })

    it('a create over an id that exists is a conflict on base version 0', async () => {
      const rec = await createRecord(s, 'notes_client_wins', { title: 'server', body: 'kept' }, b.token)
      const r = await pushOne(a.token, {
        collection: 'notes_client_wins',
        op: 'create',
        recordId: rec.id,
        data: { title: 'client' },
      })
      expect(r).toMatchObject({
        status: 'resolved',
        conflict: { policy: 'client_wins', serverVersion: 1, outcome: 'client' },
        record: { id: rec.id, title: 'client', body: 'kept', version: 2 },
      })
      const sw = await createRecord(s, 'notes_server_wins', { title: 'server' }, b.token)
      const r2 = await pushOne(a.token, {
        collection: 'notes_server_wins',
        op: 'create',
        recordId: sw.id,
        data: { title: 'c' },
      })
      expect(r2).toMatchObject({
        status: 'resolved',
        conflict: { outcome: 'server' },
        record: { title: 'server', version: 1 },
      })
    })
  })

  it('a replayed mutation answers with the first result and writes once', async () => {
    const id = randomUUID()
    const create = mutation({
      collection: 'notes_client_wins',
      op: 'create',
      recordId: id,
      data: { title: 'once' },
    })
    const update = mutation({
      collection: 'notes_client_wins',
      op: 'update',
      recordId: id,
      data: { title: 'twice?' },
      baseVersion: 1,
    })
    const before = await count('notes_client_wins')
    const first = await push(a.token, [create, update])
    expect(first.body.results.map((r: SyncMutationResult) => r.status)).toEqual(['applied', 'applied'])
    const replay = await push(a.token, [create, update])
    expect(replay.status).toBe(200)
    // The first results, each with the record as it is now (the first answer's create showed version 1).
    const withoutRecord = (rs: SyncMutationResult[]) => rs.map(({ record: _, ...r }) => r)
    expect(withoutRecord(replay.body.results)).toEqual(withoutRecord(first.body.results))
    expect(replay.body.results.map((r: SyncMutationResult) => r.record?.version)).toEqual([2, 2])
    expect(await count('notes_client_wins')).toBe(before + 1)
    expect(await read('notes_client_wins', id)).toMatchObject({ title: 'twice?', version: 2 })

    // A replay answers with the record as it is now.
    await s.api(
      'PATCH',
      `/api/collections/notes_client_wins/records/${id}`,
      { title: 'later' },
      { as: b.token },
    )
    const third = await push(a.token, [update])
    expect(third.body.results[0]).toMatchObject({ status: 'applied', record: { title: 'later', version: 3 } })

    // The same mutation id from another device, or another user, is another mutation.
    const otherDevice = await push(a.token, [{ ...update, data: { title: 'other device' } }], randomUUID())
    expect(otherDevice.body.results[0]).toMatchObject({
      status: 'resolved',
      record: { title: 'other device' },
    })
    const otherUser = await push(b.token, [{ ...update, data: { title: 'other user' } }])
    expect(otherUser.body.results[0]).toMatchObject({
      status: 'resolved',
      record: { title: 'other user', version: 5 },
    })
  })

  it('concurrent pushes of the same mutations write once', async () => {
    const id = randomUUID()
    const create = mutation({
      collection: 'notes_client_wins',
      op: 'create',
      recordId: id,
      data: { title: 'c' },
    })
    const update = mutation({
      collection: 'notes_client_wins',
      op: 'update',
      recordId: id,
      data: { title: 'u' },
    })
    const before = await count('notes_client_wins')
    const answers = await Promise.all(Array.from({ length: 6 }, () => push(a.token, [create, update])))
    for (const r of answers) {
      expect(r.status).toBe(200)
      expect(r.body.results.map((x: SyncMutationResult) => x.status)).toEqual(['applied', 'applied'])
    }
    expect(await count('notes_client_wins')).toBe(before + 1)
    // One create, one update: had a duplicate written, the version would be past 2.
    expect(await read('notes_client_wins', id)).toMatchObject({ title: 'u', version: 2 })
  })

  it('a mutation that fails for a reason that may pass stores nothing and refuses the push with 503', async () => {
    const locked = await createRecord(s, 'notes_client_wins', { title: 'v1' }, a.token)
    const before = randomUUID()
    const after = randomUUID()
    const batch = [
      mutation({ collection: 'notes_client_wins', op: 'create', recordId: before, data: { title: 'one' } }),
      mutation({
        collection: 'notes_client_wins',
        op: 'update',
        recordId: locked.id,
        data: { title: 'A' },
        baseVersion: 1,
      }),
      mutation({ collection: 'notes_client_wins', op: 'create', recordId: after, data: { title: 'three' } }),
    ]
    const stored = async () => {
      const q = await db.query(
        'SELECT mutation_id FROM bastide.sync_mutations WHERE client_id = $1 AND mutation_id = ANY($2)',
        [deviceA, batch.map((m) => m.id)],
      )
      return q.rows.map((r) => r.mutation_id as string).sort()
    }
    const holder = new pg.Client({ connectionString: s.dbUrl })
    await holder.connect()
    try {
      // Another session holds the row: the update waits until the database gives up on it (busy).
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM data.notes_client_wins WHERE id = $1 FOR UPDATE', [locked.id])
      const r = await push(a.token, batch)
      expect(r.status).toBe(503)
      expect(r.body).toMatchObject({ code: 'UNAVAILABLE', status: 503, details: { mutation: batch[1]!.id } })
      expect(r.body.message).toMatch(/again/)
      const wait = Number(r.headers.get('retry-after'))
      expect(wait).toBeGreaterThanOrEqual(1)
      expect(wait).toBeLessThanOrEqual(5)
      // The one before it is applied and kept; the failed one and the rest are not.
      expect(await stored()).toEqual([batch[0]!.id])
      expect(await read('notes_client_wins', after)).toBeNull()
    } finally {
      await holder.query('ROLLBACK')
      await holder.end()
    }
    expect(await read('notes_client_wins', locked.id)).toMatchObject({ title: 'v1', version: 1 })
    // The client's retry: the first replays, the others apply.
    const again = await push(a.token, batch)
    expect(again.status).toBe(200)
    expect(again.body.results.map((x: SyncMutationResult) => x.status)).toEqual([
      'applied',
      'applied',
      'applied',
    ])
    expect(await read('notes_client_wins', before)).toMatchObject({ title: 'one', version: 1 })
    expect(await read('notes_client_wins', locked.id)).toMatchObject({ title: 'A', version: 2 })
    expect(await read('notes_client_wins', after)).toMatchObject({ title: 'three' })
    expect(await stored()).toEqual(batch.map((m) => m.id).sort())
  }, 30_000)

  describe('rules and validation', () => {
    it("a user cannot write another's record through a push", async () => {
      const bobs = await createRecord(s, 'mine', { owner: b.id, title: 'bob' }, b.token)
      for (const baseVersion of [undefined, 1, 0]) {
        const r = await pushOne(a.token, {
          collection: 'mine',
          op: 'update',
          recordId: bobs.id,
          data: { title: 'mallory' },
          ...(baseVersion === undefined ? {} : { baseVersion }),
        })
        expect(r).toMatchObject({
          status: 'rejected',
          record: null,
          error: { code: 'NOT_FOUND', status: 404 },
        })
      }
      const del = await pushOne(a.token, {
        collection: 'mine',
        op: 'delete',
        recordId: bobs.id,
        baseVersion: 0,
      })
      expect(del).toMatchObject({ status: 'rejected', error: { code: 'NOT_FOUND' } })
      // A create over its id (client_wins would write over it) answers as the records API would.
      const over = await pushOne(a.token, {
        collection: 'mine',
        op: 'create',
        recordId: bobs.id,
        data: { owner: a.id, title: 'mallory' },
      })
      expect(over).toMatchObject({ status: 'rejected', record: null })
      expect(await read('mine', bobs.id)).toMatchObject({ title: 'bob', version: 1 })
      // An id nobody has: not found either.
      const none = await pushOne(a.token, {
        collection: 'mine',
        op: 'update',
        recordId: randomUUID(),
        data: { title: 'x' },
      })
      expect(none).toMatchObject({ status: 'rejected', error: { code: 'NOT_FOUND' } })
    })

    it('the create rule refuses with 403; records the caller may not view come back null', async () => {
      const r = await pushOne(a.token, {
        collection: 'mine',
        op: 'create',
        recordId: randomUUID(),
        data: { owner: b.id, title: 'for bob' },
      })
      expect(r).toMatchObject({ status: 'rejected', record: null, error: { code: 'FORBIDDEN', status: 403 } })
    })

    it('a push without a credential is a 401; an anonymous user signed in pushes as a user', async () => {
      const id = randomUUID()
      const m = mutation({ collection: 'notes_client_wins', op: 'create', recordId: id, data: {} })
      const anon = await push('anon', [m])
      expect(anon.status).toBe(401)
      expect(anon.body).toMatchObject({ code: 'UNAUTHORIZED', status: 401 })
      // Even a malformed one: who is calling is checked first.
      expect((await s.api('POST', '/api/sync/push', { clientId: 'x' }, { as: 'anon' })).status).toBe(401)
      expect(await read('notes_client_wins', id)).toBeNull()
      const guest = await authCall(s, 'POST', '/sign-in/anonymous')
      expect(guest.status).toBe(200)
      const r = await pushOne(guest.body.token, { ...m, data: { title: 'guest' } })
      expect(r).toMatchObject({ status: 'applied', record: { id, title: 'guest' } })
    })

    it('an id deleted while the caller could not view it answers not found, as one that never existed', async () => {
      const bobs = await createRecord(s, 'mine', { owner: b.id, title: 'bob' }, b.token)
      const del = await s.api('DELETE', `/api/collections/mine/records/${bobs.id}`, undefined, {
        as: b.token,
      })
      expect(del.status).toBe(204)
      const update = { collection: 'mine', op: 'update', recordId: bobs.id, data: { title: 'x' } }
      for (const baseVersion of [undefined, 1]) {
        const r = await pushOne(a.token, { ...update, ...(baseVersion ? { baseVersion } : {}) })
        expect(r).toMatchObject({
          status: 'rejected',
          record: null,
          error: { code: 'NOT_FOUND', status: 404 },
        })
      }
      const never = await pushOne(a.token, { ...update, recordId: randomUUID() })
      expect(never.error).toEqual((await pushOne(a.token, { ...update, baseVersion: 1 })).error)
      // Its owner could view it: resolved as gone.
      const own = await pushOne(b.token, { ...update, baseVersion: 1 })
      expect(own).toMatchObject({
        status: 'resolved',
        conflict: { serverVersion: null, outcome: 'server' },
        record: null,
      })
    })

    it('system fields in data are refused as the records API refuses them', async () => {
      const rec = await createRecord(s, 'notes_client_wins', { title: 't' }, a.token)
      for (const data of [
        { version: 99 },
        { created: '2000-01-01T00:00:00Z' },
        { updated: '2000-01-01T00:00:00Z' },
      ]) {
        for (const baseVersion of [1, 0]) {
          const r = await pushOne(a.token, {
            collection: 'notes_client_wins',
            op: 'update',
            recordId: rec.id,
            data: { title: 'hijack', ...data },
            baseVersion,
          })
          expect(r).toMatchObject({ status: 'rejected', error: { code: 'VALIDATION_FAILED' } })
          expect(r.record).toMatchObject({ title: 't', version: 1 })
        }
      }
      const c = await pushOne(a.token, {
        collection: 'notes_client_wins',
        op: 'create',
        recordId: randomUUID(),
        data: { title: 'x', version: 7, created: '2000-01-01T00:00:00Z' },
      })
      expect(c).toMatchObject({ status: 'rejected', error: { code: 'VALIDATION_FAILED' } })
      expect(await read('notes_client_wins', rec.id)).toMatchObject({ title: 't', version: 1 })
    })

    it('a batch with bad mutations applies the others', async () => {
      const ok1 = randomUUID()
      const ok2 = randomUUID()
      const r = await push(a.token, [
        mutation({ collection: 'notes_client_wins', op: 'create', recordId: ok1, data: { title: 'one' } }),
        mutation({ collection: 'nope', op: 'create', recordId: randomUUID(), data: {} }),
        mutation({ collection: 'unsynced', op: 'create', recordId: randomUUID(), data: { title: 'x' } }),
        mutation({
          collection: 'notes_client_wins',
          op: 'create',
          recordId: randomUUID(),
          data: { done: 'maybe' },
        }),
        mutation({ collection: 'notes_client_wins', op: 'create', recordId: ok2, data: { title: 'two' } }),
      ])
      expect(r.status).toBe(200)
      const results = r.body.results as SyncMutationResult[]
      expect(results.map((x) => x.status)).toEqual(['applied', 'rejected', 'rejected', 'rejected', 'applied'])
      expect(results[1]!.error).toMatchObject({ code: 'NOT_FOUND', status: 404 })
      expect(results[2]!.error).toMatchObject({ code: 'SYNC_DISABLED', status: 409 })
      expect(results[3]!.error).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { fields: { done: {} } },
      })
      expect(await read('notes_client_wins', ok1)).toMatchObject({ title: 'one' })
      expect(await read('notes_client_wins', ok2)).toMatchObject({ title: 'two' })
      expect(await count('unsynced')).toBe(0)
    })

    it('a base state that no longer reads as a row (a field retyped since) resolves without a base', async () => {
      const rec = await movedByB('retyped', { title: 'v1', v: 'not a number' }, { title: 'B' })
      let col = (await s.api('GET', '/api/collections/retyped')).body
      const keep = col.fields.filter((f: any) => f.name !== 'v')
      expect((await s.api('PATCH', '/api/collections/retyped', { fields: keep })).status).toBe(200)
      col = (await s.api('GET', '/api/collections/retyped')).body
      const retyped = [...col.fields, { name: 'v', type: 'number' }]
      expect((await s.api('PATCH', '/api/collections/retyped', { fields: retyped })).status).toBe(200)
      const r = await pushOne(a.token, {
        collection: 'retyped',
        op: 'update',
        recordId: rec.id,
        data: { title: 'A', v: 5 },
        baseVersion: 1,
        at: earlier(),
      })
      // Without the base every field counts as changed on both sides: the later edit (B's) keeps title.
      expect(r).toMatchObject({
        status: 'resolved',
        conflict: { policy: 'lww_field', serverVersion: 2 },
        record: { title: 'B' },
      })
    })

    it('a malformed push is a 400 naming what is wrong', async () => {
      const good = mutation({
        collection: 'notes_client_wins',
        op: 'create',
        recordId: randomUUID(),
        data: {},
      })
      const cases: [unknown, string][] = [
        [{ clientId: 'not-a-uuid', mutations: [] }, 'clientId'],
        [{ clientId: deviceA, mutations: [{ ...good, op: 'upsert' }] }, 'mutations.0.op'],
        [{ clientId: deviceA, mutations: [{ ...good, recordId: 'x' }] }, 'mutations.0.recordId'],
        [{ clientId: deviceA, mutations: [{ ...good, at: 'yesterday' }] }, 'mutations.0.at'],
        [{ clientId: deviceA, mutations: [{ ...good, baseVersion: -1 }] }, 'mutations.0.baseVersion'],
        [{ clientId: deviceA, mutations: [{ ...good, id: 'x'.repeat(101) }] }, 'mutations.0.id'],
        [{ clientId: deviceA, mutations: [{ ...good, data: [1] }] }, 'mutations.0.data'],
        [{ clientId: deviceA, mutations: Array.from({ length: 501 }, () => good) }, 'mutations'],
        [{ clientId: deviceA }, 'mutations'],
      ]
      for (const [body, field] of cases) {
        const r = await s.api('POST', '/api/sync/push', body, { as: a.token })
        expect(r.status, field).toBe(400)
        expect(r.body).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
        expect(Object.keys(r.body.details.fields), field).toContain(field)
      }
      const notJson = await s.api('POST', '/api/sync/push', '{', { as: a.token })
      expect(notJson.status).toBe(400)
      expect(await count('notes_client_wins')).toBeGreaterThan(0)
    })
  })
})
