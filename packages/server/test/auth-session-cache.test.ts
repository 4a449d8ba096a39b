import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { type ServerType, serve } from '@hono/node-server'
import { Hono } from 'hono'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSessionCache } from '../src/core/auth/session-cache.ts'
import { createUserAuthenticator } from '../src/core/auth/user-principal.ts'
import { createDb } from '../src/db/create-db.ts'
import { sessionBarrier } from '../src/http/middleware/session-barrier.ts'
import type { Bastide } from '../src/server.ts'
import { type SignedUp, signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  type ApiResponse,
  createCollection,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from './support/harness.ts'
import { startQuietBastide } from './support/own-cluster.ts'
import { until } from './support/until.ts'

const ORIGIN = 'http://localhost:8787'
const SESSION_QUERY = /FROM bastide\.auth_sessions s JOIN data\.users u/

let s: TestServer
/**
 * The app over HTTP with the session barrier in front of every route, as app.ts mounts it: Node's response
 * reaches the app, so answers it sends straight through it go out before the barrier's `next()` returns.
 */
let front: ServerType
let frontUrl: string
/** A second node on the same database. */
let b: Bastide
let bDataDir: string

beforeAll(async () => {
  s = await startTestServer({ env: { BASTIDE_PUBLIC_URL: ORIGIN } })
  const app = new Hono()
  app.use('*', sessionBarrier(s.bastide.auth.sessions))
  app.all('*', (c) => s.bastide.app.fetch(c.req.raw, c.env))
  front = await new Promise<ServerType>((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      frontUrl = `http://127.0.0.1:${info.port}`
      resolve(server)
    })
  })
  bDataDir = await mkdtemp(path.join(os.tmpdir(), 'bastide-test-data-'))
  b = await startQuietBastide(s.dbUrl, {
    BASTIDE_PUBLIC_URL: ORIGIN,
    BASTIDE_SECRET: TEST_SECRET,
    BASTIDE_DATA_DIR: bDataDir,
    BASTIDE_CONSOLE_DIR: 'off',
    BASTIDE_AUTH_RATE_LIMIT: '100000',
  })
})
afterAll(async () => {
  await new Promise((resolve) => (front ? front.close(resolve) : resolve(undefined)))
  await b?.close()
  await rm(bDataDir, { recursive: true, force: true })
  await s?.close()
})

