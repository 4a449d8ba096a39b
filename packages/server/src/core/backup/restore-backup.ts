import { createHash } from 'node:crypto'
import { once } from 'node:events'
import path from 'node:path'
import { finished } from 'node:stream/promises'
import { type Kysely, sql } from 'kysely'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { createDb } from '../../db/create-db.ts'
import type { MigrationSet } from '../../db/define-migration.ts'
import { migrate, migrationChecksum } from '../../db/migrate.ts'
import type { FileStore } from '../../storage/file-store.ts'
import type { Collection } from '../collections/types.ts'
import { readArchive } from './archive.ts'
import { listAllSequences, listTables, qualified, type TableInfo } from './list-tables.ts'
import { BackupError, type BackupManifest, MANIFEST_ENTRY, type TableManifest } from './manifest.ts'
import { planCollections, sameDefinition } from './plan-collections.ts'
import { verifyBackup } from './verify-backup.ts'

export interface RestoreProgress {
  /** verify: bytes of the archive read; tables and files: how many loaded. */
  readonly phase: 'verify' | 'tables' | 'files'
  readonly done: number
  readonly total: number
}

export interface RestoreOptions {
  readonly file: string
  readonly databaseUrl: string
  readonly store: FileStore
  /** The target's BASTIDE_SECRET: must be the source's (checked against the manifest). */
  readonly secret: string
  /** The target's migrations (every module's, in order): they create the system tables. */
  readonly migrations: readonly MigrationSet[]
  /** Who restored, for the restored instance's audit log (`backup.restore`); default `cli`. */
  readonly actor?: string
  readonly onProgress?: (p: RestoreProgress) => void
}

export interface RestoreResult {
  readonly manifest: BackupManifest
  readonly tables: number
  readonly rows: number
  readonly files: number
}

/**
 * Restores a backup into an empty instance. The archive is verified whole first (nothing is written from a
 * damaged one); the target's own migrations then create the system tables, up to the level the backup was
 * taken at, and everything else happens in one transaction: collection tables created from the backup's
 * catalog through the server's DDL (core/collections/ddl.ts), rows loaded with COPY in dependency order,
 * collections' foreign keys added after the load (so cycles and self relations load, and every reference is
 * still checked), sequences set, the restore recorded in the audit log (`backup.restore`). Files are written to the FileStore, sha256 checked, before that transaction
 * commits; should anything fail, the transaction rolls back and the written blobs are removed. Migrations
 * newer than the backup run last, as an upgrade would.
 */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const verified = await verifyBackup(o.file, {
    secret: o.secret,
    onBytes: (done, total) => o.onProgress?.({ phase: 'verify', done, total }),
  })
  // Entries intact but the manifest's HMAC wrong: another secret (or a manifest rewritten by someone without it).
  if (verified.problems.length === 1 && !verified.authenticated && verified.manifest)
    throw new BackupError(
      'BACKUP_REFUSED',
      'The backup was taken with another BASTIDE_SECRET (or its manifest was altered): settings secrets and signing ' +
        'keys in it are encrypted under the source’s secret. Start the target with the source instance’s BASTIDE_SECRET.',
    )
  if (!verified.ok || !verified.manifest || !verified.authenticated)
    throw new BackupError('BACKUP_DAMAGED', `The backup is damaged: ${verified.problems.join('; ')}`, {
      problems: verified.problems,
    })
  const manifest = verified.manifest
  const atBackup = migrationsAtBackup(manifest, o.migrations)
  const database = createDb({ connectionString: o.databaseUrl, max: 2, statementTimeoutMs: 0 })
  const client = new pg.Client({
    connectionString: o.databaseUrl,
    connectionTimeoutMillis: 10_000,
    options:
      '-c TimeZone=UTC -c DateStyle=ISO,YMD -c statement_timeout=0 -c idle_in_transaction_session_timeout=0',
  })
  const written: string[] = []
  let connected = false
  let committed = false
  try {
    await refuseNonEmpty(client, database.db, true)
    await migrate(database.db, atBackup)
    await client.connect()
    connected = true
    await client.query('BEGIN')
    // One restore at a time; a server starting against this database waits for its migration lock, not this.
    await client.query('SELECT pg_advisory_xact_lock(7261536844)')
    await refuseNonEmpty(client, database.db, false)
    const result = await load(client, database.db, manifest, o, written)
    await client.query('COMMIT')
    committed = true
    await migrate(database.db, o.migrations)
    return result
  } catch (err) {
    // Once committed, the files belong to the restored rows: a failing later migration leaves them be.
    if (!committed) {
      if (connected) await client.query('ROLLBACK').catch(() => {})
      if (written.length > 0) await o.store.removeMany(written).catch(() => {})
    }
    throw err
  } finally {
    if (connected) await client.end().catch(() => {})
    await database.close()
  }
}

