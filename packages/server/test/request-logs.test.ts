import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createCollection,
  createKey,
  startTestServer,
  type TestServer,
} from './support/harness.ts'

let s: TestServer
let sqlc: pg.Client

beforeAll(async () => {
  s = await startTestServer()
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
  await createCollection(s, {
    name: 'logged',
    fields: [{ name: 'title', type: 'text' }],
    rules: { list: '', view: '', create: '' },
  })
})
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
})

const logs = async (query = '', as?: string) => {
  const r = await s.api('GET', `/api/admin/logs${query}`, undefined, as ? { as } : {})
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return r.body as { items: any[]; nextCursor: string | null }
}

/**
 * Writes every buffered row. Twice: when the every-second run is under way, runNow joins it, and that run
 * may have taken its batch before our requests; the second run then starts after them.
 */
async function flushed(): Promise<void> {
  await s.bastide.scheduler.runNow('metrics', 'flush-request-log')
  await s.bastide.scheduler.runNow('metrics', 'flush-request-log')
}

/** Flushes the buffer and reads every page of `query`. */
async function allLogs(query: string): Promise<any[]> {
  await flushed()
  const out: any[] = []
  let cursor: string | null = null
  do {
    const sep = query ? '&' : '?'
    const page: { items: any[]; nextCursor: string | null } = await logs(
      `${query}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''}`,
    )
    out.push(...page.items)
    cursor = page.nextCursor
  } while (cursor)
  return out
}

