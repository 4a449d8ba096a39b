import { randomUUID } from 'node:crypto'
import type { SyncMutationResult } from '@bastide/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedUp, signUp } from './support/auth.ts'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'
import { enableSync } from './support/sync.ts'

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

  beforeAll(async () => {
    s = await startTestServer()
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
    for (const name of ['merged', 'missing', 'wrongfn']) await createCollection(s, { name, fields, rules })
    for (const [name, source] of [
      ['merge-titles', MERGE],
      ['hello', HTTP_ONLY],
    ] as const) {
      const d = await s.api('PUT', `/api/admin/functions/${name}`, { source })
      expect(d.status, JSON.stringify(d.body)).toBe(201)
    }
    await enableSync(s, 'merged', 'function', 'merge-titles')
    await enableSync(s, 'missing', 'function', 'no-such-function')
    await enableSync(s, 'wrongfn', 'function', 'hello')
  }, 120_000)
  afterAll(async () => {
    await s?.close()
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
})