/** The target's migrations cut at what the backup recorded; refuses a backup from a newer version. */
function migrationsAtBackup(manifest: BackupManifest, shipped: readonly MigrationSet[]): MigrationSet[] {
  const count = new Map<string, number>()
  for (const m of manifest.migrations) {
    const set = shipped.find((s) => s.module === m.module)
    const mine = set?.migrations[m.seq - 1]
    if (!mine)
      throw new BackupError(
        'BACKUP_REFUSED',
        `The backup was taken by a newer Bastide (${manifest.server.version}): migration ${m.seq} (${m.name}) of module ${m.module} is unknown here. Upgrade first.`,
      )
    if (mine.name !== m.name || migrationChecksum(mine) !== m.checksum)
      throw new BackupError(
        'BACKUP_REFUSED',
        `Migration ${m.seq} of module ${m.module} differs between the backup (${m.name}) and this version (${mine.name}).`,
      )
    count.set(m.module, Math.max(count.get(m.module) ?? 0, m.seq))
  }
  return shipped.map((s) => ({
    module: s.module,
    migrations: s.migrations.slice(0, count.get(s.module) ?? 0),
  }))
}

/** Refuses a target holding anything an operator or a user made; says what it found. */
async function refuseNonEmpty(client: pg.Client, db: Kysely<any>, early: boolean): Promise<void> {
  const q = async (text: string): Promise<{ rows: any[] }> =>
    early ? await sql.raw<any>(text).execute(db) : await client.query(text)
  const exists = await q(`SELECT to_regclass('bastide.collections') IS NOT NULL AS yes`)
  if (!exists.rows[0].yes) return
  const r = await q(
    `SELECT (SELECT array_agg(name ORDER BY name) FROM bastide.collections WHERE NOT system) AS collections,
            (SELECT count(*) FROM data.users)::int AS users,
            (SELECT count(*) FROM bastide.objects)::int AS objects,
            (SELECT count(*) FROM bastide.buckets)::int AS buckets,
            (SELECT count(*) FROM bastide.admins)::int AS admins,
            (SELECT count(*) FROM bastide.api_keys)::int AS keys`,
  )
  const f = r.rows[0]
  const found = [
    f.collections?.length ? `collections ${f.collections.join(', ')}` : '',
    f.users ? `${f.users} user(s)` : '',
    f.objects ? `${f.objects} stored object(s)` : '',
    f.buckets ? `${f.buckets} bucket(s)` : '',
    f.admins ? `${f.admins} console admin(s)` : '',
    f.keys ? `${f.keys} API key(s)` : '',
  ].filter(Boolean)
  if (found.length > 0)
    throw new BackupError(
      'BACKUP_REFUSED',
      `The target is not empty (it holds ${found.join(', ')}): restore into an empty database and storage.`,
      { found: f },
    )
}