describe('request logs', () => {
  it('keeps every request of a burst, queryable after the flush, newest first, page by page', async () => {
    const ids = Array.from({ length: 45 }, (_, i) => `burst-${i}`)
    await Promise.all(
      ids.map((id) =>
        s.api('GET', '/api/collections/logged/records', undefined, { headers: { 'x-request-id': id } }),
      ),
    )
    const rows = await allLogs('?path=/api/collections/logged/records&perPage=20')
    const burst = rows.filter((r) => r.requestId.startsWith('burst-'))
    expect(burst.map((r) => r.requestId).sort()).toEqual([...ids].sort())
    // Newest first across pages, no row twice.
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1].at >= rows[i].at).toBe(true)
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length)
    expect(burst[0]).toMatchObject({
      method: 'GET',
      route: '/api/collections/:collection/records',
      path: '/api/collections/logged/records',
      status: 200,
      principalKind: 'admin',
      principalId: 'admin',
    })
    expect(typeof burst[0].durationMs).toBe('number')
    expect(typeof burst[0].node).toBe('string')
  })

  it('filters by status class and exact status, method, principal, duration, request id and time', async () => {
    const key = await createKey(s, ['records:read'])
    const keyId = (await s.api('GET', '/api/admin/keys')).body.items.find((k: any) =>
      key.startsWith(k.prefix),
    ).id
    await s.api('GET', '/api/collections/logged/records/missing', undefined, {
      as: key,
      headers: { 'x-request-id': 'filter-404' },
    })
    await s.api(
      'POST',
      '/api/collections/logged/records',
      { title: 't' },
      { headers: { 'x-request-id': 'filter-post' } },
    )
    const all = await allLogs('?path=/api/collections/logged')

    const only = async (q: string) =>
      (await allLogs(`?path=/api/collections/logged&${q}`)).map((r) => r.requestId)
    expect(await only('status=4xx')).toEqual(['filter-404'])
    expect(await only('status=404')).toEqual(['filter-404'])
    expect(await only('status=4XX')).toEqual(['filter-404'])
    expect(await only('method=POST')).toEqual(['filter-post'])
    expect(await only(`principal=key:${keyId}`)).toEqual(['filter-404'])
    expect(await only('requestId=filter-post')).toEqual(['filter-post'])
    expect((await only('minDurationMs=0')).length).toBe(all.length)
    expect(await only('minDurationMs=3600000')).toEqual([])
    const post = all.find((r) => r.requestId === 'filter-post')
    expect(await only(`since=${encodeURIComponent(post.at)}&requestId=filter-post`)).toEqual(['filter-post'])
    expect(await only(`until=${encodeURIComponent(post.at)}&requestId=filter-post`)).toEqual([])
    expect(await allLogs('?path=/api/collections/loggedX')).toEqual([])
    // Reading the log is not logged (a live tail would fill the log with itself).
    expect(await allLogs('?path=/api/admin/logs')).toEqual([])
  })

  it('answers 400 to bad filters', async () => {
    for (const q of [
      'status=abc',
      'status=600',
      'method=FETCH',
      'since=yesterday',
      'path=api/collections',
      'principal=someone',
      'minDurationMs=-1',
      'perPage=0',
      'perPage=201',
      'cursor=not-a-cursor',
      'requestId=has%20space',
    ]) {
      const r = await s.api('GET', `/api/admin/logs?${q}`)
      expect(r.status, q).toBe(400)
      expect(r.body, q).toMatchObject({ code: 'BAD_REQUEST', status: 400 })
    }
  })

  it('is for console admins and metrics keys only', async () => {
    expect((await s.api('GET', '/api/admin/logs', undefined, { as: 'anon' })).status).toBe(401)
    expect(
      (await s.api('GET', '/api/admin/logs', undefined, { as: await createKey(s, ['keys']) })).status,
    ).toBe(403)
    const user = await signUp(s, 'log-reader@example.com')
    expect((await s.api('GET', '/api/admin/logs', undefined, { as: user.token })).status).toBe(403)
    expect(
      (await s.api('GET', '/api/admin/logs', undefined, { as: await createKey(s, ['metrics']) })).status,
    ).toBe(200)
  })

  it('never keeps a query string or a token in a path', async () => {
    await s.api(
      'GET',
      '/api/collections/logged/records?token=sekret-query-1&access_token=sekret-query-2',
      undefined,
      {
        headers: { 'x-request-id': 'secret-query' },
      },
    )
    await s.api('GET', '/api/auth/reset-password/sekret-path-3?callbackURL=/x', undefined, {
      as: 'anon',
      headers: { 'x-request-id': 'secret-path' },
    })
    await flushed()
    const { rows } = await sqlc.query(
      `SELECT path, request_id FROM bastide.request_log WHERE request_id IN ('secret-query', 'secret-path')`,
    )
    expect(rows).toHaveLength(2)
    const byId = Object.fromEntries(rows.map((r) => [r.request_id, r.path]))
    expect(byId['secret-query']).toBe('/api/collections/logged/records')
    expect(byId['secret-path']).toBe('/api/auth/reset-password/:redacted')
    const leaked = await sqlc.query(
      `SELECT count(*)::int AS n FROM bastide.request_log t WHERE t::text LIKE '%sekret%'`,
    )
    expect(leaked.rows[0].n).toBe(0)
  })

  it('prunes rows older than the retention window', async () => {
    await sqlc.query(`INSERT INTO bastide.request_log
      (at, node, method, route, path, status, duration_ms, principal_kind, request_id)
      VALUES (now() - interval '25 hours', 'old', 'GET', '/api/x', '/api/x', 200, 1, 'anonymous', 'ancient'),
             (now() - interval '23 hours', 'old', 'GET', '/api/x', '/api/x', 200, 1, 'anonymous', 'recent')`)
    await s.bastide.scheduler.runNow('metrics', 'prune-request-log')
    const { rows } = await sqlc.query(
      `SELECT request_id FROM bastide.request_log WHERE request_id IN ('ancient', 'recent')`,
    )
    expect(rows.map((r) => r.request_id)).toEqual(['recent'])
  })
})

describe('GET /api/admin/metrics', () => {
  it('sums up the last hour per minute and the routes that took the most time', async () => {
    await s.api('GET', '/api/collections/logged/records')
    await flushed()
    const r = await s.api('GET', '/api/admin/metrics')
    expect(r.status).toBe(200)
    expect(r.body.retentionHours).toBe(24)
    expect(r.body.series).toHaveLength(60)
    const total = r.body.series.reduce((n: number, m: any) => n + m.requests, 0)
    expect(total).toBeGreaterThan(45)
    const last = r.body.series.findLast((m: any) => m.requests > 0)
    expect(last.p99Ms).toBeGreaterThanOrEqual(last.p50Ms)
    expect(r.body.topRoutes.map((t: any) => t.route)).toContain('/api/collections/:collection/records')
    expect(r.body.node).toMatchObject({ realtimeConnections: 0, dbPool: { max: 10 } })
    expect((await s.api('GET', '/api/admin/metrics', undefined, { as: 'anon' })).status).toBe(401)
  })
})

describe('BASTIDE_REQUEST_LOG_RETENTION_HOURS=0', () => {
  it('logs nothing, and the summary says so', async () => {
    const off = await startTestServer({ env: { BASTIDE_REQUEST_LOG_RETENTION_HOURS: '0' } })
    try {
      await off.api('GET', '/api/collections')
      const page = await off.api('GET', '/api/admin/logs')
      expect(page.body.items).toEqual([])
      const summary = await off.api('GET', '/api/admin/metrics')
      expect(summary.body).toMatchObject({ retentionHours: 0, series: [], topRoutes: [] })
    } finally {
      await off.close()
    }
  })
})

