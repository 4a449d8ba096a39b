/**
 * Health probes, as a load balancer or Kubernetes uses them:
 * - `/api/health/live` answers while the process runs, whatever its dependencies do (a restart cures nothing
 *   when PostgreSQL is down);
 * - `/api/health/ready` answers 200 only when PostgreSQL answers, the migrations this node started with are
 *   recorded and Redis (when configured) answers; otherwise, and from the first moment of a shutdown, 503
 *   `UNAVAILABLE` in the error shape, so that the node is taken out of rotation.
 */
import net from 'node:net'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts'
import { startTestServer, type TestServer } from './support/harness.ts'
import { closeOwnCluster, type OwnCluster, startOwnCluster } from './support/own-cluster.ts'
import { redisServerMissing, startRedis, type TestRedis } from './support/processes.ts'

/** GET over the app in-process: probes carry no credential. */
async function probe(s: { app: { request(path: string): Response | Promise<Response> } }, path: string) {
  const res = await s.app.request(path)
  return { status: res.status, body: (await res.json()) as any, headers: res.headers }
}

/** A TCP port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

describe('health probes on a healthy node', () => {
  let s: TestServer | undefined
  afterAll(async () => {
    await s?.close()
  })

  it('live and ready answer 200 without credentials, never cached', async () => {
    s = await startTestServer()
    const live = await probe(s.bastide, '/api/health/live')
    expect(live.status).toBe(200)
    expect(live.body).toEqual({ status: 'ok', version: expect.any(String) })
    expect(live.headers.get('cache-control')).toBe('no-store')

    const ready = await probe(s.bastide, '/api/health/ready')
    expect(ready.status).toBe(200)
    expect(ready.body).toEqual({
      status: 'ready',
      version: live.body.version,
      checks: { database: 'ok', migrations: 'ok', redis: 'off' },
    })
    expect(ready.headers.get('cache-control')).toBe('no-store')

    // The old endpoint is unchanged.
    expect((await probe(s.bastide, '/api/health')).body).toEqual({ status: 'ok', version: live.body.version })
  })

  it('describes both probes in the public API document', async () => {
    const doc = await probe(s!.bastide, '/api/openapi.json')
    expect(doc.body.paths['/api/health/live'].get.operationId).toBe('healthLive')
    expect(doc.body.paths['/api/health/ready'].get.responses).toHaveProperty('503')
  })

  it('is not ready once the migrations it started with are no longer recorded (database swapped)', async () => {
    const client = new pg.Client({ connectionString: s!.dbUrl })
    await client.connect()
    try {
      await client.query('BEGIN')
      await client.query(
        'DELETE FROM bastide.migrations WHERE (module, seq) = (SELECT module, seq FROM bastide.migrations LIMIT 1)',
      )
      // Inside the transaction nothing changed for the server yet; committed, the probe sees it.
      await client.query('COMMIT')
      const ready = await probe(s!.bastide, '/api/health/ready')
      expect(ready.status).toBe(503)
      expect(ready.body).toMatchObject({
        code: 'UNAVAILABLE',
        status: 503,
        details: { checks: { database: 'ok', migrations: 'failed' } },
      })
      expect(ready.headers.get('retry-after')).toBe('2')
      expect((await probe(s!.bastide, '/api/health/live')).status).toBe(200)
    } finally {
      await client.end()
    }
  })
})

describe('Redis in readiness', () => {
  const servers: TestServer[] = []
  let redis: TestRedis | undefined
  afterAll(async () => {
    for (const s of servers) await s.close()
    await redis?.stop()
  })

  it.skipIf(redisServerMissing('health'))(
    'pings Redis when REDIS_URL is set: 503 while it is away, ready again once it is back',
    async () => {
      redis = await startRedis()
      const s = await startTestServer({ env: { REDIS_URL: redis.url } })
      servers.push(s)
      const checks = async () => (await probe(s.bastide, '/api/health/ready')).body.checks
      await expect.poll(checks).toEqual({ database: 'ok', migrations: 'ok', redis: 'ok' })

      await redis.stop()
      const down = await probe(s.bastide, '/api/health/ready')
      expect(down.status).toBe(503)
      expect(down.body).toMatchObject({
        code: 'UNAVAILABLE',
        message: 'Not ready: redis.',
        details: { checks: { database: 'ok', migrations: 'ok', redis: 'failed' } },
      })
      expect((await probe(s.bastide, '/api/health/live')).status).toBe(200)

      await redis.start()
      await expect.poll(checks).toEqual({ database: 'ok', migrations: 'ok', redis: 'ok' })
    },
  )

  it('answers 503 naming Redis when it was never reachable', async () => {
    const s = await startTestServer({ env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` } })
    servers.push(s)
    const ready = await probe(s.bastide, '/api/health/ready')
    expect(ready.status).toBe(503)
    expect(ready.body.details.checks).toEqual({ database: 'ok', migrations: 'ok', redis: 'failed' })
  })
})

// Stops PostgreSQL: its own cluster, so other test files on the shared one are not disturbed.
describe('PostgreSQL gone', () => {
  let cluster: OwnCluster | undefined
  afterAll(async () => {
    await closeOwnCluster(cluster)
  })

  it('ready answers 503 while the database is down, live stays 200, and ready recovers by itself', async () => {
    cluster = await startOwnCluster('bastide-health-pg-')
    const base = cluster.bastide.url
    const get = async (path: string) => {
      const res = await fetch(base + path, { signal: AbortSignal.timeout(10_000) })
      return { status: res.status, body: (await res.json()) as any }
    }
    expect((await get('/api/health/ready')).status).toBe(200)

    await cluster.pg!.stop()
    cluster.pg = undefined
    const down = await get('/api/health/ready')
    expect(down.status).toBe(503)
    expect(down.body).toMatchObject({ code: 'UNAVAILABLE', details: { checks: { database: 'failed' } } })
    expect(await get('/api/health/live')).toMatchObject({ status: 200, body: { status: 'ok' } })

    cluster.pg = await startEmbeddedPostgres({ dataDir: cluster.dataDir, port: cluster.port })
    await expect.poll(async () => (await get('/api/health/ready')).status).toBe(200)
  })
})

describe('shutdown', () => {
  let s: TestServer | undefined
  let locker: pg.Client | undefined
  afterAll(async () => {
    await locker?.end().catch(() => {})
    await s?.close()
  })

  it('ready answers 503 from the moment the node begins to stop, while in-flight requests finish', async () => {
    // A long shutdown timeout: close() below is held open by the blocked request, not by its timer.
    s = await startTestServer({ listen: true, env: { BASTIDE_SHUTDOWN_TIMEOUT_MS: '30000' } })
    const { bastide } = s
    const col = await s.api('POST', '/api/collections', {
      name: 'probe_items',
      fields: [{ name: 'title', type: 'text' }],
      rules: { view: '', update: '' },
    })
    expect(col.status).toBe(201)
    const item = await s.api('POST', '/api/collections/probe_items/records', { title: 'a' })
    expect(item.status).toBe(201)

    // Hold the row, so that a write blocks inside PostgreSQL: deterministically in flight during close().
    locker = new pg.Client({ connectionString: s.dbUrl })
    await locker.connect()
    await locker.query('BEGIN')
    await locker.query('SELECT id FROM data.probe_items WHERE id = $1 FOR UPDATE', [item.body.id])
    const write = fetch(`${bastide.url}/api/collections/probe_items/records/${item.body.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'b' }),
    })
    write.catch(() => {})
    const observer = new pg.Client({ connectionString: s.dbUrl })
    await observer.connect()
    try {
      await expect
        .poll(async () => {
          const r = await observer.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
          return r.rows[0]!.n
        })
        .toBe(1)
    } finally {
      await observer.end()
    }

    let closed = false
    const closing = bastide.close().then(() => {
      closed = true
    })
    await expect.poll(async () => (await probe(bastide, '/api/health/ready')).status).toBe(503)
    const ready = await probe(bastide, '/api/health/ready')
    expect(ready.body).toEqual({
      code: 'UNAVAILABLE',
      message: 'Shutting down.',
      status: 503,
      details: { stopping: true },
    })
    // Still alive: an orchestrator must not kill a node that is draining.
    expect((await probe(bastide, '/api/health/live')).status).toBe(200)
    expect(closed).toBe(false)

    await locker.query('COMMIT')
    expect((await write).status).toBe(200)
    await closing
  })
})
