import { createHash, timingSafeEqual } from 'node:crypto'
import { readArchive } from './archive.ts'
import {
  BACKUP_FORMAT,
  type BackupManifest,
  type EntryDigest,
  MANIFEST_ENTRY,
  MANIFEST_MAC_ENTRY,
  MANIFEST_MAX_BYTES,
  MAX_ENTRIES,
  manifestMac,
} from './manifest.ts'

export interface VerifyResult {
  readonly ok: boolean
  /** Undefined when the archive holds no readable manifest. */
  readonly manifest: BackupManifest | undefined
  /**
   * True when a secret was given and the manifest's HMAC matches it: the manifest (so every entry it hashes) is
   * as an instance holding that secret wrote it. Without a secret, entries are checked against a manifest that
   * anyone could have written: false.
   */
  readonly authenticated: boolean
  /** One line per mismatch, naming the entry (or table) concerned. */
  readonly problems: readonly string[]
}

export interface VerifyOptions {
  /** BASTIDE_SECRET of the instance that wrote the archive: authenticates the manifest (see manifestMac). */
  readonly secret?: string | undefined
  readonly onBytes?: ((read: number, total: number) => void) | undefined
}

/**
 * Reads the whole archive and checks it against its manifest: every entry present with its size and sha256,
 * every table's COPY text with its sha256, nothing unlisted, and with `secret` the manifest's HMAC. A damaged
 * archive (a flipped byte in a tar header or in gzip data) is a problem reported, not an exception. Memory is
 * bounded: the manifest is read whole only up to MANIFEST_MAX_BYTES, entries counted up to MAX_ENTRIES.
 */
export async function verifyBackup(file: string, o: VerifyOptions = {}): Promise<VerifyResult> {
  const problems: string[] = []
  const seen = new Map<string, { size: number; sha256: string }>()
  const tableHashes = new Map<string, ReturnType<typeof createHash>>()
  let manifestBytes: Buffer | undefined
  let manifestMacText: string | undefined
  let count = 0
  try {
    for await (const entry of readArchive(file, o.onBytes)) {
      if (++count > MAX_ENTRIES) {
        problems.push(`the archive holds more than ${MAX_ENTRIES} entries`)
        break
      }
      const small = entry.name === MANIFEST_ENTRY || entry.name === MANIFEST_MAC_ENTRY
      // The tar header states the size: refuse before buffering anything.
      if (small && entry.size > (entry.name === MANIFEST_ENTRY ? MANIFEST_MAX_BYTES : 1024)) {
        problems.push(`${entry.name}: ${entry.size} bytes, more than a Bastide backup writes`)
        break
      }
      const hash = createHash('sha256')
      const prefix = /^tables\/[^/]+\//.exec(entry.name)?.[0]
      let whole: ReturnType<typeof createHash> | undefined
      if (prefix) {
        whole = tableHashes.get(prefix) ?? createHash('sha256')
        tableHashes.set(prefix, whole)
      }
      const parts: Buffer[] = []
      let size = 0
      for await (const chunk of entry.body as AsyncIterable<Buffer>) {
        hash.update(chunk)
        whole?.update(chunk)
        size += chunk.length
        if (small) parts.push(chunk)
      }
      if (entry.name === MANIFEST_ENTRY) manifestBytes = Buffer.concat(parts)
      else if (entry.name === MANIFEST_MAC_ENTRY)
        manifestMacText = Buffer.concat(parts).toString('utf8').trim()
      else if (seen.has(entry.name)) problems.push(`${entry.name}: appears twice`)
      else seen.set(entry.name, { size, sha256: hash.digest('hex') })
    }
  } catch (err) {
    problems.push(`the archive is unreadable: ${(err as Error).message}`)
  }
  let authenticated = false
  if (o.secret !== undefined && manifestBytes !== undefined) {
    const want = Buffer.from(manifestMac(o.secret, manifestBytes), 'hex')
    const got = Buffer.from(manifestMacText ?? '', 'hex')
    authenticated = got.length === want.length && timingSafeEqual(got, want)
    if (!authenticated)
      problems.push(
        `${MANIFEST_ENTRY}: its HMAC does not match this BASTIDE_SECRET: the archive was written with another secret, or altered`,
      )
  }
  const manifest = parseManifest(manifestBytes?.toString('utf8'), problems)
  if (!manifest) return { ok: false, manifest, authenticated, problems }
  const listed: EntryDigest[] = [
    ...manifest.tables.flatMap((t) => t.entries),
    ...manifest.files.flatMap((f) =>
      'missing' in f ? [] : [{ name: f.entry, size: f.size, sha256: f.sha256 }],
    ),
  ]
  for (const e of listed) {
    const got = seen.get(e.name)
    if (!got) problems.push(`${e.name}: missing from the archive`)
    else if (got.size !== e.size) problems.push(`${e.name}: ${got.size} bytes, the manifest says ${e.size}`)
    else if (got.sha256 !== e.sha256) problems.push(`${e.name}: sha256 mismatch`)
    seen.delete(e.name)
  }
  for (const name of seen.keys()) problems.push(`${name}: not listed in the manifest`)
  for (const t of manifest.tables) {
    if (t.entries.length === 0) continue
    const got = tableHashes.get(`tables/${t.schema}.${t.name}/`)?.digest('hex')
    if (got !== t.sha256) problems.push(`table ${t.schema}.${t.name}: sha256 mismatch`)
  }
  return { ok: problems.length === 0, manifest, authenticated, problems }
}

function parseManifest(text: string | undefined, problems: string[]): BackupManifest | undefined {
  if (text === undefined) {
    problems.push(`${MANIFEST_ENTRY}: missing (not a Bastide backup, or cut off)`)
    return undefined
  }
  let m: BackupManifest
  try {
    m = JSON.parse(text) as BackupManifest
  } catch {
    problems.push(`${MANIFEST_ENTRY}: not valid JSON`)
    return undefined
  }
  if (m?.format !== BACKUP_FORMAT) {
    problems.push(
      `${MANIFEST_ENTRY}: format ${JSON.stringify(m?.format)}, this version reads ${BACKUP_FORMAT}`,
    )
    return undefined
  }
  if (!Array.isArray(m.tables) || !Array.isArray(m.files) || !Array.isArray(m.migrations)) {
    problems.push(`${MANIFEST_ENTRY}: incomplete`)
    return undefined
  }
  return m
}
