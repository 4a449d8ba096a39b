import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { KEY_SCOPES } from '@bastide/protocol'
import { io as connect } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SCOPES } from '../src/core/auth/principal.ts'
import { authCall, signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createCollection,
  createKey,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'
import { redisServerMissing, startRedis, type TestRedis } from './support/processes.ts'

const redisMissing = redisServerMissing('metrics')

let s: TestServer
beforeAll(async () => {
  s = await startTestServer()
})
afterAll(async () => {
  await s?.close()
})

/** GET /metrics as `as` (a bearer token, or 'anon'); the status and the text. */
async function scrape(as: string): Promise<{ status: number; text: string; type: string | null }> {
  const headers: Record<string, string> = as === 'anon' ? {} : { authorization: `Bearer ${as}` }
  const r = await s.bastide.app.request('/metrics', { headers })
  return { status: r.status, text: await r.text(), type: r.headers.get('content-type') }
}

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (want.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

describe('GET /metrics with a key', () => {
  it('offers the metrics scope to keys (the console lists the protocol’s scopes)', () => {
    expect(KEY_SCOPES).toContain('metrics')
    expect(SCOPES).toContain('metrics')
  })

  it('is refused without credentials (401) and to keys without the metrics scope (403)', async () => {
    const anon = await scrape('anon')
    expect(anon.status).toBe(401)
    expect(JSON.parse(anon.text)).toMatchObject({ code: 'UNAUTHORIZED', status: 401 })
    const reader = await createKey(s, ['records:read'])
    const refused = await scrape(reader)
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.text)).toMatchObject({ code: 'FORBIDDEN' })
    expect((await scrape('bst_sk_not_a_real_key_at_all_00000000000')).status).toBe(401)
    const user = await signUp(s, 'metrics-user@example.com')
    expect((await scrape(user.token)).status).toBe(403)
  })

  it('serves Prometheus text to a metrics key and to admins', async () => {
    const key = await createKey(s, ['metrics'])
    const r = await scrape(key)
    expect(r.status).toBe(200)
    expect(r.type).toContain('text/plain')
    expect(r.text).toContain('# TYPE http_request_duration_seconds histogram')
    // Process metrics (collectDefaultMetrics) and the pool.
    expect(sample(r.text, 'process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(sample(r.text, 'bastide_db_pool_connections', { state: 'max' })).toBe(10)
    expect(sample(r.text, 'bastide_db_pool_connections', { state: 'total' })).toBeGreaterThan(0)
    expect(sample(r.text, 'bastide_realtime_connections')).toBe(0)
    expect((await scrape(ADMIN_KEY)).status).toBe(200)
  })

  it('serves every metric the Grafana dashboard queries (docker/grafana/bastide-dashboard.json)', async () => {
    const dashboard = JSON.parse(
      readFileSync(new URL('../../../docker/grafana/bastide-dashboard.json', import.meta.url), 'utf8'),
    ) as { panels: { targets?: { expr: string }[] }[] }
    const names = new Set(
      dashboard.panels
        .flatMap((p) => p.targets ?? [])
        .flatMap((t) =>
          [...t.expr.matchAll(/\b(?:http|bastide|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0]),
        ),
    )
    expect(names).toContain('bastide_realtime_subscriptions')
    const text = (await scrape(await createKey(s, ['metrics']))).text
    const missing = [...names].filter((n) => {
      const histogram =
        /_(bucket|count|sum)$/.test(n) && text.includes(`# TYPE ${n.replace(/_[a-z]+$/, '')} histogram`)
      return !histogram && !text.includes(`# TYPE ${n} `)
    })
    expect(missing).toEqual([])
  })

  it('counts a request under its route pattern, never its raw path', async () => {
    await createCollection(s, {
      name: 'gauged',
      fields: [{ name: 'title', type: 'text' }],
      rules: { list: '', view: '' },
    })
    const rec = await createRecord(s, 'gauged', { title: 'x' })
    const route = '/api/collections/:collection/records/:id'
    const key = await createKey(s, ['metrics'])
    const before =
      sample((await scrape(key)).text, 'http_request_duration_seconds_count', {
        method: 'GET',
        route,
        status_class: '2xx',
      }) ?? 0
    for (let i = 0; i < 3; i++)
      expect((await s.api('GET', `/api/collections/gauged/records/${rec.id}`)).status).toBe(200)
    expect((await s.api('GET', '/api/collections/gauged/records/nope')).status).toBe(404)
    const text = (await scrape(key)).text
    expect(
      sample(text, 'http_request_duration_seconds_count', { method: 'GET', route, status_class: '2xx' }),
    ).toBe(before + 3)
    expect(
      sample(text, 'http_request_duration_seconds_count', { method: 'GET', route, status_class: '4xx' }),
    ).toBeGreaterThanOrEqual(1)
    expect(text).not.toContain(rec.id)
    expect(text).not.toContain('/records/nope')
  })

  it('counts refused sign-ins as auth failures', async () => {
    const key = await createKey(s, ['metrics'])
    const before = sample((await scrape(key)).text, 'bastide_auth_failures_total', { surface: 'user' }) ?? 0
    const bad = await authCall(s, 'POST', '/sign-in/email', {
      email: 'metrics-user@example.com',
      password: 'not the password at all',
    })
    expect(bad.status).toBe(401)
    const after = sample((await scrape(key)).text, 'bastide_auth_failures_total', { surface: 'user' })
    expect(after).toBe(before + 1)
  })

  it('reports storage totals per bucket after the refresh job', async () => {
    expect((await s.api('POST', '/api/storage/buckets', { name: 'measured' })).status).toBe(201)
    const put = await s.bastide.app.request('/api/storage/buckets/measured/objects/a.txt', {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/plain' },
      body: 'hello metrics',
    })
    expect(put.status).toBeLessThan(300)
    await s.bastide.scheduler.runNow('metrics', 'refresh-storage-totals')
    const text = (await scrape(await createKey(s, ['metrics']))).text
    expect(sample(text, 'bastide_storage_objects', { bucket: 'measured' })).toBe(1)
    expect(sample(text, 'bastide_storage_bytes', { bucket: 'measured' })).toBe(13)
  })
})

/** A port nothing listens on right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

describe('BASTIDE_METRICS_PORT', () => {
  let p: TestServer
  let port: number
  beforeAll(async () => {
    port = await freePort()
    p = await startTestServer({
      listen: true,
      env: { BASTIDE_METRICS_PORT: String(port), BASTIDE_AUTH_RATE_LIMIT: '3' },
    })
  })
  afterAll(async () => {
    await p?.close()
  })

  it('serves /metrics without credentials on its own port, and nothing else there', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toContain('text/plain')
    expect(await r.text()).toContain('# TYPE bastide_db_pool_connections gauge')
    expect((await fetch(`http://127.0.0.1:${port}/api/collections`)).status).toBe(404)
    // The API's /metrics still wants a key.
    expect((await p.bastide.app.request('/metrics')).status).toBe(401)
  })

  it('counts rate-limited requests by route', async () => {
    let limited = 0
    for (let i = 0; i < 10 && limited === 0; i++) {
      const r = await p.api(
        'POST',
        '/api/auth/sign-in/email',
        { email: 'nobody@example.com', password: 'wrong password' },
        { as: 'anon' },
      )
      if (r.status === 429) limited++
    }
    expect(limited).toBe(1)
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(sample(text, 'bastide_rate_limited_total')).toBeGreaterThanOrEqual(1)
  })

  it('counts realtime connections and the lag of changes reaching this node', async () => {
    const scrapeText = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    await createCollection(p, { name: 'live', fields: [{ name: 't', type: 'text' }] })
    const so = connect(p.bastide.url, {
      path: '/realtime',
      transports: ['websocket'],
      reconnection: false,
      auth: { token: ADMIN_KEY },
    })
    try {
      await new Promise<void>((resolve, reject) => {
        so.once('connect', () => resolve())
        so.once('connect_error', reject)
      })
      expect(sample(await scrapeText(), 'bastide_realtime_connections')).toBe(1)
      await createRecord(p, 'live', { t: 'x' })
      // The change reaches the feed after commit, asynchronously: poll for it.
      let lagged = 0
      for (let i = 0; i < 100 && lagged === 0; i++) {
        lagged = sample(await scrapeText(), 'bastide_realtime_fanout_lag_seconds_count') ?? 0
        if (lagged === 0) await delay(20)
      }
      expect(lagged).toBe(1)
    } finally {
      so.disconnect()
    }
  })

  it('counts this node’s record subscriptions, channels and channel members, read at each scrape', () =>
    expectRealtimeCounts(p, `http://127.0.0.1:${port}/metrics`))
})

/**
 * Two connections subscribe, join and leave; the realtime gauges follow at each scrape of `metricsUrl`, and
 * fall back to zero once both are gone.
 */
async function expectRealtimeCounts(p: TestServer, metricsUrl: string): Promise<void> {
  const scrapeText = async () => (await fetch(metricsUrl)).text()
  /** Connections, subscriptions, channels and channel members, as the scrape reports them. */
  const counts = async () => {
    const text = await scrapeText()
    return [
      'bastide_realtime_connections',
      'bastide_realtime_subscriptions',
      'bastide_realtime_channels',
      'bastide_realtime_channel_members',
    ].map((name) => sample(text, name))
  }
  await createCollection(p, { name: 'gauged_live', fields: [{ name: 't', type: 'text' }] })
  const open = async () => {
    const so = connect(p.bastide.url, {
      path: '/realtime',
      transports: ['websocket'],
      reconnection: false,
      auth: { token: ADMIN_KEY },
    })
    await new Promise<void>((resolve, reject) => {
      so.once('connect', () => resolve())
      so.once('connect_error', reject)
    })
    return so
  }
  const a = await open()
  const b = await open()
  try {
    expect(await counts()).toEqual([2, 0, 0, 0])
    const subA = await a.emitWithAck('subscribe', { collection: 'gauged_live' })
    expect(subA.ok).toBe(true)
    const filtered = await a.emitWithAck('subscribe', { collection: 'gauged_live', filter: "t = 'x'" })
    expect(filtered.ok).toBe(true)
    expect((await b.emitWithAck('subscribe', { collection: 'gauged_live' })).ok).toBe(true)
    // A refused subscription counts for nothing.
    expect((await b.emitWithAck('subscribe', { collection: 'no_such_collection' })).ok).toBe(false)
    expect((await a.emitWithAck('join', { channel: 'room:one' })).ok).toBe(true)
    expect((await a.emitWithAck('join', { channel: 'room:two' })).ok).toBe(true)
    expect((await b.emitWithAck('join', { channel: 'room:one' })).ok).toBe(true)
    expect(await counts()).toEqual([2, 3, 2, 3])

    expect((await a.emitWithAck('unsubscribe', { subscriptionId: subA.subscriptionId })).ok).toBe(true)
    expect((await a.emitWithAck('leave', { channel: 'room:two' })).ok).toBe(true)
    expect(await counts()).toEqual([2, 2, 1, 2])

    // A connection that goes takes its subscriptions and memberships with it (the server notices it
    // asynchronously: poll).
    b.disconnect()
    await expect.poll(counts, { timeout: 5000 }).toEqual([1, 1, 1, 1])
  } finally {
    a.disconnect()
    b.disconnect()
  }
  await expect.poll(counts, { timeout: 5000 }).toEqual([0, 0, 0, 0])
}

describe.skipIf(redisMissing !== undefined)('realtime gauges with the Redis adapter', () => {
  let redis: TestRedis
  let r: TestServer
  let port: number
  beforeAll(async () => {
    redis = await startRedis()
    port = await freePort()
    r = await startTestServer({
      listen: true,
      env: { BASTIDE_METRICS_PORT: String(port), REDIS_URL: redis.url },
    })
  })
  afterAll(async () => {
    await r?.close()
    await redis?.stop()
  })

  // The adapter's rooms are what channels are counted from: they must stay this node's, not the cluster's.
  it('counts this node’s subscriptions, channels and members as in memory', () =>
    expectRealtimeCounts(r, `http://127.0.0.1:${port}/metrics`))
})
