import { sql } from 'kysely'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { createDb, type Database, type Db } from '../src/db/create-db.ts'
import { defineMigration, type MigrationSet } from '../src/db/define-migration.ts'
import { migrate, migrationChecksum } from '../src/db/migrate.ts'
import { MODULES } from '../src/modules/index.ts'
import { createTestDatabase } from './support/harness.ts'

// Small modules of their own, on an empty database each: the rules of the runner, not the shipped schema
// (test/migrate-upgrade.test.ts covers that).
const one = defineMigration({ name: 'one', sql: 'CREATE TABLE bastide.t_one (id int PRIMARY KEY);' })
const two = defineMigration({ name: 'two', sql: 'CREATE TABLE bastide.t_two (id int PRIMARY KEY);' })
const three = defineMigration({
  name: 'three',
  sql: 'CREATE TABLE bastide.t_three (id int PRIMARY KEY);',
  seed: async (trx) => {
    await trx.insertInto('bastide.t_three').values({ id: 3 }).execute()
  },
})

const dbs: { drop(): Promise<void> }[] = []
const pools: Database[] = []
let db: Db

afterAll(async () => {
  for (const p of pools) await p.close()
  for (const d of dbs) await d.drop()
})

const tables = async () =>
  (
    await sql<{ name: string }>`
      SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'bastide' AND table_name LIKE 't\\_%' ORDER BY table_name`.execute(db)
  ).rows.map((r) => r.name)

const recorded = async () =>
  (
    await sql<{ module: string; seq: number; name: string }>`
      SELECT module, seq, name FROM bastide.migrations ORDER BY at, module, seq`.execute(db)
  ).rows

describe('migrate', () => {
  beforeEach(async () => {
    const created = await createTestDatabase('bst_mig')
    dbs.push(created)
    const database = createDb({ connectionString: created.url, max: 2 })
    pools.push(database)
    db = database.db
  })

  it('runs modules in the order given, each module in its order, seeds in the same transaction', async () => {
    const sets: MigrationSet[] = [
      { module: 'b-module', migrations: [three] },
      { module: 'a-module', migrations: [one, two] },
    ]
    expect(await migrate(db, sets)).toEqual([])
    expect(await recorded()).toEqual([
      { module: 'b-module', seq: 1, name: 'three' },
      { module: 'a-module', seq: 1, name: 'one' },
      { module: 'a-module', seq: 2, name: 'two' },
    ])
    expect(await tables()).toEqual(['t_one', 't_three', 't_two'])
    expect((await sql`SELECT id FROM bastide.t_three`.execute(db)).rows).toEqual([{ id: 3 }])
  })

  it('applies only what was added since the last start', async () => {
    await migrate(db, [{ module: 'a-module', migrations: [one] }])
    expect(await migrate(db, [{ module: 'a-module', migrations: [one, two] }])).toEqual([])
    expect(await recorded()).toEqual([
      { module: 'a-module', seq: 1, name: 'one' },
      { module: 'a-module', seq: 2, name: 'two' },
    ])
  })

  it('stops, before applying anything, at a migration edited after it ran', async () => {
    await migrate(db, [{ module: 'a-module', migrations: [one] }])
    const edited = defineMigration({
      name: 'one',
      sql: 'CREATE TABLE bastide.t_one (id bigint PRIMARY KEY);',
    })
    const start = migrate(db, [
      { module: 'a-module', migrations: [edited, two] },
      { module: 'b-module', migrations: [three] },
    ])
    await expect(start).rejects.toThrow(
      'Migration src/modules/a-module/migrations/0001-one.ts of module a-module was edited after it ran; ' +
        'migrations are append-only: restore it and add a new one.',
    )
    expect(await tables()).toEqual(['t_one'])
  })

  it('counts a renamed migration as edited', async () => {
    await migrate(db, [{ module: 'a-module', migrations: [one] }])
    const renamed = defineMigration({ name: 'first', sql: one.sql })
    await expect(migrate(db, [{ module: 'a-module', migrations: [renamed] }])).rejects.toThrow(
      /0001-first\.ts of module a-module was edited after it ran \(it ran as .*0001-one\.ts\)/,
    )
  })

  it('reports a recorded migration the code does not know (a newer version ran it), and goes on', async () => {
    await migrate(db, [
      { module: 'a-module', migrations: [one, two] },
      { module: 'b-module', migrations: [three] },
    ])
    const newer = defineMigration({ name: 'newer', sql: 'CREATE TABLE bastide.t_newer (id int);' })
    expect(
      await migrate(db, [
        { module: 'a-module', migrations: [one] },
        { module: 'c-module', migrations: [newer] },
      ]),
    ).toEqual([
      { module: 'a-module', seq: 2, name: 'two' },
      { module: 'b-module', seq: 1, name: 'three' },
    ])
    expect(await tables()).toEqual(['t_newer', 't_one', 't_three', 't_two'])
  })

  it('refuses a module listed twice, or two migrations of one name in a module', async () => {
    await expect(
      migrate(db, [
        { module: 'a-module', migrations: [one] },
        { module: 'a-module', migrations: [two] },
      ]),
    ).rejects.toThrow('Module a-module is listed twice')
    await expect(migrate(db, [{ module: 'a-module', migrations: [one, one] }])).rejects.toThrow(
      'Module a-module has two migrations named one',
    )
  })
})

describe('shipped migrations', () => {
  // Their texts ran on every database made so far: a change here is an edited migration, which fails the
  // start of every existing installation. Add a new file instead.
  it.each([
    ['core', 1, 'core', '3cbd21a68e6516f3991ddf55025a96455c987c7e6d466cc9b53552ba3e8cf744'],
    ['auth', 1, 'auth', '95a38e2f98f7abecd5657ca98ef49ddb1f925950f1f37bc71ea8a3e121e00bff'],
    ['auth', 2, 'totp-last-step', 'cc84425bb7aab766cb1e57e678eee41dadb300929f349898ede22ae39ae498c3'],
    ['storage', 1, 'storage', '0db9ec1907945e75bc6e8241fe1e1cf4f868a0392100d88f6a8e4a07ede82625'],
    ['realtime', 1, 'realtime-channels', 'ae6ff2d1a6b24c3110c51c68c5b0d88ea90dec733e87eff825dd2773d3474747'],
  ])('%s %i (%s) is never edited', (module, seq, name, checksum) => {
    const m = MODULES.find((x) => x.id === module)!.migrations![seq - 1]!
    expect(m.name).toBe(name)
    expect(migrationChecksum(m)).toBe(checksum)
  })
})
