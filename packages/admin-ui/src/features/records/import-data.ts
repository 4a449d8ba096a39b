import type { CollectionSchema, FieldSchema } from '@bastide/sdk'
import { parseCsv } from './csv.ts'
import { fieldsOf, parseValue, ValueError } from './values.ts'

/** A file to import, read as a table: column names and rows (strings from CSV, any JSON value from JSON). */
export interface ImportTable {
  readonly columns: string[]
  readonly rows: unknown[][]
  /** CSV cells are text to convert per field type; JSON values are sent as they are. */
  readonly text: boolean
}

/** Reads CSV (first line: column names) or JSON (an array of objects, or `{items: [...]}`). */
export function readImport(name: string, content: string): ImportTable {
  const trimmed = content.trimStart()
  if (/\.json$/i.test(name) || trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let data: unknown
    try {
      data = JSON.parse(content)
    } catch (e) {
      throw new Error(`Not valid JSON: ${(e as Error).message}`)
    }
    const list = Array.isArray(data) ? data : (data as { items?: unknown })?.items
    if (!Array.isArray(list) || !list.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x)))
      throw new Error('Expected a JSON array of objects (or {"items": [...]}).')
    const columns = [...new Set(list.flatMap((o) => Object.keys(o as object)))]
    return {
      columns,
      rows: list.map((o) => columns.map((c) => (o as Record<string, unknown>)[c])),
      text: false,
    }
  }
  const [head, ...rows] = parseCsv(content)
  if (!head) throw new Error('The file is empty.')
  return { columns: head, rows, text: true }
}

/** Fields the import never writes: the server sets them. */
const SKIPPED = new Set(['created', 'updated', 'version', 'expand', 'collectionName'])

/** The field each column goes to by default: the one with the same name (case-insensitive), else none. */
export function defaultMapping(columns: readonly string[], c: CollectionSchema): (string | null)[] {
  const names = [
    'id',
    ...fieldsOf(c)
      .filter((f) => !f.system)
      .map((f) => f.name),
  ]
  return columns.map((col) =>
    SKIPPED.has(col) ? null : (names.find((n) => n.toLowerCase() === col.trim().toLowerCase()) ?? null),
  )
}

/** One row as the body of a create, or the problem that stops it. */
export function rowToRecord(
  table: ImportTable,
  row: readonly unknown[],
  mapping: readonly (string | null)[],
  c: CollectionSchema,
): { data: Record<string, unknown> } | { problem: string } {
  const data: Record<string, unknown> = {}
  try {
    mapping.forEach((target, i) => {
      if (!target) return
      const raw = row[i]
      if (target === 'id') {
        if (raw !== '' && raw !== null && raw !== undefined) data.id = String(raw)
        return
      }
      const f = fieldsOf(c).find((x) => x.name === target) as FieldSchema
      if (!table.text) {
        if (raw !== undefined) data[target] = raw
        return
      }
      const v = parseValue(f, String(raw ?? ''))
      // Empty CSV cells leave the field to its default.
      if (v === null || (Array.isArray(v) && v.length === 0 && raw === '')) return
      data[target] = v
    })
  } catch (e) {
    if (e instanceof ValueError) return { problem: e.message }
    throw e
  }
  return { data }
}
