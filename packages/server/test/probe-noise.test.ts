/**
 * Health probes and scrapes arrive every few seconds per node (Kubernetes, compose, Prometheus): answered
 * normally, they stay out of the info-level log and out of the request log table, which are for API traffic.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/load-config.ts'
import { type Bastide, startBastide } from '../src/server.ts'
import { ADMIN_KEY, createTestDatabase, TEST_SECRET } from './support/harness.ts'

interface Line {
  level: number
  msg: string
  path?: string
  status?: number
  requestId?: string
}

const DEBUG = 20
const INFO = 30

let bastide: Bastide
let db: Awaited<ReturnType<typeof createTestDatabase>>
let dataDir: string
const lines: Line[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'bastide-probe-noise-'))
  const config = loadConfig({
    BASTIDE_DATA_DIR: dataDir,
    DATABASE_URL: db.url,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    PORT: '0',
    HOST: '127.0.0.1',
    BASTIDE_LOG_LEVEL: 'debug',
    BASTIDE_DB_POOL_MAX: '5',
    BASTIDE_SHUTDOWN_TIMEOUT_MS: '2000',
    BASTIDE_SECRET: TEST_SECRET,
    BASTIDE_CONSOLE_DIR: 'off',
  })
  // The server's own request lines, at the levels it chose: debug and up are kept.
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) })
  bastide = await startBastide(config, { log, listen: false })
})
afterAll(async () => {
  await bastide?.close()
  await db?.drop()
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

const call = (p: string, requestId: string, auth = false) =>
  bastide.app.request(p, {
    headers: { 'x-request-id': requestId, ...(auth ? { authorization: `Bearer ${ADMIN_KEY}` } : {}) },
  })

const requestLine = (requestId: string) => lines.find((l) => l.msg === 'request' && l.requestId === requestId)

describe('probes and scrapes', () => {
  it('log a passing probe or scrape at debug, and API requests at info', async () => {
    expect((await call('/api/health/live', 'probe-live')).status).toBe(200)
    expect((await call('/api/health/ready', 'probe-ready')).status).toBe(200)
    expect((await call('/metrics', 'probe-metrics', true)).status).toBe(200)
    expect((await call('/api/collections', 'api-call', true)).status).toBe(200)
    expect(requestLine('probe-live')?.level).toBe(DEBUG)
    expect(requestLine('probe-ready')?.level).toBe(DEBUG)
    expect(requestLine('probe-metrics')?.level).toBe(DEBUG)
    expect(requestLine('api-call')?.level).toBe(INFO)
    // The full health report is for people, not orchestrators: it stays at info.
    await call('/api/health', 'health-full')
    expect(requestLine('health-full')?.level).toBe(INFO)
  })

  it('keep a refused scrape at info: it is not a probe that passed', async () => {
    expect((await call('/metrics', 'scrape-refused')).status).toBe(401)
    expect(requestLine('scrape-refused')?.level).toBe(INFO)
  })

  it('write no request log row, while the API requests around them do', async () => {
    await call('/api/health/live', 'row-live')
    await call('/api/health/ready', 'row-ready')
    await call('/metrics', 'row-metrics', true)
    await call('/api/collections', 'row-api', true)
    // Twice: a flush already under way may have taken its batch before these requests.
    await bastide.scheduler.runNow('metrics', 'flush-request-log')
    await bastide.scheduler.runNow('metrics', 'flush-request-log')
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    try {
      const { rows } = await c.query<{ request_id: string }>(
        `SELECT request_id FROM bastide.request_log WHERE request_id LIKE 'row-%' ORDER BY request_id`,
      )
      expect(rows.map((r) => r.request_id)).toEqual(['row-api'])
    } finally {
      await c.end()
    }
  })
})
