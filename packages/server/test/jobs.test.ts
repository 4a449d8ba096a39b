import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RecordOutboxHub } from '../src/core/jobs/record-outbox.ts'
import type { JobContext, Jobs } from '../src/core/jobs/types.ts'
import { defineModule } from '../src/modules/define-module.ts'
import { MODULES } from '../src/modules/index.ts'
import { type Bastide, startBastide } from '../src/server.ts'
import {
  createCollection,
  createKey,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

/** A last module that hands the test the services the jobs module provides. */
function capture(into: { jobs?: Jobs; outbox?: RecordOutboxHub }) {
  return defineModule({
    id: 'jobs-test-probe',
    start({ use }) {
      into.jobs = use('jobs')
      into.outbox = use('recordOutbox')
      return {}
    },
  })
}

const count = async (s: TestServer, queue: string) =>
  Number(
    (
      await sql<{ n: string }>`SELECT count(*) AS n FROM pgboss.job WHERE name = ${queue}`.execute(
        s.bastide.database.db,
      )
    ).rows[0]!.n,
  )

describe('the job queue', () => {
  let s: TestServer
  const svc: { jobs?: Jobs; outbox?: RecordOutboxHub } = {}
  let jobs: Jobs

  beforeAll(async () => {
    s = await startTestServer({ modules: [...MODULES, capture(svc)] })
    jobs = svc.jobs!
  })
  afterAll(async () => {
    await s?.close()
  })

  it('counts attempts exactly: a handler failing twice then succeeding runs as attempts 1, 2, 3', async () => {
    const seen: JobContext<{ n: number }>[] = []
    await jobs.work<{ n: number }>(
      'flaky',
      { retryLimit: 3, retryDelaySeconds: 0, retryBackoff: false },
      async (job) => {
        seen.push(job)
        if (job.attempt < 3) throw new Error(`attempt ${job.attempt} fails`)
      },
    )
    const id = await jobs.send('flaky', { n: 1 })
    await expect.poll(async () => (await jobs.find('flaky', id!))?.state).toBe('completed')
    expect(seen.map((j) => j.attempt)).toEqual([1, 2, 3])
    expect(seen.every((j) => j.id === id && j.retryLimit === 3 && j.data.n === 1)).toBe(true)
    expect(await jobs.find('flaky', id!)).toMatchObject({ attempts: 3, error: null, data: { n: 1 } })
  })

  it('sends a job out of retries to <queue>.dead, and a replay runs it again under the same id', async () => {
    let fixed = false
    const runs: JobContext<{ order: string }>[] = []
    await jobs.work<{ order: string }>(
      'charge',
      { retryLimit: 1, retryDelaySeconds: 0, retryBackoff: false },
      async (job) => {
        runs.push(job)
        if (!fixed) throw new Error('card declined')
      },
    )
    const id = (await jobs.send('charge', { order: 'o-1' }))!
    await expect.poll(async () => (await jobs.find('charge', id))?.state).toBe('failed')
    expect(runs.map((j) => j.attempt)).toEqual([1, 2])
    expect(await jobs.find('charge', id)).toMatchObject({
      attempts: 2,
      retryLimit: 1,
      error: 'card declined',
    })
    const dead = await s.api('GET', '/api/admin/jobs/charge.dead')
    expect(dead.status).toBe(200)
    expect(dead.body.items).toHaveLength(1)
    expect(dead.body.items[0]).toMatchObject({
      queue: 'charge.dead',
      state: 'created',
      data: { order: 'o-1' },
    })
    const stats = await s.api('GET', '/api/admin/jobs')
    expect(stats.body.queues).toContainEqual(
      expect.objectContaining({ name: 'charge', failed: 1, deadLetter: 'charge.dead' }),
    )

    fixed = true
    const replayed = await s.api('POST', `/api/admin/jobs/charge.dead/${dead.body.items[0].id}/replay`)
    expect(replayed.status).toBe(200)
    expect(replayed.body).toMatchObject({ id, queue: 'charge', state: 'created', attempts: 0 })
    await expect.poll(async () => (await jobs.find('charge', id))?.state).toBe('completed')
    // A fresh delivery (attempts from 1 again), under the original id: idempotency keys built on it hold.
    expect(runs.map((j) => [j.id, j.attempt])).toEqual([
      [id, 1],
      [id, 2],
      [id, 1],
    ])
    // The dead letter and the failed original are gone: one replay, one live job.
    expect((await s.api('GET', '/api/admin/jobs/charge.dead')).body.items).toEqual([])
    expect((await jobs.list('charge')).items.map((j) => j.state)).toEqual(['completed'])
  })

  it('replays a failed job from its own queue, and refuses one that did not fail', async () => {
    let ok = false
    await jobs.work('once', { retryLimit: 0 }, async () => {
      if (!ok) throw new Error('no')
    })
    const id = (await jobs.send('once', { x: 1 }))!
    await expect.poll(async () => (await jobs.find('once', id))?.state).toBe('failed')
    ok = true
    expect((await s.api('POST', `/api/admin/jobs/once/${id}/replay`)).status).toBe(200)
    await expect.poll(async () => (await jobs.find('once', id))?.state).toBe('completed')
    const again = await s.api('POST', `/api/admin/jobs/once/${id}/replay`)
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ code: 'CONFLICT', status: 409 })
  })

  it('enqueues nothing from a rolled-back transaction, and the job once it commits', async () => {
    const db = s.bastide.database.db
    await expect(
      db.transaction().execute(async (trx) => {
        await jobs.send('tx-queue', { a: 1 }, { tx: { db: trx, afterCommit: () => {} } })
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    expect(await count(s, 'tx-queue')).toBe(0)
    await db.transaction().execute(async (trx) => {
      await jobs.send('tx-queue', { a: 2 }, { tx: { db: trx, afterCommit: () => {} } })
    })
    expect(await count(s, 'tx-queue')).toBe(1)
  })

  it('makes a deterministic id or singleton key a no-op the second time', async () => {
    expect(await jobs.send('dedupe', { v: 1 }, { id: '00000000-0000-4000-8000-000000000001' })).toBe(
      '00000000-0000-4000-8000-000000000001',
    )
    expect(await jobs.send('dedupe', { v: 2 }, { id: '00000000-0000-4000-8000-000000000001' })).toBeNull()
    const first = await jobs.send('dedupe', { v: 3 }, { singletonKey: 'k' })
    expect(first).not.toBeNull()
    expect(await jobs.send('dedupe', { v: 4 }, { singletonKey: 'k' })).toBeNull()
    expect(await jobs.find('dedupe', first!)).toMatchObject({ singletonKey: 'k', data: { v: 3 } })
  })

  it('delivers record create, update (with previous) and delete to a subscribed queue, cascades included', async () => {
    await createCollection(s, { name: 'authors', fields: [{ name: 'name', type: 'text' }] })
    await createCollection(s, {
      name: 'posts',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'author', type: 'relation', options: { collection: 'authors', onDelete: 'set_null' } },
      ],
    })
    const got: { action: string; collection: string; record: any; previous?: any; seq: number }[] = []
    await jobs.work<any>('record-feed', {}, async (job) => {
      got.push(job.data)
    })
    const off = svc.outbox!.subscribe('record-feed', (collection) => collection === 'posts')
    const author = await createRecord(s, 'authors', { name: 'Ann' })
    const post = await createRecord(s, 'posts', { title: 'v1', author: author.id })
    expect((await s.api('PATCH', `/api/collections/posts/records/${post.id}`, { title: 'v2' })).status).toBe(
      200,
    )
    // Deleting the author sets the post's relation to null: a cascaded update, with its previous state.
    expect((await s.api('DELETE', `/api/collections/authors/records/${author.id}`)).status).toBe(204)
    expect((await s.api('DELETE', `/api/collections/posts/records/${post.id}`)).status).toBe(204)
    await expect.poll(() => got.length).toBe(4)
    got.sort((a, b) => a.seq - b.seq)
    expect(got.map((e) => [e.action, e.collection])).toEqual([
      ['create', 'posts'],
      ['update', 'posts'],
      ['update', 'posts'],
      ['delete', 'posts'],
    ])
    expect(got[0]!.previous).toBeUndefined()
    expect(got[1]).toMatchObject({
      record: { title: 'v2', version: 2 },
      previous: { title: 'v1', version: 1 },
    })
    expect(got[2]).toMatchObject({
      record: { author: null, version: 3 },
      previous: { author: author.id, version: 2 },
    })
    expect(got[3]!.record).toMatchObject({ id: post.id })
    off()
    await createRecord(s, 'posts', { title: 'after unsubscribe' })
    expect(await count(s, 'record-feed')).toBe(4)
  })

  it('ticks a cron slot into one job however many nodes tick it', async () => {
    await jobs.schedule('nightly', '0 3 * * *')
    // A second node on the same database, its periodic work off: the test drives both ticks.
    const probe: { jobs?: Jobs; outbox?: RecordOutboxHub } = {}
    const other: Bastide = await startBastide(s.config, {
      listen: false,
      jobs: false,
      log: s.bastide.log,
      modules: [...MODULES, capture(probe)],
    })
    try {
      const at = new Date('2031-05-04T03:00:20Z')
      const [a, b] = await Promise.all([jobs.tick(at), probe.jobs!.tick(at)])
      expect(a.length + b.length).toBe(1)
      expect(await probe.jobs!.tick(new Date('2031-05-04T03:01:05Z'))).toEqual([])
      const page = await jobs.list('nightly')
      expect(page.items.map((j) => j.data)).toEqual([
        { schedule: '0 3 * * *', at: '2031-05-04T03:00:00.000Z' },
      ])
      expect(await jobs.tick(new Date('2031-05-04T04:00:00Z'))).toEqual([])
      await jobs.unschedule('nightly')
      expect(await jobs.tick(new Date('2031-05-05T03:00:00Z'))).toEqual([])
    } finally {
      await other.close()
    }
  })

  it('runs here a job sent by another node (workers off there), woken by NOTIFY rather than the poll', async () => {
    const probe: { jobs?: Jobs } = {}
    const other = await startBastide(s.config, {
      listen: false,
      jobs: false,
      log: s.bastide.log,
      modules: [...MODULES, capture(probe)],
    })
    try {
      const done: { id: string; ms: number }[] = []
      const sentAt = new Map<string, number>()
      // Declared there too: with jobs off, that node never runs one.
      let ranThere = 0
      await probe.jobs!.work('cross-node', {}, async () => {
        ranThere++
      })
      await jobs.work<{ i: number }>('cross-node', {}, async (job) => {
        done.push({ id: job.id, ms: performance.now() - sentAt.get(job.id)! })
      })
      // Idle first: the worker has polled and sleeps; each send then wakes it.
      for (let i = 0; i < 5; i++) {
        await expect.poll(() => done.length).toBe(i)
        const id = crypto.randomUUID()
        sentAt.set(id, performance.now())
        await probe.jobs!.send('cross-node', { i }, { id })
      }
      await expect.poll(() => done.length).toBe(5)
      expect(ranThere).toBe(0)
      if (process.env.JOBS_LATENCY) console.log('cross-node ms', done.map((d) => d.ms.toFixed(1)).join(' '))
    } finally {
      await other.close()
    }
  })

  it('answers the admin API to console admins and `functions` keys only, errors as 4xx JSON', async () => {
    const plain = await createKey(s, ['records:read'])
    const fn = await createKey(s, ['functions'])
    expect((await s.api('GET', '/api/admin/jobs', undefined, { as: 'anon' })).status).toBe(401)
    expect((await s.api('GET', '/api/admin/jobs', undefined, { as: plain })).status).toBe(403)
    expect((await s.api('GET', '/api/admin/jobs', undefined, { as: fn })).status).toBe(200)
    expect((await s.api('GET', '/api/admin/jobs/no-such-queue')).status).toBe(404)
    expect((await s.api('GET', '/api/admin/jobs/flaky?state=bogus')).status).toBe(400)
    expect((await s.api('GET', '/api/admin/jobs/flaky?cursor=nope')).status).toBe(400)
    expect((await s.api('GET', '/api/admin/jobs/flaky/not-a-uuid')).status).toBe(404)
    const missing = await s.api('DELETE', '/api/admin/jobs/flaky/00000000-0000-4000-8000-000000000009')
    expect(missing.status).toBe(404)
    expect(missing.body).toMatchObject({ code: 'NOT_FOUND', status: 404 })
    const id = (await jobs.send('parked', { p: 1 }, { startAfter: new Date(Date.now() + 3_600_000) }))!
    expect((await s.api('GET', `/api/admin/jobs/parked/${id}`)).body).toMatchObject({ id, state: 'created' })
    expect((await s.api('DELETE', `/api/admin/jobs/parked/${id}`)).status).toBe(204)
    expect((await s.api('GET', `/api/admin/jobs/parked/${id}`)).status).toBe(404)
  })

  it('pages a queue newest first with a cursor', async () => {
    const later = new Date(Date.now() + 3_600_000)
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await jobs.send('paged', { i }, { startAfter: later }))!)
    const p1 = await s.api('GET', '/api/admin/jobs/paged?limit=2')
    const p2 = await s.api('GET', `/api/admin/jobs/paged?limit=2&cursor=${p1.body.nextCursor}`)
    const p3 = await s.api('GET', `/api/admin/jobs/paged?limit=2&cursor=${p2.body.nextCursor}`)
    expect([...p1.body.items, ...p2.body.items, ...p3.body.items].map((j: any) => j.id)).toEqual(
      [...ids].reverse(),
    )
    expect(p3.body.nextCursor).toBeNull()
  })
})
