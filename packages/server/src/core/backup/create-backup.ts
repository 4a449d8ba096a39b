import { createHash } from 'node:crypto'
import pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import type { FileStore } from '../../storage/file-store.ts'
import { type ArchiveWriter, openArchiveWriter } from './archive.ts'
import { BACKUP_LOCK_KEY } from './backup-lock.ts'
import { listSequences, listTables, qualified, REDACTED_COLUMNS } from './list-tables.ts'
import {
  BACKUP_FORMAT,
  BackupError,
  type BackupManifest,
  type EntryDigest,
  type FileManifest,
  fileEntryName,
  MANIFEST_ENTRY,
  MANIFEST_MAC_ENTRY,
  MANIFEST_MAX_BYTES,
  manifestMac,
  serverVersion,
  type TableManifest,
  tableEntryPrefix,
} from './manifest.ts'
import { spool } from './spool.ts'

/** Entries are at most this big, so memory stays bounded whatever the size of a table or a file. */
export const CHUNK_BYTES = 8 * 1024 * 1024

export interface BackupProgress {
  readonly phase: 'tables' | 'files'
  readonly done: number
  readonly total: number
}

export interface CreateBackupOptions {
  readonly databaseUrl: string
  readonly store: FileStore
  /** BASTIDE_SECRET: keys the manifest's HMAC (see manifestMac); never written. */
  readonly secret: string
  /** The archive's path; it appears only once complete. */
  readonly file: string
  readonly gzip?: boolean
  /** Called once the snapshot is taken (and awaited): writes committed before this are in the backup. */
  readonly onSnapshot?: (snapshot: BackupManifest['snapshot']) => void | Promise<void>
  readonly onProgress?: (p: BackupProgress) => void
}

/**
 * Writes a backup of the instance to `file`: every table of the Bastide schemas, read with COPY inside one
 * REPEATABLE READ, READ ONLY transaction (a single consistent snapshot while writes go on, with nothing but a
 * PostgreSQL connection: no pg_dump, no superuser), then the bytes of every object blob the snapshot's rows
 * name, then manifest.json with a sha256 for every entry.
 */
export async function createBackup(o: CreateBackupOptions): Promise<BackupManifest> {
  const client = new pg.Client({
    connectionString: o.databaseUrl,
    connectionTimeoutMillis: 10_000,
    // A backup may take long; the server's request timeouts are not for it.
    options:
      '-c TimeZone=UTC -c DateStyle=ISO,YMD -c statement_timeout=0 -c idle_in_transaction_session_timeout=0',
  })
  await client.connect()
  const archive = openArchiveWriter(o.file, { gzip: o.gzip ?? false })
  try {
    // Taken before the snapshot: a collector that already holds it (shared) finishes first, and its deletions are
    // then committed before the snapshot, which does not point at those blobs.
    await client.query('SELECT pg_advisory_lock($1)', [BACKUP_LOCK_KEY])
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    // The first statement fixes the snapshot; clock_timestamp() is read after it was taken.
    const head = await client.query<{ id: string; xmin: string; at: Date; pgv: string }>(
      `SELECT pg_current_snapshot()::text AS id, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
              clock_timestamp() AS at, current_setting('server_version') AS pgv`,
    )
    const h = head.rows[0]!
    const snapshot = { id: h.id, xmin: h.xmin, takenAt: h.at.toISOString() }
    await o.onSnapshot?.(snapshot)
    const known = await client.query(`SELECT to_regclass('bastide.migrations') IS NOT NULL AS yes`)
    if (!known.rows[0].yes)
      throw new BackupError(
        'BACKUP_REFUSED',
        'This database holds no Bastide instance (no bastide.migrations): check DATABASE_URL, or start the server on it once.',
      )
    const migrations = (
      await client.query('SELECT module, seq, name, checksum FROM bastide.migrations ORDER BY module, seq')
    ).rows
    const collections = (
      await client.query(
        `SELECT id, name, fields, indexes, rules, system, created::text AS created, updated::text AS updated
         FROM bastide.collections ORDER BY created, id`,
      )
    ).rows
    const tables = await listTables(client)
    const sequences = await listSequences(client)
    const tableManifests: TableManifest[] = []
    for (const [i, t] of tables.entries()) {
      tableManifests.push(await copyTable(client, archive, t))
      o.onProgress?.({ phase: 'tables', done: i + 1, total: tables.length })
    }
    const files = await copyFiles(client, archive, o)
    await client.query('COMMIT')
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      server: { version: serverVersion() },
      postgres: { version: h.pgv },
      created: snapshot.takenAt,
      snapshot,
      migrations,
      collections,
      tables: tableManifests,
      sequences,
      files,
      totals: {
        tables: tableManifests.length,
        rows: tableManifests.reduce((n, t) => n + t.rows, 0),
        files: files.length,
        fileBytes: files.reduce((n, f) => n + ('missing' in f ? 0 : f.size), 0),
        missingFiles: files.filter((f) => 'missing' in f).length,
      },
    }
    // Compact: the manifest's size bounds how many files one archive can list (MANIFEST_MAX_BYTES).
    const text = Buffer.from(`${JSON.stringify(manifest)}\n`)
    if (text.length > MANIFEST_MAX_BYTES)
      throw new BackupError(
        'BACKUP_FAILED',
        `The manifest would take ${text.length} bytes, more than a restore reads (${MANIFEST_MAX_BYTES}): ` +
          `${files.length} files are too many for one archive.`,
      )
    await archive.add(MANIFEST_ENTRY, text.length, text)
    const mac = Buffer.from(`${manifestMac(o.secret, text)}\n`)
    await archive.add(MANIFEST_MAC_ENTRY, mac.length, mac)
    await archive.finish()
    return manifest
  } catch (err) {
    await archive.abort()
    throw err
  } finally {
    await client.end().catch(() => {})
  }
}

