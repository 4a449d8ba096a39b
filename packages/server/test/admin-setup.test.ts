import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Config, loadConfig } from '../src/config/load-config.ts'
import { SCOPES } from '../src/core/auth/principal.ts'
import { type Bastide, startBastide } from '../src/server.ts'
import { ADMIN_KEY, createTestDatabase, TEST_SECRET } from './support/harness.ts'

/**
 * Creating the first console admin (POST /api/admin/setup) needs the admin key, an API key with every scope,
 * or the one-time setup token the server logs at start-up and `setup:token` prints. Real servers on one
 * database: the one that logs, a second node that takes the token too, and the CLI as a child process.
 */
const SERVER_DIR = path.resolve(import.meta.dirname, '..')
const ADMIN = { email: 'first@setup.test', password: 'granite lantern over the harbour' }

let database: { url: string; drop(): Promise<void> }
let dataDir: string
let config: Config
let sqlc: pg.Client
const started: Bastide[] = []

beforeAll(async () => {
  database = await createTestDatabase()
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'bastide-setup-'))
  config = loadConfig({
    BASTIDE_DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    BASTIDE_SECRET: TEST_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    BASTIDE_DB_POOL_MAX: '5',
    BASTIDE_SHUTDOWN_TIMEOUT_MS: '2000',
    BASTIDE_AUTH_RATE_LIMIT: '100000',
  })
  sqlc = new pg.Client({ connectionString: database.url })
  await sqlc.connect()
}, 60_000)

afterAll(async () => {
  for (const b of started) await b.close()
  await sqlc?.end()
  await database?.drop()
  await rm(dataDir, { recursive: true, force: true })
})

/** A node listening on a port, with its log lines kept. */
async function startNode(): Promise<{ bastide: Bastide; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
  const bastide = await startBastide(config, { log, listen: true })
  started.push(bastide)
  return { bastide, logs }
}

async function stop(bastide: Bastide): Promise<void> {
  started.splice(started.indexOf(bastide), 1)
  await bastide.close()
}

/** `pnpm setup:token`, as an operator runs it: its own process, configured by the environment. */
async function cliToken(
  env: Record<string, string> = { BASTIDE_SECRET: TEST_SECRET, BASTIDE_DATA_DIR: dataDir },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/setup-token.ts'], {
    cwd: SERVER_DIR,
    env: { PATH: process.env.PATH, DATABASE_URL: database.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d) => {
    stdout += d
  })
  proc.stderr.on('data', (d) => {
    stderr += d
  })
  const code = await new Promise<number | null>((resolve) => proc.once('close', (c) => resolve(c)))
  return { code, stdout, stderr }
}

async function setup(bastide: Bastide, body: unknown, bearer?: string) {
  const res = await bastide.app.request('/api/admin/setup', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as any }
}

async function admins(): Promise<number> {
  return Number((await sqlc.query('SELECT count(*) AS n FROM bastide.admins')).rows[0].n)
}

/** The setup token in a node's start-up log, if it printed one. */
function loggedToken(logs: Record<string, unknown>[]): string | undefined {
  const line = logs.find((l) => typeof l.setupToken === 'string')
  return line?.setupToken as string | undefined
}

describe('console setup', () => {
  let node: Bastide
  let token: string

  it('logs a setup token at start-up while there is no admin, and setup:token prints the same', async () => {
    const { bastide, logs } = await startNode()
    node = bastide
    const logged = loggedToken(logs)
    expect(logged).toMatch(/^bst_setup_[A-Za-z0-9_-]{43}$/)
    token = logged!
    const line = logs.find((l) => l.setupToken === token)!
    expect(line.msg).toContain('/api/admin/setup')
    expect(line.msg).toContain(token)
    // The console link first (most operators paste the token there), then how to get the token again.
    const msg = String(line.msg)
    expect(msg.indexOf('/_/')).toBeLessThan(msg.indexOf('/api/admin/setup'))
    expect(line.msg).toContain('`bastide setup-token` shows it again')

    const cli = await cliToken()
    expect(cli.code, cli.stderr).toBe(0)
    expect(cli.stdout.trim()).toBe(token)
  }, 120_000)

  it('setup:token reads the secret a server keeps in its data directory, and never makes one up', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bastide-setup-cli-'))
    try {
      const none = await cliToken({ BASTIDE_DATA_DIR: dir })
      expect(none.code).toBe(1)
      expect(none.stdout).toBe('')
      expect(none.stderr).toContain('BASTIDE_SECRET')
      expect(existsSync(path.join(dir, 'secret'))).toBe(false)
      // As a server without BASTIDE_SECRET leaves it (here: the same secret as the running node's).
      await writeFile(path.join(dir, 'secret'), `${TEST_SECRET}\n`, { mode: 0o600 })
      const kept = await cliToken({ BASTIDE_DATA_DIR: dir })
      expect(kept.code, kept.stderr).toBe(0)
      expect(kept.stdout.trim()).toBe(token)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('refuses anonymous callers, wrong tokens and under-scoped keys, saying how to get the token', async () => {
    const anon = await setup(node, ADMIN)
    expect(anon.status).toBe(401)
    expect(anon.body).toMatchObject({ code: 'UNAUTHORIZED', status: 401 })
    expect(anon.body.message).toContain('bastide setup-token')
    expect(anon.body.message).toContain('server log')

    const wrong = await setup(node, { ...ADMIN, setupToken: `${token.slice(0, -1)}x` })
    expect(wrong.status).toBe(401)
    expect(wrong.body.message).toContain('bastide setup-token')
    expect((await setup(node, { ...ADMIN, setupToken: '' })).status).toBe(401)

    const key = await node.app.request('/api/admin/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ name: 'not-all', scopes: ['schema', 'records:read', 'records:write'] }),
    })
    const partial = await setup(node, ADMIN, ((await key.json()) as any).key)
    expect(partial.status).toBe(403)
    expect(partial.body.message).toContain('bastide setup-token')
    expect(await admins()).toBe(0)
  })

  it('creates the first admin with the token on any node; then refuses it (409) and logs no token', async () => {
    // Another node on the same database and secret takes the token the first one printed.
    const other = await startBastide(config, { log: pino({ level: 'silent' }), listen: false })
    started.push(other)
    const created = await setup(other, { ...ADMIN, setupToken: token })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body).toMatchObject({ email: ADMIN.email })
    await stop(other)

    const again = await setup(node, { ...ADMIN, email: 'second@setup.test', setupToken: token })
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ code: 'CONFLICT' })
    expect((await setup(node, { ...ADMIN, email: 'third@setup.test' }, ADMIN_KEY)).status).toBe(409)
    expect(await admins()).toBe(1)

    // A restart says nothing about setup any more.
    const restarted = await startNode()
    expect(loggedToken(restarted.logs)).toBeUndefined()
    await stop(restarted.bastide)
  }, 120_000)

  it('lets the admin key, or an API key with every scope, create the first admin', async () => {
    await sqlc.query('DELETE FROM bastide.admins')
    const byAdminKey = await setup(node, ADMIN, ADMIN_KEY)
    expect(byAdminKey.status, JSON.stringify(byAdminKey.body)).toBe(201)

    await sqlc.query('DELETE FROM bastide.admins')
    const key = await node.app.request('/api/admin/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ name: 'all', scopes: [...SCOPES] }),
    })
    const byFullKey = await setup(node, ADMIN, ((await key.json()) as any).key)
    expect(byFullKey.status, JSON.stringify(byFullKey.body)).toBe(201)
    expect(await admins()).toBe(1)
  })
})
