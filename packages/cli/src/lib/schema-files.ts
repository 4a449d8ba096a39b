import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { type SchemaChange, type SchemaDocument, stableJson } from '@bastide/protocol'
import { CliError, EXIT } from './exit-codes.ts'
import { findProject, PROJECT_DIR } from './project.ts'

/**
 * The schema as files in a project's `bastide/` folder: `schema/{collections,buckets,channels}/<name>.json`, one
 * reviewable file per object, and `migrations/NNNN_<name>.json`. Files are written as the server's canonical form
 * (stable key order), 2-space indented with a trailing newline, so that a pull with no change rewrites nothing and a
 * diff in review shows only what changed.
 */

const KINDS = ['collections', 'buckets', 'channels'] as const
type Kind = (typeof KINDS)[number]

/** The project's `bastide/` folder: `--dir` when given, else the project's (`bastide init`), else `./bastide`. */
export function projectDir(cwd: string, dir: string | undefined): string {
  if (dir !== undefined) return path.resolve(cwd, dir)
  return findProject(cwd)?.dir ?? path.resolve(cwd, PROJECT_DIR)
}

/** A file name for an object name: channel patterns hold `:` and `*`, which some file systems refuse. */
export function fileNameFor(name: string): string {
  return `${name.replace(/[^A-Za-z0-9_.-]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)}.json`
}

export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}

/** Writes `text` to `file` atomically (a reader never sees half a file); false when it already held exactly that. */
function writeIfChanged(file: string, text: string): boolean {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return false
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
  return true
}

export interface PullResult {
  /** Files written (new or changed), relative to the `bastide/` folder. */
  readonly written: string[]
  /** Files removed: their objects no longer exist. */
  readonly removed: string[]
  readonly unchanged: number
}

const objectName = (obj: SchemaDocument[Kind][number]) => ('pattern' in obj ? obj.pattern : obj.name)

/**
 * Objects whose file names differ only in case (`Posts` and `posts`): on a case-insensitive file system (macOS,
 * Windows) they are one file, and the second would silently overwrite the first. Throws CliError (exit 1) naming
 * them, before any file is written.
 */
function refuseCaseCollisions(doc: SchemaDocument): void {
  const collisions: string[] = []
  for (const kind of KINDS) {
    const byFile = new Map<string, string[]>()
    for (const obj of doc[kind]) {
      const file = fileNameFor(objectName(obj)).toLowerCase()
      byFile.set(file, [...(byFile.get(file) ?? []), objectName(obj)])
    }
    for (const names of byFile.values())
      if (names.length > 1) collisions.push(`${kind}: ${names.map((n) => `"${n}"`).join(' and ')}`)
  }
  if (collisions.length > 0)
    throw new CliError(
      `Some objects differ only in the case of their names, and would share one file on a case-insensitive ` +
        `file system (macOS, Windows): ${collisions.join('; ')}. Rename one of each on the server, then pull ` +
        `again. Nothing was written.`,
      EXIT.failed,
      'FILE_NAME_COLLISION',
      { collisions },
    )
}

/** Identifies a file whatever the case of the name it is reached by (case-insensitive file systems). */
const fileId = (file: string) => {
  const st = fs.statSync(file, { bigint: true })
  return `${st.dev}:${st.ino}`
}

/** Writes `doc` as files under `dir/schema`, removing the files of objects it no longer has. */
export function writeSchemaFiles(dir: string, doc: SchemaDocument): PullResult {
  refuseCaseCollisions(doc)
  const written: string[] = []
  const removed: string[] = []
  let unchanged = 0
  for (const kind of KINDS) {
    const folder = path.join(dir, 'schema', kind)
    const keep = new Set<string>()
    const kept = new Set<string>()
    for (const obj of doc[kind]) {
      const name = fileNameFor(objectName(obj))
      keep.add(name)
      const rel = path.join('schema', kind, name)
      if (writeIfChanged(path.join(dir, rel), formatJson(obj))) written.push(rel)
      else unchanged++
      kept.add(fileId(path.join(dir, rel)))
    }
    if (!fs.existsSync(folder)) continue
    for (const f of fs.readdirSync(folder).sort()) {
      // A file listed as `Posts.json` may be the `posts.json` just written, on a case-insensitive file system.
      if (!f.endsWith('.json') || keep.has(f) || kept.has(fileId(path.join(folder, f)))) continue
      fs.rmSync(path.join(folder, f))
      removed.push(path.join('schema', kind, f))
    }
  }
  return { written, removed, unchanged }
}