/** Streams one table's COPY text into entries of at most CHUNK_BYTES, hashing and counting rows on the way. */
async function copyTable(
  client: pg.Client,
  archive: ArchiveWriter,
  t: { schema: string; name: string; columns: readonly string[] },
): Promise<TableManifest> {
  const redacted = REDACTED_COLUMNS.get(`${t.schema}.${t.name}`)
  const cols = t.columns
    .map((c) => (redacted?.has(c) ? `NULL AS ${client.escapeIdentifier(c)}` : client.escapeIdentifier(c)))
    .join(', ')
  const stream = client.query(
    copyTo(`COPY (SELECT ${cols} FROM ${qualified(client, t.schema, t.name)}) TO STDOUT`),
  )
  const whole = createHash('sha256')
  const entries: EntryDigest[] = []
  let rows = 0
  let bytes = 0
  let pending: Buffer[] = []
  let pendingSize = 0
  const flush = async () => {
    if (pendingSize === 0) return
    const buf = Buffer.concat(pending, pendingSize)
    pending = []
    pendingSize = 0
    const name = `${tableEntryPrefix(t.schema, t.name)}${String(entries.length).padStart(6, '0')}.copy`
    entries.push({ name, size: buf.length, sha256: createHash('sha256').update(buf).digest('hex') })
    await archive.add(name, buf.length, buf)
  }
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    whole.update(chunk)
    bytes += chunk.length
    // COPY's text format ends every row with a newline and escapes the ones inside values.
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++
    pending.push(chunk)
    pendingSize += chunk.length
    if (pendingSize >= CHUNK_BYTES) await flush()
  }
  await flush()
  return {
    schema: t.schema,
    name: t.name,
    columns: t.columns,
    rows,
    bytes,
    sha256: whole.digest('hex'),
    entries,
  }
}

/**
 * The bytes of every blob the snapshot's object rows (and image variants) name, read from the FileStore. Blobs
 * are immutable (an overwrite writes a new one), so what is read is what the snapshot saw, unless the garbage
 * collector deleted it after a later commit let go of it: then the file is listed as missing, never skipped
 * silently.
 */
async function copyFiles(
  client: pg.Client,
  archive: ArchiveWriter,
  o: CreateBackupOptions,
): Promise<FileManifest[]> {
  const total = Number(
    (
      await client.query<{ n: string }>(
        'SELECT (SELECT count(*) FROM bastide.objects) + (SELECT count(*) FROM bastide.object_variants) AS n',
      )
    ).rows[0]!.n,
  )
  await client.query(
    `DECLARE backup_files NO SCROLL CURSOR FOR
       SELECT blob, size FROM bastide.objects UNION ALL SELECT blob, size FROM bastide.object_variants
       ORDER BY blob`,
  )
  const files: FileManifest[] = []
  for (;;) {
    const page = await client.query<{ blob: string; size: string }>('FETCH 500 FROM backup_files')
    if (page.rows.length === 0) break
    for (const row of page.rows) {
      files.push(await copyFile(archive, o.store, row.blob, Number(row.size)))
      o.onProgress?.({ phase: 'files', done: files.length, total })
    }
  }
  await client.query('CLOSE backup_files')
  return files
}

async function copyFile(
  archive: ArchiveWriter,
  store: FileStore,
  key: string,
  size: number,
): Promise<FileManifest> {
  const body = await store.read(key)
  if (!body) return { key, size, missing: true }
  // Read it whole before the entry starts: a tar entry must not be cut off half way by a failing read.
  const spooled = await spool(body, CHUNK_BYTES)
  try {
    const entry = fileEntryName(key)
    await archive.add(entry, spooled.size, spooled.open())
    return { key, size: spooled.size, sha256: spooled.sha256, entry }
  } finally {
    await spooled.dispose()
  }
}

export { BACKUP_LOCK_KEY }
