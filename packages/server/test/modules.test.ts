import { ERROR_STATUS, SERVER_ERROR_STATUS } from '@bastide/protocol'
import { Hono } from 'hono'
import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineMigration } from '../src/db/define-migration.ts'
import type { RecordEvent } from '../src/events/catalog.ts'
import type { AppEnv } from '../src/http/context.ts'
import { defineModule } from '../src/modules/define-module.ts'
import { MODULES } from '../src/modules/index.ts'
import { createRecord, startTestServer, type TestServer } from './support/harness.ts'

/** What a new capability looks like: one object, added to the list (here, by the test). */
const calls: string[] = []
const seen: RecordEvent[] = []
const notesModule = defineModule({
  id: 'notes',
  config: z.object({ BASTIDE_NOTES_GREETING: z.string().default('hello') }),
  migrations: [
    defineMigration({
      name: 'notes',
      sql: 'CREATE TABLE bastide.notes (id serial PRIMARY KEY, body text NOT NULL);',
    }),
  ],
  start({ db, settings, use }) {
    const collections = use('collections')
    const app = new Hono<AppEnv>()
    app.get('/', async (c) => {
      const { rows } = await sql<{ body: string }>`SELECT body FROM bastide.notes ORDER BY id`.execute(db)
      return c.json({
        greeting: settings.BASTIDE_NOTES_GREETING,
        as: c.var.principal.kind,
        collections: collections.list().length,
        notes: rows.map((r) => r.body),
      })
    })
    return {
      routes: [{ path: '/api/notes', app }],
      on: { 'record.created': (e) => void seen.push(e) },
      jobs: [
        {
          name: 'write-note',
          everyMs: 3_600_000,
          run: async () => {
            calls.push('job')
            await sql`INSERT INTO bastide.notes (body) VALUES ('from the job')`.execute(db)
          },
        },
      ],
      close: async () => void calls.push('close'),
    }
  },
})

let s: TestServer
let sqlc: pg.Client

beforeAll(async () => {
  s = await startTestServer({
    modules: [...MODULES, notesModule],
    env: { BASTIDE_NOTES_GREETING: 'bonjour' },
  })
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
})
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
})

describe('a module added to the list', () => {
  it('gets its migration run and recorded under its id, its settings, its routes behind the principal', async () => {
    const { rows } = await sqlc.query(`SELECT count(*)::int AS n FROM bastide.notes`)
    expect(rows[0].n).toBe(0)
    const r = await s.api('GET', '/api/notes')
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ greeting: 'bonjour', as: 'admin', collections: 1, notes: [] })
    expect((await s.api('GET', '/api/notes', undefined, { as: 'anon' })).body.as).toBe('anonymous')
    // Bastide's security headers and error shape apply to it like to any route.
    expect(r.headers.get('x-content-type-options')).toBe('nosniff')
    expect((await s.api('GET', '/api/notes/nope')).body.code).toBe('NOT_FOUND')
  })

  it('receives the events it subscribes to, after commit', async () => {
    await s.api('POST', '/api/collections', { name: 'posts', fields: [{ name: 'title', type: 'text' }] })
    const rec = await createRecord(s, 'posts', { title: 'first' })
    expect(seen.map((e) => [e.collection, e.record.id])).toEqual([['posts', rec.id]])
  })

  it('has its jobs on the scheduler', async () => {
    await s.bastide.scheduler.runNow('notes', 'write-note')
    expect((await s.api('GET', '/api/notes')).body.notes).toEqual(['from the job'])
  })
})

describe('module order', () => {
  it('a module using a service no earlier module provides stops the start with a clear error', async () => {
    const early = defineModule({
      id: 'too-early',
      start: ({ use }) => {
        use('records')
        return {}
      },
    })
    const err = await startTestServer({ modules: [MODULES[0]!, early] }).catch((e: Error) => e)
    expect(String(err)).toContain('Module too-early uses "records", which no module before it provides.')
  })
})

it("every error code on the wire is the server catalog's or declared by exactly one module", () => {
  const declared = MODULES.flatMap((m) => (m.errorCodes ?? []).map((code) => ({ code, module: m.id })))
  expect(new Set(declared.map((d) => d.code)).size).toBe(declared.length)
  expect([...Object.keys(SERVER_ERROR_STATUS), ...declared.map((d) => d.code)].sort()).toEqual(
    Object.keys(ERROR_STATUS).sort(),
  )
})