/** The value of one sample line of `s`'s /metrics (`name{labels} value`); 0 when absent. */
async function metric(srv: TestServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const r = await srv.bastide.app.request('/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  expect(r.status).toBe(200)
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of (await r.text()).split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (want.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

describe('what an anonymous flood cannot write', () => {
  it('keeps anonymous 404s and 429s out of the log, counted as skipped; a signed-in 404 is still logged', async () => {
    const p = await startTestServer({ env: { BASTIDE_AUTH_RATE_LIMIT: '2' } })
    try {
      const notFound = ['/api/no-such-route', '/api/collections/no_such_collection/records']
      for (const [i, path] of notFound.entries()) {
        const r = await p.api('GET', path, undefined, {
          as: 'anon',
          headers: { 'x-request-id': `anon-404-${i}` },
        })
        expect(r.status).toBe(404)
      }
      const admin404 = await p.api('GET', '/api/no-such-route', undefined, {
        headers: { 'x-request-id': 'admin-404' },
      })
      expect(admin404.status).toBe(404)
      let limited = 0
      for (let i = 0; i < 10 && limited === 0; i++) {
        const r = await p.api(
          'POST',
          '/api/auth/sign-in/email',
          { email: 'nobody@example.com', password: 'wrong password' },
          { as: 'anon', headers: { 'x-request-id': `anon-sign-in-${i}` } },
        )
        if (r.status === 429) limited = i
      }
      expect(limited).toBeGreaterThan(0)

      await p.bastide.scheduler.runNow('metrics', 'flush-request-log')
      await p.bastide.scheduler.runNow('metrics', 'flush-request-log')
      const rows = (await p.api('GET', '/api/admin/logs?perPage=200')).body.items as any[]
      const byId = new Map(rows.map((r) => [r.requestId, r]))
      expect(byId.has('anon-404-0')).toBe(false)
      expect(byId.has('anon-404-1')).toBe(false)
      expect(byId.get('admin-404')).toMatchObject({ status: 404, principalKind: 'admin' })
      // The refused sign-ins before the limit are logged (they are not 404/429); the throttled one is not.
      expect(byId.get('anon-sign-in-0')).toMatchObject({ principalKind: 'anonymous' })
      expect(byId.has(`anon-sign-in-${limited}`)).toBe(false)

      expect(await metric(p, 'bastide_request_log_skipped_total', { reason: 'anonymous_not_found' })).toBe(2)
      expect(await metric(p, 'bastide_request_log_skipped_total', { reason: 'anonymous_rate_limited' })).toBe(
        1,
      )
      // Skipped rows are not dropped rows: nothing was lost that was meant to be kept.
      expect(await metric(p, 'bastide_request_log_dropped_total')).toBe(0)
    } finally {
      await p.close()
    }
  })

  it('writes at most BASTIDE_REQUEST_LOG_MAX_PER_SECOND rows per second per node; the rest count as dropped', async () => {
    const p = await startTestServer({ env: { BASTIDE_REQUEST_LOG_MAX_PER_SECOND: '3' } })
    try {
      const n = 30
      const before = await metric(p, 'bastide_request_log_dropped_total')
      const firstSecond = Math.floor(Date.now() / 1000)
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          p.api('GET', '/api/collections', undefined, { headers: { 'x-request-id': `capped-${i}` } }),
        ),
      )
      const seconds = Math.floor(Date.now() / 1000) - firstSecond + 1
      // Every request is answered: the cap is on the log, never on the API.
      expect(answers.every((a) => a.status === 200)).toBe(true)
      await p.bastide.scheduler.runNow('metrics', 'flush-request-log')
      await p.bastide.scheduler.runNow('metrics', 'flush-request-log')
      const rows = (await p.api('GET', '/api/admin/logs?perPage=200')).body.items as any[]
      const logged = rows.filter((r) => String(r.requestId).startsWith('capped-')).length
      const dropped = (await metric(p, 'bastide_request_log_dropped_total')) - before
      expect(logged).toBeGreaterThan(0)
      expect(logged).toBeLessThanOrEqual(3 * seconds)
      expect(logged + dropped).toBe(n)
    } finally {
      await p.close()
    }
  })
})
