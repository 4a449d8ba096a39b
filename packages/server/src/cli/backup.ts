import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { loadConfig } from '../config/load-config.ts'
import { resolveSecret } from '../core/auth/secret.ts'
import { type BackupProgress, createBackup } from '../core/backup/create-backup.ts'
import type { BackupManifest } from '../core/backup/manifest.ts'
import { type RestoreProgress, type RestoreResult, restoreBackup } from '../core/backup/restore-backup.ts'
import { type VerifyResult, verifyBackup } from '../core/backup/verify-backup.ts'
import { startEmbeddedPostgres } from '../db/embedded-postgres.ts'
import { backupS3, openBackupTarget, targetConflict } from '../modules/backups/backup-target.ts'
import { backupsModule } from '../modules/backups/index.ts'
import { MODULES } from '../modules/index.ts'
import { readSettings } from '../modules/settings.ts'
import { createFileStore } from '../storage/create-file-store.ts'
import type { FileStore } from '../storage/file-store.ts'

export { BackupError } from '../core/backup/manifest.ts'
export type { BackupManifest, BackupProgress, RestoreProgress, RestoreResult, VerifyResult }

/**
 * The instance the environment describes, as `serve` would find it: DATABASE_URL or the embedded PostgreSQL
 * under BASTIDE_DATA_DIR (started here, so the server must not be running on it), the FileStore (local
 * disk or BASTIDE_S3_*), and BASTIDE_SECRET (or the one kept in the data directory). Throws ConfigError for a
 * bad variable.
 */
export interface Instance {
  readonly databaseUrl: string
  readonly store: FileStore
  readonly secret: string
  close(): Promise<void>
}

export async function openInstance(env: NodeJS.ProcessEnv): Promise<Instance> {
  const config = loadConfig(env)
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort })
  try {
    const store = await createFileStore(config)
    return {
      databaseUrl: config.databaseUrl ?? embedded!.url,
      store,
      secret: await resolveSecret(config.secret, config.dataDir),
      async close() {
        await store.close?.()
        await embedded?.stop()
      },
    }
  } catch (err) {
    await embedded?.stop()
    throw err
  }
}

/**
 * `bastide backup create`: a backup of the configured instance into `file`, a local path or `s3://bucket/key`
 * (written to a temporary file, then uploaded with BASTIDE_BACKUP_S3_* or else BASTIDE_S3_*).
 */
export async function backupCreate(o: {
  env: NodeJS.ProcessEnv
  file: string
  gzip: boolean
  onProgress?: (p: BackupProgress) => void
}): Promise<BackupManifest> {
  const instance = await openInstance(o.env)
  try {
    const write = (file: string) =>
      createBackup({
        databaseUrl: instance.databaseUrl,
        store: instance.store,
        secret: instance.secret,
        file,
        gzip: o.gzip,
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      })
    const s3 = splitS3(o.file)
    if (!s3) return await write(o.file)
    // Kept in the storage bucket, the archive would be deleted by the server's storage reconciler.
    const conflict = targetConflict(s3.folder, backupS3Of(o.env), loadConfig(o.env))
    if (conflict) throw new Error(conflict.replace('BASTIDE_BACKUP_TARGET', '--out'))
    let manifest: BackupManifest | undefined
    const target = await openBackupTarget(s3.folder, backupS3Of(o.env))
    await target.store(s3.name, async (file) => {
      manifest = await write(file)
    })
    return manifest!
  } finally {
    await instance.close()
  }
}

/** `s3://bucket/a/b.tar.gz` → the folder `s3://bucket/a` and the name `b.tar.gz`; undefined for a local path. */
function splitS3(file: string): { folder: string; name: string } | undefined {
  if (!file.startsWith('s3://')) return undefined
  const cut = file.lastIndexOf('/')
  const name = file.slice(cut + 1)
  if (cut < 's3://'.length || name === '') throw new Error(`${file}: give s3://bucket/[prefix/]name`)
  return { folder: file.slice(0, cut), name }
}

function backupS3Of(env: NodeJS.ProcessEnv) {
  const settings = readSettings([backupsModule], env as Record<string, string>).get(
    backupsModule.id,
  ) as Parameters<typeof backupS3>[0]
  return backupS3(settings, loadConfig(env))
}

/**
 * `bastide backup verify`: needs no instance. With the source's BASTIDE_SECRET the manifest is authenticated
 * too; without it, entries are checked against a manifest anyone could have written (`authenticated: false`).
 */
export function backupVerify(
  file: string,
  onBytes?: (read: number, total: number) => void,
  secret?: string,
): Promise<VerifyResult> {
  return verifyBackup(file, { onBytes, secret })
}

/** `bastide backup restore`: into the configured instance, which must be empty; `file` may be on S3. */
export async function backupRestore(o: {
  env: NodeJS.ProcessEnv
  file: string
  onProgress?: (p: RestoreProgress) => void
}): Promise<RestoreResult> {
  const s3 = splitS3(o.file)
  const local = s3 ? path.join(os.tmpdir(), `bastide-restore-${randomBytes(6).toString('hex')}.tar`) : o.file
  const instance = await openInstance(o.env)
  try {
    if (s3) await (await openBackupTarget(s3.folder, backupS3Of(o.env))).fetch(s3.name, local)
    return await restoreBackup({
      file: local,
      databaseUrl: instance.databaseUrl,
      store: instance.store,
      secret: instance.secret,
      migrations: MODULES.map((m) => ({ module: m.id, migrations: m.migrations ?? [] })),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    })
  } finally {
    if (s3) await rm(local, { force: true })
    await instance.close()
  }
}
