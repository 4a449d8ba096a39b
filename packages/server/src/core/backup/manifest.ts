import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** Bumped when the archive's layout changes; a restore refuses formats it does not know. */
export const BACKUP_FORMAT = 1

/** The archive's last entry: written once everything it describes is in, so it can list every checksum. */
export const MANIFEST_ENTRY = 'manifest.json'
/** The manifest's own sha256 (hex), the very last entry: a damaged manifest is detected too. */
export const MANIFEST_SUM_ENTRY = 'manifest.json.sha256'

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
  /** HMAC of a constant under BASTIDE_SECRET: a restore checks the target has the same secret. */
  readonly secretCheck: string
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
 * Proves which secret the source used without revealing it: an HMAC keyed by the secret. Settings' sealed
 * values and JWT keys are encrypted under keys derived from it, so a target with another secret could not
 * read them.
 */
export function secretCheck(secret: string): string {
  return createHmac('sha256', secret).update('bastide backup secret check v1').digest('hex')
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
