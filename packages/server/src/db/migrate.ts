import { createHash } from 'node:crypto'
import { sql, type Transaction } from 'kysely'
import { auth } from '../modules/auth/migrations/0001-auth.ts'
import { totpLastStep } from '../modules/auth/migrations/0002-totp-last-step.ts'
import { core } from '../modules/core/migrations/0001-core.ts'
import { realtimeChannels } from '../modules/realtime/migrations/0001-realtime-channels.ts'
import { storage } from '../modules/storage/migrations/0001-storage.ts'
import type { Db } from './create-db.ts'
import type { Migration, MigrationSet } from './define-migration.ts'
import { allowLongStatements } from './transaction.ts'

/** The schema holding Bastide's own tables. Collections live in DATA_SCHEMA, one table each. */
export const SYSTEM_SCHEMA = 'bastide'
export const DATA_SCHEMA = 'data'

/**
 * Before modules, migrations were one numbered list (`bastide.migrations (id, name, at)`). A database made then
 * records ids 1 to 5: these are the same texts, now in their modules' folders.
 */
const LEGACY_IDS: ReadonlyMap<number, Migration> = new Map([
  [1, core],
  [2, auth],
  [3, storage],
  [4, realtimeChannels],
  [5, totpLastStep],
])

/** A migration the database records and no module ships: a newer version migrated it. Worth a warning. */
export interface UnknownMigration {
  readonly module: string
  readonly seq: number
  readonly name: string
}

interface Shipped {
  readonly module: string
  /** Position in the module's list, from 1: the NNNN of its file. */
  readonly seq: number
  readonly migration: Migration
  readonly checksum: string
}

interface Recorded {
  readonly module: string
  readonly seq: number
  readonly name: string
  readonly checksum: string
}

/**
 * Brings the database up to the given modules' migrations (server.ts passes every module of
 * modules/index.ts): modules in the order given, each module's migrations in their order.
 * Append-only: a recorded migration whose text changed stops start-up before anything runs; one the code
 * does not know (a newer version ran it) is returned for the caller to warn about, not fatal.
 * Each migration runs in its own transaction under an advisory lock, so several nodes may start at once.
 */
export async function migrate(db: Db, sets: readonly MigrationSet[]): Promise<readonly UnknownMigration[]> {
  const shipped = listShipped(sets)
  const { pending, unknown } = await db.transaction().execute(async (trx) => {
    await takeLock(trx)
    await sql`CREATE SCHEMA IF NOT EXISTS bastide`.execute(trx)
    await prepareTracking(trx, shipped)
    const recorded: Recorded[] = await trx
      .selectFrom('bastide.migrations')
      .select(['module', 'seq', 'name', 'checksum'])
      .orderBy('module')
      .orderBy('seq')
      .execute()
    const byKey = new Map(recorded.map((r) => [key(r), r]))
    for (const s of shipped) {
      const r = byKey.get(key(s))
      if (r) checkUnchanged(s, r)
    }
    const known = new Set(shipped.map(key))
    return {
      pending: shipped.filter((s) => !byKey.has(key(s))),
      unknown: recorded
        .filter((r) => !known.has(key(r)))
        .map(({ module, seq, name }) => ({ module, seq, name })),
    }
  })
  for (const s of pending) {
    await db.transaction().execute(async (trx) => {
      await takeLock(trx)
      // Another node may have applied it while this one waited for the lock.
      const done = await trx
        .selectFrom('bastide.migrations')
        .select(['module', 'seq', 'name', 'checksum'])
        .where('module', '=', s.module)
        .where('seq', '=', s.seq)
        .executeTakeFirst()
      if (done) return checkUnchanged(s, done)
      await sql.raw(s.migration.sql).execute(trx)
      await s.migration.seed?.(trx)
      await trx
        .insertInto('bastide.migrations')
        .values({ module: s.module, seq: s.seq, name: s.migration.name, checksum: s.checksum })
        .execute()
    })
  }
  return unknown
}

