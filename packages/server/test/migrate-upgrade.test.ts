import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/load-config.ts'
import { createDb, type Database, type Db } from '../src/db/create-db.ts'
import { migrate, migrationChecksum } from '../src/db/migrate.ts'
import { MODULES } from '../src/modules/index.ts'
import { startBastide } from '../src/server.ts'
import { ADMIN_KEY, createTestDatabase, TEST_SECRET } from './support/harness.ts'

// A database made by the code at commit 9abd594 (one numbered list of migrations): see
// fixtures/make-db-9abd594.md for what it holds and how it was made.
const FIXTURE = new URL('./fixtures/db-9abd594.sql', import.meta.url)
const FIXTURE_KEY = 'bst_sk_0sEiyfhe6mxWqCp1FitsEiACB58KDYmIPnC9UJtu'
const FIXTURE_USER = { email: 'fixture-alice@example.com', password: 'a long and unusual passphrase' }
/** What the runner owns: everything else in the database must come through an upgrade untouched. */
const TRACKING = ['bastide.migrations']
/** The collection the fixture's admin created (a fresh database has none). */
const FIXTURE_COLLECTIONS = ['data.notes']

/** What the server runs at start (server.ts): every module's migrations, in module order. */
const MODULE_MIGRATIONS = MODULES.map((m) => ({ module: m.id, migrations: m.migrations ?? [] }))
const SHIPPED = MODULE_MIGRATIONS.reduce((n, s) => n + s.migrations.length, 0)
/** The same lists cut to the migrations that existed at 9abd594 (legacy ids 1 to 5). */
const AT_9ABD594 = MODULE_MIGRATIONS.map((s) => ({
  module: s.module,
  migrations: s.migrations.slice(0, ({ core: 1, auth: 2, storage: 1, realtime: 1 } as const)[s.module] ?? 0),
}))

const dbs: { drop(): Promise<void> }[] = []
const pools: Database[] = []

async function database(): Promise<{ url: string; db: Db }> {
  const created = await createTestDatabase('bst_mig')
  dbs.push(created)
  const database = createDb({ connectionString: created.url, max: 3 })
  pools.push(database)
  return { url: created.url, db: database.db }
}

afterAll(async () => {
  for (const p of pools) await p.close()
  for (const d of dbs) await d.drop()
})

/**
 * Every table, column (type, default, nullability, collation), constraint, index, sequence, trigger and
 * function of the schemas bastide and data, one sorted line each: two databases with equal lines have
 * the same schema.
 */
async function schemaOf(db: Db, exclude: readonly string[]): Promise<string[]> {
  const { rows } = await sql<{ line: string }>`
    WITH t AS (
      SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname IN ('bastide', 'data') AND c.relkind <> 'i'
        AND n.nspname || '.' || c.relname <> ALL (${exclude}::text[])
    )
    SELECT line FROM (
      SELECT format('relation %I.%I kind=%s persistence=%s', nspname, relname, relkind, relpersistence) AS line
      FROM t
      UNION ALL
      SELECT format('column %I.%I #%s %I %s notnull=%s default=%s collation=%s identity=%s generated=%s',
        t.nspname, t.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
        pg_get_expr(d.adbin, d.adrelid), co.collname, a.attidentity, a.attgenerated)
      FROM t
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      LEFT JOIN pg_collation co ON co.oid = a.attcollation
      WHERE t.relkind <> 'S'
      UNION ALL
      SELECT format('constraint %I.%I %I %s', t.nspname, t.relname, con.conname, pg_get_constraintdef(con.oid))
      FROM t JOIN pg_constraint con ON con.conrelid = t.oid
      UNION ALL
      SELECT format('index %s', pg_get_indexdef(i.indexrelid)) FROM t JOIN pg_index i ON i.indrelid = t.oid
      UNION ALL
      SELECT format('sequence %I.%I %s start=%s increment=%s min=%s max=%s cache=%s cycle=%s', s.schemaname,
        s.sequencename, s.data_type, s.start_value, s.increment_by, s.min_value, s.max_value, s.cache_size,
        s.cycle)
      FROM pg_sequences s WHERE s.schemaname IN ('bastide', 'data')
      UNION ALL
      SELECT format('trigger %s', pg_get_triggerdef(tg.oid))
      FROM t JOIN pg_trigger tg ON tg.tgrelid = t.oid AND NOT tg.tgisinternal
      UNION ALL
      SELECT format('function %s', pg_get_functiondef(p.oid))
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('bastide', 'data')
    ) lines ORDER BY line`.execute(db)
  return rows.map((r) => r.line)
}