async function load(
  client: pg.Client,
  db: Kysely<any>,
  manifest: BackupManifest,
  o: RestoreOptions,
  written: string[],
): Promise<RestoreResult> {
  const plan = await planCollections(client, db, manifest.collections)
  // Only tables the target itself has (Bastide's schemas, as a backup lists them) are ever written: names come
  // from the target's catalog, never from the manifest alone.
  const before = byName(await listTables(client))
  // Rows the target's migrations seeded (the users collection, signing keys made at start) give way to the
  // backup's; last loaded first, so that no foreign key stands in the way.
  for (const t of [...manifest.tables].reverse()) {
    const here = before.get(`${t.schema}.${t.name}`)
    if (here) await client.query(`DELETE FROM ${qualified(client, here.schema, here.name)}`)
  }
  for (const s of plan.create) await client.query(s)
  const tables = byName(await listTables(client))
  const seenTables = new Set<string>()
  for (const t of manifest.tables) {
    checkColumns(tables, t)
    if (seenTables.has(`${t.schema}.${t.name}`))
      throw new BackupError('BACKUP_REFUSED', `Table ${t.schema}.${t.name} is listed twice in the backup.`)
    seenTables.add(`${t.schema}.${t.name}`)
  }
  const byEntry = new Map<string, { table: TableManifest; index: number }>()
  for (const t of manifest.tables)
    t.entries.forEach((e, index) => {
      byEntry.set(e.name, { table: t, index })
    })
  const files = new Map(manifest.files.flatMap((f) => ('missing' in f ? [] : [[f.entry, f] as const])))
  let copy: ReturnType<typeof copyFrom> | undefined
  let tablesDone = 0
  const withRows = manifest.tables.filter((t) => t.entries.length > 0).length
  let filesDone = 0
  for await (const entry of readArchive(o.file)) {
    const chunk = byEntry.get(entry.name)
    if (chunk) {
      const t = chunk.table
      if (chunk.index === 0) {
        const cols = t.columns.map((c) => client.escapeIdentifier(c)).join(', ')
        copy = client.query(copyFrom(`COPY ${qualified(client, t.schema, t.name)} (${cols}) FROM STDIN`))
      }
      // Hashed again as it loads: the file may have changed since it was verified.
      const hash = createHash('sha256')
      for await (const b of entry.body as AsyncIterable<Buffer>) {
        hash.update(b)
        if (!copy!.write(b)) await once(copy!, 'drain')
      }
      if (hash.digest('hex') !== t.entries[chunk.index]!.sha256)
        throw new BackupError('BACKUP_DAMAGED', `${entry.name} changed while restoring (sha256 mismatch).`)
      if (chunk.index === t.entries.length - 1) {
        copy!.end()
        await finished(copy!)
        copy = undefined
        o.onProgress?.({ phase: 'tables', done: ++tablesDone, total: withRows })
      }
      continue
    }
    const file = files.get(entry.name)
    if (!file || 'missing' in file) continue
    written.push(file.key)
    const w = await o.store.write(file.key, entry.body)
    if (w.sha256 !== file.sha256 || w.size !== file.size)
      throw new BackupError('BACKUP_DAMAGED', `File ${file.key} changed while restoring (sha256 mismatch).`)
    o.onProgress?.({ phase: 'files', done: ++filesDone, total: files.size })
  }
  await checkFilesReferenced(client, written)
  await checkCatalogLoaded(client, plan.collections)
  for (const s of plan.afterLoad) await client.query(s)
  const sequences = await listAllSequences(client)
  for (const s of manifest.sequences) {
    if (!sequences.has(`${s.schema}.${s.name}`))
      throw new BackupError(
        'BACKUP_FAILED',
        `Sequence ${s.schema}.${s.name} of the backup does not exist here.`,
      )
    const name = qualified(client, s.schema, s.name)
    await client.query('SELECT setval($1::regclass, $2::bigint, true)', [name, s.value])
  }
  // The run that took this very backup (and any other running then) was `running` in the snapshot; here nobody
  // will ever finish it, and its outcome belongs to the source instance.
  const runs = await client.query(`SELECT to_regclass('bastide.backup_runs') IS NOT NULL AS yes`)
  if (runs.rows[0].yes)
    await client.query(
      `UPDATE bastide.backup_runs SET status = 'failed', finished = $1::timestamptz,
         error = 'Still running when the backup restored here was taken: see the source instance for how it ended.'
       WHERE status = 'running'`,
      [manifest.created],
    )
  // In the restore's transaction, after the sequences: the entry follows the backup's own (a higher seq) and
  // exists exactly when the restore does. auth's first migration made the table, so every backup has it.
  await client.query(
    `INSERT INTO bastide.audit_log (actor, action, target, details) VALUES ($1, 'backup.restore', $2, $3::jsonb)`,
    [
      o.actor ?? 'cli',
      path.basename(o.file),
      JSON.stringify({
        snapshot: manifest.created,
        server: manifest.server.version,
        rows: manifest.totals.rows,
        files: filesDone,
      }),
    ],
  )
  return {
    manifest,
    tables: manifest.tables.length,
    rows: manifest.tables.reduce((n, t) => n + t.rows, 0),
    files: filesDone,
  }
}

