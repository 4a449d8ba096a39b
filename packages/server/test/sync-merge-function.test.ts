import { randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SyncMutationResult } from '@bastide/protocol'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_MERGES_PER_PUSH } from '../src/core/sync/push.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'
import { enableSync } from './support/sync.ts'
import { until } from './support/until.ts'

/** The `function` conflict policy: a deployed function with a `{ sync: 'merge' }` trigger merges stale pushes. */

const fn = (body: string) => `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction(${body})
`

/** Joins base, server and client titles; `keep` keeps the server's, `boom` throws, `bad` answers nonsense. */
const MERGE = fn(`{
  on: { sync: 'merge' },
  async handler(event) {
    const { base, server, client } = event
    if (event.trigger !== 'sync') throw new Error('not a sync event')
    if (client.op === 'delete') return server.title === 'keep me' ? { keep: 'server' } : { data: {} }
    if (client.data.title === 'boom') throw new Error('cannot merge this')
    if (client.data.title === 'bad') return { nope: 1 }
    if (client.data.title === 'keep') return { keep: 'server' }
    // The whole record back, system and hidden fields included: only what changed is written.
    return { data: { ...server, title: [base ? base.title : '-', server.title, client.data.title].join('|') } }
  },
}`)

/** MERGE's joins, after a call to the test's gate (`seen`: the server's title), which answers when the test says. */
const SLOW = (gate: string) =>
  fn(`{
  on: { sync: 'merge' },
  allowHosts: ['127.0.0.1'],
  async handler(event) {
    const { base, server, client } = event
    await (await fetch('${gate}?seen=' + encodeURIComponent(server.title))).text()
    if (client.op === 'delete') return server.title === 'keep me' ? { keep: 'server' } : { data: {} }
    return { data: { title: [base ? base.title : '-', server.title, client.data.title].join('|') } }
  },
}`)

const HTTP_ONLY = fn(`{ on: { http: true }, async handler() { return new Response('hi') } }`)

