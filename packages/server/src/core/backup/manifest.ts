import { createHmac, hkdfSync } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** Bumped when the archive's layout changes; a restore refuses formats it does not know. */
export const BACKUP_FORMAT = 1

/** The archive's last entry: written once everything it describes is in, so it can list every checksum. */
export const MANIFEST_ENTRY = 'manifest.json'
/**
 * HMAC-SHA256 (hex) of manifest.json under a key derived from BASTIDE_SECRET, the very last entry. A sha256 of
 * the manifest would only be self-consistent (anyone editing the manifest recomputes it); the HMAC proves the
 * manifest was written by an instance holding the secret, and a restore needs that secret anyway.
 */
export const MANIFEST_MAC_ENTRY = 'manifest.json.hmac'
/**
 * The manifest is read whole (it is JSON): an archive claiming a bigger one is refused unread, and a backup whose
 * manifest would be bigger fails rather than write an archive no restore reads (about 300,000 files).
 */
export const MANIFEST_MAX_BYTES = 64 * 1024 * 1024
/**
 * Entries an archive may hold (tables' chunks and files): past this, verify stops rather than grow its maps. Above
 * what a manifest within MANIFEST_MAX_BYTES can list (each entry takes well over 64 bytes of it).
 */
export const MAX_ENTRIES = 1_000_000

/** One entry of the archive: a chunk of a table's COPY output, or a file's bytes. */
export interface EntryDigest {
  readonly name: string
  readonly size: number
  readonly sha256: string
}

export interface TableManifest {
  readonly schema: string
  readonly name: string
  /** In COPY order. */
  readonly columns: readonly string[]
  readonly rows: number
  readonly bytes: number
  /** Of the table's whole COPY text (its entries concatenated). */
  readonly sha256: string
  /** Consecutive chunks of the COPY text, in order. */
  readonly entries: readonly EntryDigest[]
}

export type FileManifest =
  | { readonly key: string; readonly size: number; readonly sha256: string; readonly entry: string }
  /** The row names a blob whose bytes were gone when the backup read them (see docs/backups.md). */
  | { readonly key: string; readonly size: number; readonly missing: true }

export interface BackupManifest {
  readonly format: typeof BACKUP_FORMAT
  readonly server: { readonly version: string }
  readonly postgres: { readonly version: string }
  /** When the snapshot was taken (PostgreSQL's clock). */
  readonly created: string
  /** `pg_current_snapshot()` of the backup's transaction: every transaction it lists as done is in. */
  readonly snapshot: { readonly id: string; readonly xmin: string; readonly takenAt: string }
  readonly migrations: readonly {
    readonly module: string
    readonly seq: number
    readonly name: string
    readonly checksum: string
  }[]
  /** bastide.collections as of the snapshot: a restore creates collection tables from it before loading. */
  readonly collections: readonly Record<string, unknown>[]
  /** In load order: a table comes after those its foreign keys point at. */
  readonly tables: readonly TableManifest[]
  /** Values as text (bigint); only sequences that were ever used. */
  readonly sequences: readonly { readonly schema: string; readonly name: string; readonly value: string }[]
  readonly files: readonly FileManifest[]
  readonly totals: {
    readonly tables: number
    readonly rows: number
    readonly files: number
    readonly fileBytes: number
    readonly missingFiles: number
  }
}

/** An expected failure (damaged archive, non-empty target, other secret): the message says what to do. */
export class BackupError extends Error {
  override readonly name = 'BackupError'
  constructor(
    readonly code: 'BACKUP_DAMAGED' | 'BACKUP_REFUSED' | 'BACKUP_FAILED',
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
  }
}

/**
 * The manifest's HMAC key: HKDF of BASTIDE_SECRET, so the secret itself never keys anything outside its own
 * purpose, and the HMAC of a known text offers no shortcut to guessing the secret beyond HKDF's own cost.
 */
function manifestKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'bastide backup v1', 32))
}

/** The HMAC (hex) written as MANIFEST_MAC_ENTRY: a restore checks it, proving both integrity and same secret. */
export function manifestMac(secret: string, manifestText: Buffer | string): string {
  return createHmac('sha256', manifestKey(secret)).update(manifestText).digest('hex')
}

/**
 * An id of the instance's secret, for archive names: instances sharing a target folder (and not a secret) prune
 * only their own archives. Derived with its own HKDF label, so it says nothing about the manifest key.
 */
export function instanceTag(secret: string): string {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'bastide backup instance v1', 4)).toString(
    'hex',
  )
}

/** The server package's version (package.json beside src/ and dist/). */
export function serverVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

export const tableEntryPrefix = (schema: string, name: string) => `tables/${schema}.${name}/`
export const fileEntryName = (key: string) => `files/${key}`
