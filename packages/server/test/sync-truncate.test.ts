import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'
import { enableSync, pullAll, pullPage } from './support/sync.ts'
import { until } from './support/until.ts'

/**
 * A TRUNCATE of a synced collection's table fires no row trigger: the statement trigger moves the collection's
 * horizon instead, so every cursor issued before it resyncs, and a fresh sync holds none of the records.
 */
let s: TestServer

const db = () => s.bastide.database.db
const truncateTrigger = async (table: string) => {
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_trigger
    WHERE tgrelid = ${`data.${table}`}::regclass AND tgname = 'bastide_sync_truncate'`.execute(db())
  return r.rows[0]!.n
}

beforeAll(async () => {
  s = await startTestServer()
  for (const name of ['wiped', 'paged', 'restored'])
    await createCollection(s, {
      name,
      fields: [{ name: 'n', type: 'number' }],
      rules: { list: '', view: '' },
    })
  for (const name of ['wiped', 'paged', 'restored']) await enableSync(s, name)
})
afterAll(() => s?.close())

describe('TRUNCATE of a synced table', () => {
  it('makes a cursor issued before it resync, and a pull from scratch returns no records', async () => {
    for (let i = 0; i < 3; i++) await createRecord(s, 'wiped', { n: i })
    const before = await pullAll(s, 'wiped')
    expect(before.changes).toHaveLength(3)
    expect((await pullPage(s, 'wiped', { since: before.cursor })).resync).toBe(false)

    await sql`TRUNCATE data.wiped`.execute(db())

    const page = await pullPage(s, 'wiped', { since: before.cursor })
    expect(page.resync).toBe(true)
    expect(page.changes).toEqual([])
    const fresh = await pullAll(s, 'wiped')
    expect(fresh.changes).toEqual([])
    expect(fresh.pages.every((p) => !p.resync)).toBe(true)
    // From there on the log carries on as usual.
    const rec = await createRecord(s, 'wiped', { n: 9 })
    const next = await pullAll(s, 'wiped', { since: fresh.cursor })
    expect(next.changes.map((c) => (c.op === 'upsert' ? c.record.id : c.id))).toEqual([rec.id])
  })

  it('makes a cursor in the middle of an initial sync resync too', async () => {
    for (let i = 0; i < 4; i++) await createRecord(s, 'paged', { n: i })
    const first = await pullPage(s, 'paged', { limit: 2 })
    expect(first.hasMore).toBe(true)
    await sql`TRUNCATE data.paged`.execute(db())
    expect((await pullPage(s, 'paged', { since: first.cursor, limit: 2 })).resync).toBe(true)
  })

  it('a rolled-back TRUNCATE leaves cursors as they were', async () => {
    await createRecord(s, 'wiped', { n: 1 })
    const { cursor } = await pullAll(s, 'wiped')
    await db()
      .transaction()
      .execute(async (trx) => {
        await sql`TRUNCATE data.wiped`.execute(trx)
        throw new Error('rollback')
      })
      .catch(() => {})
    expect((await pullPage(s, 'wiped', { since: cursor })).resync).toBe(false)
  })

  it('gets its trigger back on a table that lost it (an older version, a restore)', async () => {
    expect(await truncateTrigger('restored')).toBe(1)
    await sql`DROP TRIGGER bastide_sync_truncate ON data.restored`.execute(db())
    // A schema change (or a start) checks the triggers and makes the missing one.
    const rules = { list: '', view: '', create: '' }
    expect((await s.api('PATCH', '/api/collections/restored', { rules })).status).toBe(200)
    await until(
      'the TRUNCATE trigger to be made again',
      async () => (await truncateTrigger('restored')) === 1,
    )
    const { cursor } = await pullAll(s, 'restored')
    await sql`TRUNCATE data.restored`.execute(db())
    expect((await pullPage(s, 'restored', { since: cursor })).resync).toBe(true)
  })
})