/** The hex sha256 of a migration's text, as recorded. */
export function migrationChecksum(m: Migration): string {
  return createHash('sha256').update(m.sql).digest('hex')
}

/** Where a migration's file lives, for messages. */
function migrationFile(module: string, seq: number, name: string): string {
  return `src/modules/${module}/migrations/${String(seq).padStart(4, '0')}-${name}.ts`
}

function listShipped(sets: readonly MigrationSet[]): readonly Shipped[] {
  const modules = new Set<string>()
  const shipped: Shipped[] = []
  for (const set of sets) {
    if (modules.has(set.module)) throw new Error(`Module ${set.module} is listed twice in the migrations.`)
    modules.add(set.module)
    const names = new Set<string>()
    set.migrations.forEach((migration, i) => {
      if (names.has(migration.name))
        throw new Error(`Module ${set.module} has two migrations named ${migration.name}.`)
      names.add(migration.name)
      shipped.push({ module: set.module, seq: i + 1, migration, checksum: migrationChecksum(migration) })
    })
  }
  return shipped
}

function checkUnchanged(s: Shipped, r: Recorded): void {
  if (r.name === s.migration.name && r.checksum === s.checksum) return
  const ran = r.name === s.migration.name ? '' : ` (it ran as ${migrationFile(r.module, r.seq, r.name)})`
  throw new Error(
    `Migration ${migrationFile(s.module, s.seq, s.migration.name)} of module ${s.module} was edited after it ran${ran}; ` +
      'migrations are append-only: restore it and add a new one.',
  )
}

const key = (m: { readonly module: string; readonly seq: number }) => `${m.module}\u0000${m.seq}`

/**
 * Same lock key on every node: only one applies migrations at a time. A migration may rewrite large tables,
 * and another node may hold the lock while it applies one: neither the wait nor the work times out.
 */
async function takeLock(trx: Transaction<any>): Promise<void> {
  await allowLongStatements(trx)
  await sql`SELECT set_config('lock_timeout', '0', true)`.execute(trx)
  await sql`SELECT pg_advisory_xact_lock(7261536843)`.execute(trx)
}

/** Creates the tracking table, or rewrites a legacy one (ids 1-5) into it, within the caller's transaction. */
async function prepareTracking(trx: Transaction<any>, shipped: readonly Shipped[]): Promise<void> {
  const columns = await sql<{ column_name: string }>`
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = 'bastide' AND table_name = 'migrations'`.execute(trx)
  const names = new Set(columns.rows.map((c) => c.column_name))
  if (names.has('checksum')) return
  if (names.size > 0 && !names.has('id'))
    throw new Error('bastide.migrations is neither the tracking table nor its legacy form: not touching it.')
  const legacy =
    names.size > 0
      ? (
          await sql<{ id: number; name: string; at: string }>`
            SELECT id, name, at::text AS at FROM bastide.migrations ORDER BY id`.execute(trx)
        ).rows
      : []
  // DDL is transactional: should anything below fail, the legacy table is still there, untouched.
  if (names.size > 0) await sql`DROP TABLE bastide.migrations`.execute(trx)
  await sql`
    CREATE TABLE bastide.migrations (
      module text NOT NULL,
      seq int NOT NULL,
      name text NOT NULL,
      checksum text NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (module, seq)
    )`.execute(trx)
  for (const row of legacy) {
    const target = LEGACY_IDS.get(row.id)
    const s = target && shipped.find((x) => x.migration === target)
    if (target && !s)
      throw new Error(
        `Cannot upgrade: legacy migration ${row.id} (${row.name}) is in none of the listed modules.`,
      )
    // An id past 5 comes from a build this code never was: keep it, reported as unknown.
    const values = s
      ? { module: s.module, seq: s.seq, name: s.migration.name, checksum: s.checksum }
      : { module: 'legacy', seq: row.id, name: row.name, checksum: '' }
    await trx
      .insertInto('bastide.migrations')
      .values({ ...values, at: sql`${row.at}::timestamptz` })
      .execute()
  }
}