/** The schema the files under `dir/schema` describe. Throws CliError (exit 1) naming a file that is not JSON. */
export function readSchemaFiles(dir: string): SchemaDocument {
  const root = path.join(dir, 'schema')
  if (!fs.existsSync(root))
    throw new CliError(
      `No schema files in ${root}: run \`bastide schema pull\` first (or pass --dir).`,
      EXIT.failed,
      'NO_SCHEMA_FILES',
    )
  const read = (kind: Kind) => {
    const folder = path.join(root, kind)
    if (!fs.existsSync(folder)) return []
    return fs
      .readdirSync(folder)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => readJson(path.join(folder, f)))
  }
  return {
    collections: read('collections'),
    buckets: read('buckets'),
    channels: read('channels'),
  } as SchemaDocument
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new CliError(`${file} is not valid JSON: ${(err as Error).message}`, EXIT.failed, 'BAD_SCHEMA_FILE')
  }
}

/** A migration's checksum: sha256 of its schema, key order aside (a reformatted file keeps its checksum). */
export function checksumOf(schema: SchemaDocument): string {
  return createHash('sha256').update(stableJson(schema)).digest('hex')
}

/** `bastide/migrations/NNNN_<name>.json`. */
export interface MigrationFile {
  readonly id: string
  /** What it changed from the migration before it (for review; the schema is what is applied). */
  readonly changes: readonly SchemaChange[]
  /** sha256 of `schema` when the file was written. */
  readonly checksum: string
  /** The whole schema after this migration: applying it is idempotent and needs no other file. */
  readonly schema: SchemaDocument
}

const MIGRATION_FILE = /^(\d{4,})_([a-z0-9][a-z0-9_-]*)\.json$/

/** The migration files, in order (by their number). */
export function readMigrations(dir: string): (MigrationFile & { file: string; actualChecksum: string })[] {
  const folder = path.join(dir, 'migrations')
  if (!fs.existsSync(folder)) return []
  return fs
    .readdirSync(folder)
    .filter((f) => MIGRATION_FILE.test(f))
    .sort()
    .map((f) => {
      const file = path.join(folder, f)
      const m = readJson(file) as Partial<MigrationFile>
      if (
        !m ||
        typeof m !== 'object' ||
        typeof m.checksum !== 'string' ||
        !m.schema ||
        typeof m.schema !== 'object'
      )
        throw new CliError(
          `${file} is not a migration (checksum and schema expected).`,
          EXIT.failed,
          'BAD_MIGRATION',
        )
      const id = f.slice(0, -'.json'.length)
      return {
        id,
        file,
        changes: m.changes ?? [],
        checksum: m.checksum,
        schema: m.schema,
        actualChecksum: checksumOf(m.schema),
      }
    })
}

/** Writes the next migration (`NNNN_<name>.json`, one more than the last) and returns its path. */
export function writeMigration(
  dir: string,
  name: string,
  content: Omit<MigrationFile, 'id' | 'checksum'>,
): { id: string; file: string } {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/^[_-]+|[_-]+$/g, '')
    .slice(0, 80)
  if (!slug)
    throw new CliError('A migration name needs letters or digits, e.g. add_posts.', EXIT.usage, 'BAD_NAME')
  const existing = readMigrations(dir)
  const last = existing.at(-1)
  const n = last ? Number(MIGRATION_FILE.exec(`${last.id}.json`)![1]) + 1 : 1
  const id = `${String(n).padStart(4, '0')}_${slug}`
  const file = path.join(dir, 'migrations', `${id}.json`)
  const body: MigrationFile = {
    id,
    changes: content.changes,
    checksum: checksumOf(content.schema),
    schema: content.schema,
  }
  writeIfChanged(file, formatJson(body))
  return { id, file }
}