/** Calls the app through the barrier; `as` as in the harness ('admin', 'anon' or a bearer token). */
async function api(method: string, url: string, body?: unknown, as = 'admin'): Promise<ApiResponse> {
  const headers: Record<string, string> = {}
  if (as === 'admin') headers.authorization = `Bearer ${ADMIN_KEY}`
  else if (as !== 'anon') headers.authorization = `Bearer ${as}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${frontUrl}${url}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
}

const own = (u: SignedUp) => `/api/collections/users/records/${u.id}`
/** Reads my own user record with `token`: its status. */
const status = async (u: SignedUp, token: string) => (await api('GET', own(u), undefined, token)).status

/** How many session lookups `f` ran on node A. */
async function sessionQueries(f: () => Promise<unknown>): Promise<number> {
  s.resetQueries()
  await f()
  return s.queries.filter((q) => SESSION_QUERY.test(q)).length
}

async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: s.dbUrl })
  await c.connect()
  try {
    return await c.query(text, values)
  } finally {
    await c.end()
  }
}

describe('a live session costs one lookup per node', () => {
  it('answers the second request with a JWT or a session token without querying the session', async () => {
    const u = await signUp(s, 'cache-warm@example.com')
    expect(s.bastide.auth.sessions.listening).toBe(true)
    // Whatever sign-up changed has been heard: no notice can arrive during the lookups below.
    await s.bastide.auth.sessions.barrier()
    expect(await sessionQueries(() => status(u, u.jwt))).toBe(1)
    expect(await sessionQueries(async () => expect(await status(u, u.jwt)).toBe(200))).toBe(0)
    expect(await sessionQueries(() => status(u, u.token))).toBe(1)
    expect(await sessionQueries(async () => expect(await status(u, u.token)).toBe(200))).toBe(0)
    expect(await sessionQueries(async () => expect(await status(u, u.jwt)).toBe(200))).toBe(0)
  })

  it('still refuses a JWT whose subject is not the session’s user', async () => {
    const u = await signUp(s, 'cache-sub@example.com')
    const other = await signUp(s, 'cache-sub-other@example.com')
    expect(await status(u, u.jwt)).toBe(200)
    // The same session id under another subject: signed by the server, so only the subject check refuses it.
    const forged = (
      await s.bastide.auth.auth.api.signJWT({ body: { payload: jwtClaims(u.jwt, { sub: other.id }) } })
    ).token
    expect(await status(other, forged)).toBe(401)
  })
})

describe('changes reach the cache before the next request on the same node', () => {
  it('sign-out ends the JWT at once', async () => {
    const u = await signUp(s, 'cache-signout@example.com')
    expect(await status(u, u.jwt)).toBe(200)
    expect(await status(u, u.jwt)).toBe(200)
    const out = await api('POST', '/api/auth/sign-out', undefined, u.token)
    expect(out.status).toBe(200)
    expect(await status(u, u.jwt)).toBe(401)
    expect(await status(u, u.token)).toBe(401)
  })

  it('a ban ends the JWT and the session token at once', async () => {
    const u = await signUp(s, 'cache-ban@example.com')
    expect(await status(u, u.jwt)).toBe(200)
    expect(await status(u, u.token)).toBe(200)
    expect((await api('POST', `/api/admin/users/${u.id}/ban`, {})).status).toBe(200)
    expect(await status(u, u.jwt)).toBe(401)
    expect(await status(u, u.token)).toBe(401)
  })

  it('deleting the user ends its JWT at once', async () => {
    const u = await signUp(s, 'cache-delete@example.com')
    expect(await status(u, u.jwt)).toBe(200)
    expect((await api('DELETE', `/api/admin/users/${u.id}`)).status).toBe(204)
    expect(await status(u, u.jwt)).toBe(401)
  })

  it('a rule sees an edit of the user’s row on the next request', async () => {
    await createCollection(s, {
      name: 'memos',
      fields: [{ name: 'title', type: 'text' }],
      rules: { list: '', view: '', create: "@request.auth.role = 'editor'", update: null, delete: null },
    })
    const u = await signUp(s, 'cache-role@example.com')
    const write = () => api('POST', '/api/collections/memos/records', { title: 'x' }, u.jwt)
    expect((await write()).status).toBe(403)
    expect((await api('PATCH', `/api/admin/users/${u.id}`, { role: 'editor' })).status).toBe(200)
    expect((await write()).status).toBe(201)
    // The user's own edit through the records API (answered straight through Node's response).
    await createCollection(s, {
      name: 'letters',
      fields: [{ name: 'title', type: 'text' }],
      rules: { list: '', view: '', create: "@request.auth.name = 'Writer'", update: null, delete: null },
    })
    const letter = () => api('POST', '/api/collections/letters/records', { title: 'x' }, u.jwt)
    expect((await letter()).status).toBe(403)
    expect((await api('PATCH', own(u), { name: 'Writer' }, u.jwt)).status).toBe(200)
    expect((await letter()).status).toBe(201)
    // A change made elsewhere (SQL by hand) lands when the notice is heard: asynchronous by nature.
    await sql(`UPDATE data.users SET role = 'user' WHERE id = $1`, [u.id])
    await until('the role change by hand to be seen', async () => (await write()).status === 403, 100)
  })
})

describe('other nodes', () => {
  it('B refuses a JWT signed out on A once it hears of it', async () => {
    const u = await signUp(s, 'cache-nodes@example.com')
    const onB = async () =>
      (await b.app.request(own(u), { headers: { authorization: `Bearer ${u.jwt}` } })).status
    expect(b.auth.sessions.listening).toBe(true)
    expect(await onB()).toBe(200)
    expect(await onB()).toBe(200)
    expect((await api('POST', '/api/auth/sign-out', undefined, u.token)).status).toBe(200)
    await until('node B to refuse the signed-out JWT', async () => (await onB()) === 401, 100)
  })
})

describe('no listener, no cache', () => {
  it('looks every session up while its listener cannot connect, and a barrier returns at once', async () => {
    const u = await signUp(s, 'cache-down@example.com')
    const queries: string[] = []
    const database = createDb({ connectionString: s.dbUrl, max: 2, onQuery: (q) => queries.push(q) })
    const sessions = await createSessionCache({
      db: database.db,
      databaseUrl: 'postgres://postgres@127.0.0.1:1/none',
      onError: () => {},
    })
    try {
      const users = createUserAuthenticator({
        db: database.db,
        secret: TEST_SECRET,
        issuer: ORIGIN,
        sessions,
      })
      expect(sessions.listening).toBe(false)
      for (let i = 0; i < 3; i++) expect(await users.fromJwt(u.jwt)).toMatchObject({ kind: 'user', id: u.id })
      for (let i = 0; i < 3; i++)
        expect(await users.fromSessionToken(u.token)).toMatchObject({ kind: 'user', id: u.id })
      await sessions.barrier()
      expect(queries.filter((q) => SESSION_QUERY.test(q))).toHaveLength(6)
      expect(queries.filter((q) => q.includes('pg_notify'))).toHaveLength(0)
    } finally {
      await sessions.close()
      await database.close()
    }
  })

  it('empties the cache when its connection is lost, and caches again once it listens again', async () => {
    const u = await signUp(s, 'cache-lost@example.com')
    const cached = async () =>
      (await status(u, u.jwt)) === 200 && (await sessionQueries(() => status(u, u.jwt))) === 0
    await until('the session to be cached', cached, 100)
    await sql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = 'bastide-auth-listener' AND datname = current_database()`,
    )
    await until(
      'a lookup after the loss',
      async () => (await sessionQueries(() => status(u, u.jwt))) === 1,
      100,
    )
    await until('caching to resume', async () => s.bastide.auth.sessions.listening && (await cached()), 100)
  })
})

