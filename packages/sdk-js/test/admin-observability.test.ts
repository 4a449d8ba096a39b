import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError } from '../src/index.ts'
import { ADMIN_KEY, clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

/** client.admin.metrics and client.admin.logs against a real server (its request log flushed by its job). */
let s: TestServer & { url: string }

beforeAll(async () => {
  s = await startServer()
  await createCollection(s, { name: 'watched', fields: [{ name: 'n', type: 'number' }] })
})
afterAll(async () => {
  await s?.close()
})

/** Writes buffered request log rows (twice: a run under way may have taken its batch before ours). */
async function flushed() {
  await s.bastide.scheduler.runNow('metrics', 'flush-request-log')
  await s.bastide.scheduler.runNow('metrics', 'flush-request-log')
}

describe('client.admin.logs', () => {
  it('lists the requests the client made, filtered, page by page', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    for (let i = 0; i < 3; i++) await admin.collection('watched').create({ n: i })
    await admin
      .collection('watched')
      .getOne('missing')
      .catch(() => {})
    await flushed()
    const created = await admin.admin.logs.list({
      method: 'POST',
      path: '/api/collections/watched',
      perPage: 2,
    })
    expect(created.items).toHaveLength(2)
    expect(created.items[0]).toMatchObject({
      method: 'POST',
      route: '/api/collections/:collection/records',
      status: 201,
      principalKind: 'admin',
    })
    const rest = await admin.admin.logs.list({
      method: 'POST',
      path: '/api/collections/watched',
      perPage: 2,
      cursor: created.nextCursor!,
    })
    expect(rest.items).toHaveLength(1)
    expect(rest.nextCursor).toBeNull()
    const missing = await admin.admin.logs.list({ status: '404', path: '/api/collections/watched' })
    expect(missing.items.map((r) => r.path)).toEqual(['/api/collections/watched/records/missing'])
    admin.close()
  })

  it('rejects a bad filter with BAD_REQUEST, and a key without the metrics scope with FORBIDDEN', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    const bad = await admin.admin.logs.list({ status: 'teapot' }).catch((e) => e)
    expect(bad).toBeInstanceOf(BastideError)
    expect(bad).toMatchObject({ code: 'BAD_REQUEST', status: 400 })
    const { key } = await admin.admin.keys.create({ name: 'reader', scopes: ['records:read'] })
    const reader = clientFor(s, { apiKey: key })
    expect(await reader.admin.metrics.summary().catch((e) => e)).toMatchObject({ code: 'FORBIDDEN' })
    const { key: metricsKey } = await admin.admin.keys.create({ name: 'prometheus', scopes: ['metrics'] })
    const watcher = clientFor(s, { apiKey: metricsKey })
    expect((await watcher.admin.logs.list({ perPage: 1 })).items).toHaveLength(1)
    for (const c of [admin, reader, watcher]) c.close()
  })
})

describe('client.admin.metrics', () => {
  it('sums up the last hour and this node', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    await admin.collection('watched').list()
    await flushed()
    const m = await admin.admin.metrics.summary()
    expect(m.retentionHours).toBe(24)
    expect(m.series).toHaveLength(60)
    expect(m.series.reduce((n, x) => n + x.requests, 0)).toBeGreaterThan(0)
    expect(m.topRoutes.length).toBeGreaterThan(0)
    expect(m.node.dbPool.max).toBeGreaterThan(0)
    expect(typeof m.node.realtimeConnections).toBe('number')
    admin.close()
  })
})
