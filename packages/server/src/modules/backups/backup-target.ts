import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import type { S3Config } from '../../config/load-config.ts'
import { createS3FileStore } from '../../storage/s3-file-store.ts'

/** An archive kept by a target. */
export interface ArchiveInfo {
  readonly name: string
  readonly size: number
  readonly modified: string
}

/** Where scheduled backups go: a folder, or a bucket (and prefix) of S3. */
export interface BackupTarget {
  /** For logs and the runs list; no credentials. */
  readonly description: string
  /** Runs `write(file)` to make an archive at a local path, then keeps it under `name`. */
  store(name: string, write: (file: string) => Promise<void>): Promise<{ size: number }>
  /** Copies the archive `name` to a local file. */
  fetch(name: string, file: string): Promise<void>
  /** Bastide's archives only (ARCHIVE_NAME), newest first. */
  list(): Promise<ArchiveInfo[]>
  remove(names: readonly string[]): Promise<void>
  /** Removes the instance's own partial archives older than PARTIAL_MAX_AGE_MS (a folder target's crash leftovers). */
  sweepPartials(tag: string, now?: Date): Promise<string[]>
}

/** The S3 account for backups: BASTIDE_BACKUP_S3_* when set, else the server's storage account (BASTIDE_S3_*). */
export function backupS3(
  settings: {
    readonly BASTIDE_BACKUP_S3_ENDPOINT?: string | undefined
    readonly BASTIDE_BACKUP_S3_REGION?: string | undefined
    readonly BASTIDE_BACKUP_S3_ACCESS_KEY?: string | undefined
    readonly BASTIDE_BACKUP_S3_SECRET_KEY?: string | undefined
  },
  config: { readonly s3: S3Config | undefined },
): Omit<S3Config, 'bucket'> | undefined {
  if (!settings.BASTIDE_BACKUP_S3_ENDPOINT) return config.s3
  return {
    endpoint: settings.BASTIDE_BACKUP_S3_ENDPOINT.replace(/\/$/, ''),
    region: settings.BASTIDE_BACKUP_S3_REGION ?? 'us-east-1',
    accessKey: settings.BASTIDE_BACKUP_S3_ACCESS_KEY ?? '',
    secretKey: settings.BASTIDE_BACKUP_S3_SECRET_KEY ?? '',
    pathStyle: true,
  }
}

/**
 * Why a target must not be used, or undefined: the storage reconciler (core/files/reconcile.ts) deletes every
 * key of the storage bucket (or folder) that no object row names, so archives kept there would be gone within
 * the hour. Refused at start-up, naming both variables.
 */
export function targetConflict(
  spec: string,
  s3: Omit<S3Config, 'bucket'> | undefined,
  config: { readonly s3: S3Config | undefined; readonly dataDir: string },
): string | undefined {
  if (spec.startsWith('s3://')) {
    const bucket = new URL(spec).hostname
    const host = (e: string) => e.replace(/\/+$/, '').toLowerCase()
    if (config.s3 && s3 && bucket === config.s3.bucket && host(s3.endpoint) === host(config.s3.endpoint))
      return (
        `BASTIDE_BACKUP_TARGET (${spec}) is in the storage bucket of BASTIDE_S3_BUCKET (${config.s3.bucket}) on the ` +
        'same endpoint, whose unreferenced keys the storage reconciler deletes: use a bucket of its own ' +
        '(for instance s3://bastide-backups/).'
      )
    return undefined
  }
  if (config.s3) return undefined
  const dir = spec.startsWith('file:') ? fileURLToPath(spec) : path.resolve(spec)
  const storage = path.resolve(config.dataDir, 'storage')
  if (dir === storage || dir.startsWith(storage + path.sep))
    return (
      `BASTIDE_BACKUP_TARGET (${dir}) is inside the storage folder of BASTIDE_DATA_DIR (${storage}), whose ` +
      'unreferenced files the storage reconciler deletes: use a folder outside it (the default is ' +
      '<BASTIDE_DATA_DIR>/backups).'
    )
  return undefined
}

/**
 * `bastide-backup-<tag>-20261203T091500.123Z.tar.gz`, where tag is instanceTag(BASTIDE_SECRET): listed
 * whatever the tag, but retention only ever removes names with our own tag, so instances sharing a target
 * never prune each other's archives.
 */
