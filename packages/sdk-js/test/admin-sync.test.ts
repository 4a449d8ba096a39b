import { createKey } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError } from '../src/index.ts'
import { ADMIN_KEY, clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

/** client.admin.sync against a real server: settings per collection, the overview, the server's refusals. */
let s: TestServer & { url: string }

beforeAll(async () => {
  s = await startServer()
  await createCollection(s, { name: 'notes', fields: [{ name: 'title', type: 'text' }] })
})
afterAll(async () => {
  await s?.close()
})

describe('client.admin.sync', () => {
  it('enables a collection, reads it back, shows it in the overview, disables it', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    expect(await admin.admin.sync.get('notes')).toMatchObject({ collection: 'notes', enabled: false })

    const on = await admin.admin.sync.set('notes', { enabled: true, conflict: 'lww_field' })
    expect(on).toEqual({ collection: 'notes', enabled: true, conflict: 'lww_field', mergeFunction: null })
    expect(await admin.admin.sync.get('notes')).toEqual(on)

    const overview = await admin.admin.sync.overview()
    expect(overview.retentionDays).toBe(30)
    expect(overview.collections).toContainEqual(on)
    expect(overview.log).toMatchObject({ entries: expect.any(Number) })

    // Changes are logged from then on: the change log grows.
    await admin.collection('notes').create({ title: 'offline' })
    await expect.poll(async () => (await admin.admin.sync.overview()).log.entries).toBeGreaterThan(0)

    const off = await admin.admin.sync.set('notes', { enabled: false, conflict: 'server_wins' })
    expect(off).toMatchObject({ enabled: false, conflict: 'server_wins' })
    expect((await admin.admin.sync.overview()).collections).not.toContainEqual(on)
  })

  it('throws BastideError with the server’s status for bad input, unknown collections and keys without scope', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    const noFn = await admin.admin.sync.set('notes', { enabled: true, conflict: 'function' }).catch((e) => e)
    expect(noFn).toBeInstanceOf(BastideError)
    expect(noFn.status).toBe(400)

    const unknown = await admin.admin.sync.get('no_such_collection').catch((e) => e)
    expect(unknown).toBeInstanceOf(BastideError)
    expect(unknown.status).toBe(404)

    const metrics = clientFor(s, { apiKey: await createKey(s, ['metrics']) })
    expect((await metrics.admin.sync.overview().catch((e) => e)).status).toBe(403)
    const schema = clientFor(s, { apiKey: await createKey(s, ['schema']) })
    expect((await schema.admin.sync.get('notes')).collection).toBe('notes')
  })
})
