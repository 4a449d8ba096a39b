import type { SchemaDocument } from '@bastide/protocol'
import { download } from '../../lib/download.ts'

const LISTS = ['collections', 'buckets', 'channels'] as const

/**
 * The document as one file, written exactly as `bastide schema pull` writes each of its files (2-space indent,
 * trailing newline), so a downloaded `schema.json` diffs cleanly against the CLI's output.
 */
export function formatSchema(doc: SchemaDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`
}

export type ParsedSchema =
  | {
      readonly ok: true
      readonly schema: SchemaDocument
      /** A migration file (`bastide/migrations/NNNN_x.json`) was given: its `schema` is what is planned. */
      readonly fromMigration?: string
      /** Lists the file lacks: the server takes them as empty, so the plan deletes everything of that kind. */
      readonly missing: readonly (typeof LISTS)[number][]
    }
  | { readonly ok: false; readonly message: string }

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * A schema file's text as a document to plan: a `schema.json` (the console's download, or a whole document), or a
 * migration file. Only the outer shape is checked here; the server validates the rest and says what is wrong.
 */
export function parseSchemaText(text: string): ParsedSchema {
  if (!text.trim()) return { ok: false, message: 'The file is empty.' }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return { ok: false, message: `This is not JSON: ${(e as Error).message}` }
  }
  let fromMigration: string | undefined
  if (isObject(value) && isObject(value.schema) && typeof value.checksum === 'string') {
    fromMigration = typeof value.id === 'string' ? value.id : 'a migration'
    value = value.schema
  }
  if (!isObject(value) || !LISTS.some((k) => k in value))
    return {
      ok: false,
      message:
        'This is not a schema document: an object with collections, buckets and channels lists is expected.',
    }
  const doc = value
  const wrong = LISTS.find((k) => k in doc && !Array.isArray(doc[k]))
  if (wrong) return { ok: false, message: `“${wrong}” must be a list.` }
  return {
    ok: true,
    schema: doc as unknown as SchemaDocument,
    ...(fromMigration !== undefined ? { fromMigration } : {}),
    missing: LISTS.filter((k) => !(k in doc)),
  }
}

/** Offers text as a file download. */
export function downloadText(text: string, name: string, type = 'application/json'): void {
  download(new Blob([text], { type }), name)
}

/** The reason a 409 from apply carries (`plan_changed`, `destructive`), if any. */
export function conflictReason(error: unknown): string | undefined {
  const e = error as { status?: unknown; details?: unknown } | null
  if (e?.status !== 409 || !isObject(e.details)) return undefined
  return typeof e.details.reason === 'string' ? e.details.reason : undefined
}