describe('sync push: merge functions', () => {
  let s: TestServer
  let a: SignedUp
  let b: SignedUp
  const SIGNED_IN = "@request.auth.id != ''"

  const pushOne = async (m: Record<string, unknown>) => {
    const r = await s.api(
      'POST',
      '/api/sync/push',
      { clientId: randomUUID(), mutations: [{ id: randomUUID(), at: new Date().toISOString(), ...m }] },
      { as: a.token },
    )
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body.results[0] as SyncMutationResult & { record: any }
  }
  /** Made by the admin at v1 (with a hidden field), moved to v2 by B. */
  const movedByB = async (collection: string, title: string) => {
    const rec = await createRecord(s, collection, { title: 'v1', secret: 's' })
    const r = await s.api(
      'PATCH',
      `/api/collections/${collection}/records/${rec.id}`,
      { title },
      { as: b.token },
    )
    expect(r.body.version).toBe(2)
    return r.body
  }
  const read = async (collection: string, id: string) =>
    (await s.api('GET', `/api/collections/${collection}/records/${id}`)).body

  /** The slow merge function's gate: holds its calls while `held`, each noted with the server title it saw. */
  let gate: http.Server
  let gateUrl = ''
  const seen: string[] = []
  const waiting: http.ServerResponse[] = []
  let held = false
  const release = () => {
    held = false
    for (const res of waiting.splice(0)) res.end('go')
  }

  beforeAll(async () => {
    gate = http.createServer((req, res) => {
      seen.push(new URL(req.url ?? '/', 'http://gate').searchParams.get('seen') ?? '')
      if (held) waiting.push(res)
      else res.end('go')
    })
    await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r))
    gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}/gate`
    s = await startTestServer({ env: { BASTIDE_FUNCTIONS_ALLOW_HOSTS: '127.0.0.1' } })
    a = await signUp(s, 'ada@example.com')
    b = await signUp(s, 'bob@example.com')
    const rules = {
      list: SIGNED_IN,
      view: SIGNED_IN,
      create: SIGNED_IN,
      update: SIGNED_IN,
      delete: SIGNED_IN,
    }
    const fields = [
      { name: 'title', type: 'text' },
      { name: 'secret', type: 'text', hidden: true },
    ]
    for (const name of ['merged', 'missing', 'wrongfn', 'slow'])
      await createCollection(s, { name, fields, rules })
    for (const [name, source] of [
      ['merge-titles', MERGE],
      ['merge-slowly', SLOW(gateUrl)],
      ['hello', HTTP_ONLY],
    ] as const) {
      const d = await s.api('PUT', `/api/admin/functions/${name}`, { source })
      expect(d.status, JSON.stringify(d.body)).toBe(201)
    }
    await enableSync(s, 'merged', 'function', 'merge-titles')
    await enableSync(s, 'missing', 'function', 'no-such-function')
    await enableSync(s, 'wrongfn', 'function', 'hello')
    await enableSync(s, 'slow', 'function', 'merge-slowly')
  }, 120_000)
  afterAll(async () => {
    release()
    await s?.close()
    gate?.closeAllConnections()
    await new Promise((r) => gate?.close(r))
  })

  it('deploys a sync trigger, and refuses one of another shape', async () => {
    const d = await s.api('GET', '/api/admin/functions/merge-titles')
    expect(d.body.manifest).toEqual({ on: { sync: 'merge' } })
    const bad = await s.api('PUT', '/api/admin/functions/bad-sync', {
      source: fn(`{ on: { sync: 'split' }, handler() {} }`),
    })
    expect(bad.status).toBe(400)
    expect(bad.body.code).toBe('FUNCTION_INVALID')
  })

  it("writes the function's merge of base, server and client", async () => {
    const rec = await movedByB('merged', 'B')
    const r = await pushOne({
      collection: 'merged',
      op: 'update',
      recordId: rec.id,
      data: { title: 'A' },
      baseVersion: 1,
    })
    expect(r).toMatchObject({
      status: 'resolved',
      conflict: { policy: 'function', serverVersion: 2, outcome: 'merged', fields: ['title'] },
      record: { title: 'v1|B|A', version: 3 },
    })
    // The hidden field came back unchanged from the function: not written (the user may not set it), kept.
    expect(r.record.secret).toBeUndefined()
    expect(await read('merged', rec.id)).toMatchObject({ title: 'v1|B|A', secret: 's', version: 3 })

    // A base the log never had: the function gets null.
    const rec2 = await movedByB('merged', 'B')
    const r2 = await pushOne({
      collection: 'merged',
      op: 'update',
      recordId: rec2.id,
      data: { title: 'A' },
      baseVersion: 9,
    })
    expect(r2).toMatchObject({ status: 'resolved', record: { title: '-|B|A' } })

    // Its invocations are logged under the sync trigger.
    await s.bastide.scheduler.runNow('functions', 'flush-invocations')
    const inv = await s.api('GET', '/api/admin/functions/merge-titles/invocations?trigger=sync')
    expect(inv.body.items.length).toBeGreaterThanOrEqual(2)
    expect(inv.body.items[0]).toMatchObject({ trigger: 'sync', status: 'ok' })
  })

  it("{ keep: 'server' } drops the write; on a delete it keeps the record", async () => {
    const rec = await movedByB('merged', 'B')
    const r = await pushOne({
      collection: 'merged',
      op: 'update',
      recordId: rec.id,
      data: { title: 'keep' },
      baseVersion: 1,
    })
    expect(r).toMatchObject({
      status: 'resolved',
      conflict: { outcome: 'server' },
      record: { title: 'B', version: 2 },
    })

    const kept = await movedByB('merged', 'keep me')
    const d = await pushOne({ collection: 'merged', op: 'delete', recordId: kept.id, baseVersion: 1 })
    expect(d).toMatchObject({
      status: 'resolved',
      conflict: { outcome: 'server' },
      record: { title: 'keep me' },
    })
    const gone = await movedByB('merged', 'B')
    const d2 = await pushOne({ collection: 'merged', op: 'delete', recordId: gone.id, baseVersion: 1 })
    expect(d2).toMatchObject({ status: 'resolved', conflict: { outcome: 'client' }, record: null })
  })

  it('a function that throws or answers nonsense refuses the mutation, and nothing is written', async () => {
    for (const [title, code] of [
      ['boom', 'FUNCTION_FAILED'],
      ['bad', 'FUNCTION_FAILED'],
    ] as const) {
      const rec = await movedByB('merged', 'B')
      const r = await pushOne({
        collection: 'merged',
        op: 'update',
        recordId: rec.id,
        data: { title },
        baseVersion: 1,
      })
      expect(r).toMatchObject({
        status: 'rejected',
        error: { code, status: 502 },
        record: { title: 'B', version: 2 },
      })
      // The function's own error stays in its invocation log.
      expect(JSON.stringify(r.error)).not.toContain('cannot merge this')
      expect(r.error!.details).toMatchObject({ invocation: expect.any(String) })
      expect(await read('merged', rec.id)).toMatchObject({ title: 'B', version: 2 })
    }
  })

  it('a merge function that is not deployed, or has no sync trigger, refuses the mutation', async () => {
    for (const collection of ['missing', 'wrongfn']) {
      const rec = await movedByB(collection, 'B')
      const r = await pushOne({
        collection,
        op: 'update',
        recordId: rec.id,
        data: { title: 'A' },
        baseVersion: 1,
      })
      expect(r).toMatchObject({
        status: 'rejected',
        error: { code: 'FUNCTION_NOT_FOUND' },
        record: { title: 'B' },
      })
      expect(await read(collection, rec.id)).toMatchObject({ title: 'B', version: 2 })
    }
  })

  it('without a conflict the function does not run', async () => {
    const rec = await createRecord(s, 'merged', { title: 'v1' })
    const r = await pushOne({
      collection: 'merged',
      op: 'update',
      recordId: rec.id,
      data: { title: 'boom' },
      baseVersion: 1,
    })
    expect(r).toMatchObject({ status: 'applied', record: { title: 'boom', version: 2 } })
  })

  describe('a merge function runs with no transaction open', () => {
    let watcher: pg.Client
    beforeAll(async () => {
      watcher = new pg.Client({ connectionString: s.dbUrl })
      await watcher.connect()
    })
    afterAll(async () => {
      await watcher?.end()
    })
    /** Sessions of the test database in a transaction that holds a push's claim (bastide.sync_mutations). */
    const claimsHeld = async () =>
      (
        await watcher.query(
          `SELECT a.pid, a.state FROM pg_stat_activity a
            WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
              AND EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.pid = a.pid AND l.relation = 'bastide.sync_mutations'::regclass)`,
        )
      ).rows
    const idleInTransaction = async () =>
      (
        await watcher.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
        )
      ).rows[0].n as number

    it('nor a row lock: a write meanwhile goes through, and the push merges again against it', async () => {
      const rec = await movedByB('slow', 'B')
      seen.length = 0
      held = true
      const pushing = pushOne({
        collection: 'slow',
        op: 'update',
        recordId: rec.id,
        data: { title: 'A' },
        baseVersion: 1,
      })
      try {
        // The function is running (its call waits at the gate): the push holds no transaction meanwhile.
        await until('the merge function to run', async () => waiting.length > 0)
        expect(seen).toEqual(['B'])
        expect(await claimsHeld()).toEqual([])
        expect(await idleInTransaction()).toBe(0)
        // Another user's write of the same record is not blocked by the push: it completes first.
        const w = await s.api(
          'PATCH',
          `/api/collections/slow/records/${rec.id}`,
          { title: 'C' },
          { as: b.token },
        )
        expect(w.status).toBe(200)
        expect(w.body.version).toBe(3)
        expect(waiting.length).toBe(1)
      } finally {
        release()
      }
      // The answer was computed against version 2: the function runs again, on the record at version 3.
      const r = await pushing
      expect(seen).toEqual(['B', 'C'])
      expect(r).toMatchObject({
        status: 'resolved',
        conflict: { policy: 'function', serverVersion: 3, outcome: 'merged' },
        record: { title: 'v1|C|A', version: 4 },
      })
      expect(await read('slow', rec.id)).toMatchObject({ title: 'v1|C|A', secret: 's', version: 4 })
    })

    it('a delete too: merged again when the record moved on while its function ran', async () => {
      const rec = await movedByB('slow', 'B')
      seen.length = 0
      held = true
      const pushing = pushOne({ collection: 'slow', op: 'delete', recordId: rec.id, baseVersion: 1 })
      try {
        await until('the merge function to run', async () => waiting.length > 0)
        expect(await claimsHeld()).toEqual([])
        const w = await s.api(
          'PATCH',
          `/api/collections/slow/records/${rec.id}`,
          { title: 'keep me' },
          { as: b.token },
        )
        expect(w.body.version).toBe(3)
      } finally {
        release()
      }
      // The first answer (delete it) was for version 2; against version 3 the function keeps the record.
      expect(await pushing).toMatchObject({
        status: 'resolved',
        conflict: { serverVersion: 3, outcome: 'server' },
        record: { title: 'keep me', version: 3 },
      })
      expect(seen).toEqual(['B', 'keep me'])
    })
  })

  it(`runs ${MAX_MERGES_PER_PUSH} merge functions per push at most: the rest is answered by the next push`, async () => {
    const recs = []
    for (let i = 0; i < MAX_MERGES_PER_PUSH + 2; i++) recs.push(await movedByB('merged', `B${i}`))
    const clientId = randomUUID()
    const mutations = recs.map((rec) => ({
      id: randomUUID(),
      at: new Date().toISOString(),
      collection: 'merged',
      op: 'update',
      recordId: rec.id,
      data: { title: 'A' },
      baseVersion: 1,
    }))
    const push = async (batch: typeof mutations) => {
      const r = await s.api('POST', '/api/sync/push', { clientId, mutations: batch }, { as: a.token })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body.results as (SyncMutationResult & { record: any })[]
    }
    const first = await push(mutations)
    expect(first.map((r) => r.id)).toEqual(mutations.slice(0, MAX_MERGES_PER_PUSH).map((m) => m.id))
    for (const [i, r] of first.entries())
      expect(r).toMatchObject({ status: 'resolved', record: { title: `v1|B${i}|A`, version: 3 } })
    // Those not answered are not applied: the client sends them again.
    for (const rec of recs.slice(MAX_MERGES_PER_PUSH))
      expect(await read('merged', rec.id)).toMatchObject({ title: rec.title, version: 2 })

    // As the SDK does: the rest, in a push of their own.
    const rest = await push(mutations.slice(MAX_MERGES_PER_PUSH))
    expect(rest.map((r) => r.id)).toEqual(mutations.slice(MAX_MERGES_PER_PUSH).map((m) => m.id))
    for (const [i, rec] of recs.entries())
      expect(await read('merged', rec.id)).toMatchObject({ title: `v1|B${i}|A`, version: 3 })
    // The whole batch again: the answered ones replay (no function runs), all answered.
    expect((await push(mutations)).map((r) => r.status)).toEqual(mutations.map(() => 'resolved'))
  })
})