/** Every row of every table of bastide and data (but `exclude`), as sorted JSON, keyed by table. */
async function dataOf(db: Db, exclude: readonly string[]): Promise<Record<string, string[]>> {
  const tables = await sql<{ schema: string; name: string }>`
    SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
    WHERE table_schema IN ('bastide', 'data') AND table_type = 'BASE TABLE'
      AND table_schema || '.' || table_name <> ALL (${exclude}::text[])`.execute(db)
  const out: Record<string, string[]> = {}
  for (const t of tables.rows) {
    const { rows } = await sql<{ row: string }>`
      SELECT to_jsonb(x)::text AS row FROM ${sql.table(`${t.schema}.${t.name}`)} x`.execute(db)
    out[`${t.schema}.${t.name}`] = rows.map((r) => r.row).sort()
  }
  return out
}

/** Loads the fixture the way psql would: one simple-protocol query runs all its statements. */
async function loadFixture(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(await readFile(FIXTURE, 'utf8'))
  } finally {
    await client.end()
  }
}

describe('a database made at 9abd594 upgrades in place', () => {
  let fixture: { url: string; db: Db }
  type Snapshot = { schema: string[]; data: Record<string, string[]> }
  let before: Snapshot & { at: string[] }
  let upgraded: Snapshot & { recorded: unknown[] }

  beforeAll(async () => {
    fixture = await database()
    await loadFixture(fixture.url)
    const at = await sql<{ at: string }>`SELECT at::text AS at FROM bastide.migrations ORDER BY id`.execute(
      fixture.db,
    )
    before = {
      schema: await schemaOf(fixture.db, TRACKING),
      data: await dataOf(fixture.db, TRACKING),
      at: at.rows.map((r) => r.at),
    }
    // The upgrade alone (the migrations it knows, nothing added since)...
    expect(await migrate(fixture.db, AT_9ABD594)).toEqual([])
    upgraded = {
      schema: await schemaOf(fixture.db, TRACKING),
      data: await dataOf(fixture.db, TRACKING),
      recorded: (await recorded(fixture.db)).rows,
    }
    // ...then as the server starts: everything added since applies.
    expect(await migrate(fixture.db, MODULE_MIGRATIONS)).toEqual([])
  })

  const recorded = (db: Db) =>
    sql<{ module: string; seq: number; name: string; checksum: string; at: string }>`
      SELECT module, seq, name, checksum, at::text AS at FROM bastide.migrations ORDER BY at, module, seq`.execute(
      db,
    )
  const checksum = (module: string, seq: number) =>
    migrationChecksum(MODULE_MIGRATIONS.find((s) => s.module === module)!.migrations[seq - 1]!)

  it('records its five legacy migrations under their modules, with checksums of the shipped text', () => {
    expect(upgraded.recorded).toEqual([
      { module: 'core', seq: 1, name: 'core', checksum: checksum('core', 1), at: before.at[0] },
      { module: 'auth', seq: 1, name: 'auth', checksum: checksum('auth', 1), at: before.at[1] },
      { module: 'storage', seq: 1, name: 'storage', checksum: checksum('storage', 1), at: before.at[2] },
      {
        module: 'realtime',
        seq: 1,
        name: 'realtime-channels',
        checksum: checksum('realtime', 1),
        at: before.at[3],
      },
      { module: 'auth', seq: 2, name: 'totp-last-step', checksum: checksum('auth', 2), at: before.at[4] },
    ])
  })

  it('touches nothing but the tracking table: schema and every row as before', () => {
    expect(upgraded.schema).toEqual(before.schema)
    expect(upgraded.data).toEqual(before.data)
  })

  it('then applies the migrations added since, after the legacy ones', async () => {
    const rows = (await recorded(fixture.db)).rows
    expect(rows).toHaveLength(SHIPPED)
    expect(rows.slice(0, 5)).toEqual(upgraded.recorded)
    for (const r of rows) expect(r.checksum).toBe(checksum(r.module, r.seq))
  })

  it('has the schema of a fresh database migrated by this code', async () => {
    const fresh = await database()
    expect(await migrate(fresh.db, MODULE_MIGRATIONS)).toEqual([])
    const exclude = [...TRACKING, ...FIXTURE_COLLECTIONS]
    const upgraded = await schemaOf(fixture.db, exclude)
    expect(upgraded.length).toBeGreaterThan(100)
    expect(upgraded).toEqual(await schemaOf(fresh.db, exclude))
  })

  it('serves its data through the app: records, API key, user sign-in, bucket, channel', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bastide-test-data-'))
    const bastide = await startBastide(
      loadConfig({
        BASTIDE_DATA_DIR: dataDir,
        DATABASE_URL: fixture.url,
        BASTIDE_ADMIN_KEY: ADMIN_KEY,
        PORT: '0',
        HOST: '127.0.0.1',
        BASTIDE_LOG_LEVEL: 'silent',
        BASTIDE_DB_POOL_MAX: '5',
        BASTIDE_SECRET: TEST_SECRET,
      }),
      { log: pino({ level: 'silent' }), listen: false },
    )
    const call = async (method: string, p: string, token?: string, body?: unknown) => {
      const res = await bastide.app.request(p, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      })
      return { status: res.status, body: (await res.json()) as any }
    }
    try {
      const list = await call('GET', '/api/collections/notes/records?sort=score', ADMIN_KEY)
      expect(list.status).toBe(200)
      expect(list.body.items.map((r: any) => [r.title, r.score])).toEqual([
        ['first', 1],
        ['second', 2],
        ['third', 3],
      ])
      const one = await call('GET', `/api/collections/notes/records/${list.body.items[0].id}`, FIXTURE_KEY)
      expect(one.status).toBe(200)
      expect(one.body.title).toBe('first')

      const signIn = await call('POST', '/api/auth/sign-in/email', undefined, FIXTURE_USER)
      expect(signIn.status).toBe(200)
      expect(one.body.author).toBe(signIn.body.user.id)

      const objects = await call('GET', '/api/storage/buckets/files/objects', ADMIN_KEY)
      expect(objects.status).toBe(200)
      expect(objects.body.items.map((o: any) => o.key)).toEqual(['hello.txt'])
      const channels = await call('GET', '/api/realtime/channels', ADMIN_KEY)
      expect(channels.status).toBe(200)
      expect(channels.body.items.map((c: any) => c.pattern)).toEqual(['room:*'])
    } finally {
      await bastide.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})

describe('a legacy database in another state', () => {
  it('made before the last legacy migration: upgrades, then applies what it lacks', async () => {
    const { url, db } = await database()
    await loadFixture(url)
    // As the code before totp-last-step (legacy id 5) left it.
    await sql`
      DELETE FROM bastide.migrations WHERE id = 5;
      ALTER TABLE bastide.auth_two_factors DROP COLUMN "lastTotpStep";
      ALTER TABLE bastide.admin_two_factors DROP COLUMN "lastTotpStep";`.execute(db)
    expect(await migrate(db, AT_9ABD594)).toEqual([])
    const rows = await sql`SELECT module, seq FROM bastide.migrations ORDER BY module, seq`.execute(db)
    expect(rows.rows).toEqual([
      { module: 'auth', seq: 1 },
      { module: 'auth', seq: 2 },
      { module: 'core', seq: 1 },
      { module: 'realtime', seq: 1 },
      { module: 'storage', seq: 1 },
    ])
    const columns = await sql`
      SELECT table_name FROM information_schema.columns WHERE column_name = 'lastTotpStep' ORDER BY 1`.execute(
      db,
    )
    expect(columns.rows).toEqual([{ table_name: 'admin_two_factors' }, { table_name: 'auth_two_factors' }])
  })

  it('with a legacy id this code never shipped (a branch build): kept and reported, not fatal', async () => {
    const { url, db } = await database()
    await loadFixture(url)
    await sql`INSERT INTO bastide.migrations (id, name) VALUES (6, 'from-a-branch')`.execute(db)
    expect(await migrate(db, MODULE_MIGRATIONS)).toEqual([
      { module: 'legacy', seq: 6, name: 'from-a-branch' },
    ])
    expect(await migrate(db, MODULE_MIGRATIONS)).toEqual([
      { module: 'legacy', seq: 6, name: 'from-a-branch' },
    ])
  })
})

describe('migrate on a database of its own', () => {
  it('is a no-op the second time', async () => {
    const { db } = await database()
    expect(await migrate(db, MODULE_MIGRATIONS)).toEqual([])
    const recorded = () => sql`SELECT * FROM bastide.migrations ORDER BY module, seq`.execute(db)
    const first = { schema: await schemaOf(db, []), rows: (await recorded()).rows }
    expect(first.rows).toHaveLength(SHIPPED)
    expect(await migrate(db, MODULE_MIGRATIONS)).toEqual([])
    expect({ schema: await schemaOf(db, []), rows: (await recorded()).rows }).toEqual(first)
  })

  it('lets two nodes start at once on a fresh database', async () => {
    const { url, db } = await database()
    const other = createDb({ connectionString: url, max: 3 })
    pools.push(other)
    const results = await Promise.allSettled([
      migrate(db, MODULE_MIGRATIONS),
      migrate(other.db, MODULE_MIGRATIONS),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled'])
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.migrations`.execute(db)
    expect(rows.rows[0]!.n).toBe(SHIPPED)
    // The auth migration's seed ran once.
    const users = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM bastide.collections WHERE name = 'users'`.execute(db)
    expect(users.rows[0]!.n).toBe(1)
  })
})