export const ARCHIVE_NAME = /^bastide-backup-([0-9a-f]{8})-(\d{8}T\d{6}\.\d{3}Z)\.tar\.gz$/
export const archiveName = (at: Date, tag: string) =>
  `bastide-backup-${tag}-${at.toISOString().replace(/[-:]/g, '')}.tar.gz`
/** Whether `name` is one of the archives of the instance tagged `tag`. */
export const isOwnArchive = (name: string, tag: string) => ARCHIVE_NAME.exec(name)?.[1] === tag
/** Newest first, by the time in the name (tags differ between instances). */
const byTime = (a: ArchiveInfo, b: ArchiveInfo) =>
  (ARCHIVE_NAME.exec(b.name)?.[2] ?? '').localeCompare(ARCHIVE_NAME.exec(a.name)?.[2] ?? '')
/** A partial archive (see openArchiveWriter) older than this was left by a crash: swept. */
export const PARTIAL_MAX_AGE_MS = 24 * 3600_000

/**
 * `file:///dir` or a path: archives are written there directly (under a temporary name, renamed when done).
 * `s3://bucket/prefix`: written to a temporary file, uploaded, then deleted; credentials and endpoint are the
 * server's BASTIDE_S3_* unless `s3` overrides them (BASTIDE_BACKUP_S3_*).
 */
export async function openBackupTarget(
  spec: string,
  s3: Omit<S3Config, 'bucket'> | undefined,
): Promise<BackupTarget> {
  if (spec.startsWith('s3://')) {
    const u = new URL(spec)
    if (!s3) throw new Error('BASTIDE_BACKUP_TARGET is on S3 but no S3 endpoint and keys are configured')
    const prefix = u.pathname.replace(/^\/+/, '')
    const store = await createS3FileStore({ ...s3, bucket: u.hostname, ...(prefix ? { prefix } : {}) })
    return {
      description: `s3://${u.hostname}/${prefix}`,
      async store(name, write) {
        const temp = path.join(os.tmpdir(), `bastide-backup-${randomBytes(6).toString('hex')}.tar.gz`)
        try {
          await write(temp)
          return { size: (await store.write(name, fs.createReadStream(temp))).size }
        } finally {
          await rm(temp, { force: true })
        }
      },
      async fetch(name, file) {
        const body = await store.read(name)
        if (!body) throw new Error(`No archive ${name} in ${spec}`)
        await pipeline(body, fs.createWriteStream(file, { mode: 0o600 }))
      },
      async list() {
        const out: ArchiveInfo[] = []
        for await (const b of store.list('')) {
          if (ARCHIVE_NAME.test(b.key))
            out.push({ name: b.key, size: b.size, modified: b.modified.toISOString() })
        }
        return out.sort(byTime)
      },
      remove: (names) => store.removeMany(names),
      // Uploads are written to a temporary file first, never partially under the prefix.
      sweepPartials: async () => [],
    }
  }
  const dir = spec.startsWith('file:') ? fileURLToPath(spec) : path.resolve(spec)
  return {
    description: dir,
    async store(name, write) {
      await mkdir(dir, { recursive: true })
      const file = path.join(dir, name)
      await write(file)
      return { size: (await stat(file)).size }
    },
    async fetch(name, file) {
      await copyFile(path.join(dir, name), file)
    },
    async list() {
      const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => ARCHIVE_NAME.test(n))
      const out: ArchiveInfo[] = []
      for (const name of names) {
        const st = await stat(path.join(dir, name)).catch(() => undefined)
        if (st) out.push({ name, size: st.size, modified: st.mtime.toISOString() })
      }
      return out.sort(byTime)
    },
    async remove(names) {
      for (const n of names) await rm(path.join(dir, n), { force: true })
    },
    async sweepPartials(tag, now = new Date()) {
      const partial = new RegExp(`^\\.bastide-backup-${tag}-.*\\.partial-[0-9a-f]+$`)
      const swept: string[] = []
      for (const n of await readdir(dir).catch(() => [] as string[])) {
        if (!partial.test(n)) continue
        const st = await stat(path.join(dir, n)).catch(() => undefined)
        if (!st || now.getTime() - st.mtime.getTime() < PARTIAL_MAX_AGE_MS) continue
        await rm(path.join(dir, n), { force: true })
        swept.push(n)
      }
      return swept
    },
  }
}