describe('the triggers', () => {
  it('name the session or user changed, and ask for everything on bulk, truncate and users schema changes', async () => {
    const u = await signUp(s, 'cache-triggers@example.com')
    const [sid] = (await sql(`SELECT id FROM bastide.auth_sessions WHERE "userId" = $1`, [u.id])).rows.map(
      (r) => r.id as string,
    )
    const heard: string[] = []
    const c = new pg.Client({ connectionString: s.dbUrl })
    await c.connect()
    // Barriers ('b:…') of this file's other requests aside.
    c.on('notification', (n) => n.payload?.startsWith('b:') || heard.push(n.payload ?? ''))
    await c.query('LISTEN bastide_auth')
    const next = async (what: string) => {
      await until(what, async () => heard.length > 0, 100)
      return heard.shift()
    }
    try {
      await sql(`UPDATE bastide.auth_sessions SET "updatedAt" = now() WHERE id = $1`, [sid])
      expect(await next('a session update')).toBe(`s:${sid}`)
      await sql(`UPDATE data.users SET name = 'Renamed' WHERE id = $1`, [u.id])
      expect(await next('a user update')).toBe(`u:${u.id}`)
      await sql(`INSERT INTO data.users (id, email) SELECT gen_random_uuid(), 'bulk' || i || '@example.com'
                 FROM generate_series(1, 101) i`)
      await sql(`UPDATE data.users SET name = 'bulk' WHERE email LIKE 'bulk%'`)
      expect(await next('a bulk update')).toBe('all')
      await sql(`DELETE FROM data.users WHERE email LIKE 'bulk%'`)
      expect(await next('a bulk delete')).toBe('all')
      const users = (await api('GET', '/api/collections/users')).body
      const patch = await api('PATCH', '/api/collections/users', {
        fields: [...users.fields, { name: 'tier', type: 'text' }],
      })
      expect(patch.status, JSON.stringify(patch.body)).toBe(200)
      expect(await next('a users schema change')).toBe('all')
      await sql(`DELETE FROM bastide.auth_sessions WHERE id = $1`, [sid])
      expect(await next('a session delete')).toBe(`s:${sid}`)
      // Last: it ends every session of the file's users.
      await sql('TRUNCATE bastide.auth_sessions')
      expect(await next('a truncate')).toBe('all')
      expect(heard).toEqual([])
    } finally {
      await c.end()
    }
  })
})

/** The claims of `jwt` with `patch` over them. */
function jwtClaims(jwt: string, patch: Record<string, unknown>): Record<string, unknown> {
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >
  return { ...claims, ...patch }
}
