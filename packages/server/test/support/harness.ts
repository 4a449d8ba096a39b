import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import pino from 'pino'
import { inject } from 'vitest'
import { type Config, loadConfig } from '../../src/config/load-config.ts'
import { type Bastide, type StartOptions, startBastide } from '../../src/server.ts'

export const ADMIN_KEY = 'bst_sk_test_admin_key_0123456789abcdefghij'
export const TEST_SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz'

/** Creates an empty database for one test file and returns its URL and a drop function. */
export async function createTestDatabase(prefix = 'bst_t'): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = inject('adminDbUrl')
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  const client = new pg.Client({ connectionString: admin })
  await client.connect()
  await client.query(`CREATE DATABASE "${name}"`)
  await client.end()
  const u = new URL(admin)
  u.pathname = `/${name}`
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await c.end()
    },
  }
}

export interface TestServer {
  readonly bastide: Bastide
  readonly config: Config
  readonly dbUrl: string
  /** SQL statements executed since the last `resetQueries()`. */
  readonly queries: string[]
  resetQueries(): void
  /** Calls the app in-process. `as`: 'admin' (default), 'anon', or a bearer token. */
  api(
    method: string,
    path: string,
    body?: unknown,
    opts?: { as?: string; headers?: Record<string, string> },
  ): Promise<ApiResponse>
  close(): Promise<void>
}

export interface ApiResponse {
  readonly status: number
  readonly body: any
  readonly headers: Headers
}

/** A real server on its own database; `listen` also opens a port (for clients that need one). */
export async function startTestServer(
  opts: {
    listen?: boolean
    env?: Record<string, string>
    /** For tests that force an internal fault: otherwise any 5xx but 503 fails the test file at close(). */
    allowInternalErrors?: boolean
    /** The modules to run (default: all, modules/index.ts). */
    modules?: StartOptions['modules']
  } = {},
): Promise<TestServer> {
  const db = await createTestDatabase()
  // Its own data directory: local storage writes there.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bastide-test-data-'))
  const config = loadConfig({
    BASTIDE_DATA_DIR: dataDir,
    DATABASE_URL: db.url,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    PORT: '0',
    HOST: '127.0.0.1',
    BASTIDE_LOG_LEVEL: 'silent',
    BASTIDE_DB_POOL_MAX: '10',
    BASTIDE_SHUTDOWN_TIMEOUT_MS: '2000',
    BASTIDE_SECRET: TEST_SECRET,
    // In-process calls all share one client key (`local`): tests about something else must not trip the
    // auth rate limits. test/auth-rate-limit.test.ts sets its own.
    BASTIDE_AUTH_RATE_LIMIT: '100000',
    // Whether packages/admin-ui was built must not change what a test sees: tests that want it pass its dir.
    BASTIDE_CONSOLE_DIR: 'off',
    ...opts.env,
  })
  const queries: string[] = []
  const internalErrors: string[] = []
  const bastide = await startBastide(config, {
    log: failureLog(internalErrors),
    onQuery: (sql) => queries.push(sql),
    listen: opts.listen ?? false,
    ...(opts.modules ? { modules: opts.modules } : {}),
  }).catch(async (err) => {
    // A start that fails (what some tests check) leaves no database or directory behind.
    await db.drop()
    await rm(dataDir, { recursive: true, force: true })
    throw err
  })
  const api: TestServer['api'] = async (method, path, body, o = {}) => {
    const headers: Record<string, string> = { ...o.headers }
    const as = o.as ?? 'admin'
    if (as === 'admin') headers.authorization = `Bearer ${ADMIN_KEY}`
    else if (as !== 'anon') headers.authorization = `Bearer ${as}`
    let payload: string | undefined
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body)
      headers['content-type'] ??= 'application/json'
    }
    const res = await bastide.app.request(path, {
      method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
    })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers }
  }
  return {
    bastide,
    config,
    dbUrl: db.url,
    queries,
    resetQueries: () => queries.splice(0),
    api,
    async close() {
      await bastide.close()
      await db.drop()
      await rm(dataDir, { recursive: true, force: true })
      if (internalErrors.length > 0 && !opts.allowInternalErrors) {
        throw new Error(`the server answered with an internal error:\n${internalErrors.join('\n')}`)
      }
    },
  }
}

/**
 * A logger that keeps quiet but remembers every request the server answered with a 5xx other than 503 (the
 * request middleware logs those as errors), with the unhandled error behind it: a 500 is a bug, and a test
 * whose assertions happen not to look at that response must still fail.
 */
function failureLog(into: string[]): pino.Logger {
  return pino(
    { level: 'error' },
    {
      write(line: string) {
        const e = JSON.parse(line) as {
          msg?: string
          method?: string
          path?: string
          status?: number
          err?: unknown
        }
        if (e.msg === 'request failed') into.push(`  ${e.status} ${e.method} ${e.path}`)
        else if (e.msg === 'unhandled error') into.push(`  cause: ${JSON.stringify(e.err).slice(0, 500)}`)
      },
    },
  )
}

/** Creates a collection as admin and fails loudly when that does not work. */
export async function createCollection(s: TestServer, def: unknown): Promise<any> {
  const r = await s.api('POST', '/api/collections', def)
  if (r.status !== 201) throw new Error(`createCollection failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

export async function createRecord(
  s: TestServer,
  collection: string,
  data: unknown,
  as?: string,
): Promise<any> {
  const r = await s.api('POST', `/api/collections/${collection}/records`, data, as ? { as } : {})
  if (r.status !== 201) throw new Error(`createRecord failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

/** An API key with the given scopes. */
export async function createKey(s: TestServer, scopes: string[]): Promise<string> {
  const r = await s.api('POST', '/api/admin/keys', { name: `k-${scopes.join('-')}`, scopes })
  if (r.status !== 201) throw new Error(`createKey failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.key
}