/**
 * Every file written must be the bytes of a restored object or image variant: the manifest's file list is not a
 * licence to write arbitrary keys into the target's storage.
 */
async function checkFilesReferenced(client: pg.Client, written: readonly string[]): Promise<void> {
  const r = await client.query<{ key: string }>(
    `SELECT k AS key FROM unnest($1::text[]) AS k
     WHERE NOT EXISTS (SELECT 1 FROM bastide.objects WHERE blob = k)
       AND NOT EXISTS (SELECT 1 FROM bastide.object_variants WHERE blob = k)
     LIMIT 5`,
    [written],
  )
  if (r.rows.length > 0)
    throw new BackupError(
      'BACKUP_REFUSED',
      `The backup holds files no restored object names: ${r.rows.map((x) => x.key).join(', ')}.`,
    )
}

const byName = (tables: TableInfo[]) => new Map(tables.map((t) => [`${t.schema}.${t.name}`, t]))

/**
 * The backup's table must be one the target backs up itself, and every column it holds one of the target's
 * (a newer target may have more).
 */
function checkColumns(tables: ReadonlyMap<string, TableInfo>, t: TableManifest): void {
  const here = tables.get(`${t.schema}.${t.name}`)
  if (!here)
    throw new BackupError(
      'BACKUP_FAILED',
      `Table ${t.schema}.${t.name} of the backup has no counterpart here.`,
    )
  const have = new Set(here.columns)
  const lacking = t.columns.filter((c) => !have.has(c))
  if (lacking.length > 0 || new Set(t.columns).size !== t.columns.length)
    throw new BackupError(
      'BACKUP_FAILED',
      `Table ${t.schema}.${t.name} here lacks column(s) ${lacking.join(', ')} of the backup.`,
    )
}

/**
 * The catalog rows loaded into bastide.collections must be the definitions validated and created from the
 * manifest: the server reads them from there, and a crafted archive could otherwise describe tables other than
 * those it made.
 */
async function checkCatalogLoaded(client: pg.Client, validated: readonly Collection[]): Promise<void> {
  const rows = await client.query('SELECT id, name, fields, indexes, rules, system FROM bastide.collections')
  const want = new Map(validated.map((c) => [c.name, c]))
  const differs = rows.rows
    .filter((r) => {
      const c = want.get(r.name)
      return !c || !sameDefinition(c, { ...r, system: r.system || undefined })
    })
    .map((r) => r.name)
  if (differs.length > 0 || rows.rows.length !== validated.length)
    throw new BackupError(
      'BACKUP_REFUSED',
      `The backup's bastide.collections rows differ from its ${MANIFEST_ENTRY} catalog (${differs.join(', ') || 'count'}).`,
    )
}
