import type { CollectionSchema, FieldSchema } from '@bastide/sdk'

/** A record as the console sees it: system fields, then any field. */
export interface Rec {
  readonly id: string
  readonly created: string
  readonly updated: string
  readonly version: number
  readonly expand?: Readonly<Record<string, unknown>>
  readonly [field: string]: unknown
}

/** A collection's fields, each with every optional property (the wire type types them narrowly). */
export const fieldsOf = (c: CollectionSchema): readonly FieldSchema[] => c.fields as readonly FieldSchema[]

export const isMultiple = (f: FieldSchema) =>
  (f.type === 'select' || f.type === 'relation' || f.type === 'file') && f.options?.multiple === true

/** Types a cell edits in place (the others open the record form). */
export function inlineEditable(f: FieldSchema): boolean {
  if (f.system) return false
  if (f.type === 'select') return !isMultiple(f)
  return ['text', 'number', 'bool', 'date', 'email', 'url'].includes(f.type)
}

/** The field that names a record of `c` in relation cells and pickers: name/title/label/email, else the first text. */
export function displayField(c: CollectionSchema | undefined): string {
  if (!c) return 'id'
  const names = fieldsOf(c)
    .filter((f) => !f.hidden)
    .map((f) => f.name)
  for (const n of ['name', 'title', 'label', 'email', 'username', 'slug']) if (names.includes(n)) return n
  return fieldsOf(c).find((f) => f.type === 'text' && !f.hidden)?.name ?? 'id'
}

/** A value as one line of cell text. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return v.map(cellText).join(', ')
  return JSON.stringify(v)
}

/** The file name inside a record file key (`posts/<id>/photo/<uuid>-name.png` → `name.png`). */
export function fileName(key: string): string {
  const last = key.split('/').pop() ?? key
  return last.replace(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-/i, '')
}

/** An ISO timestamp as a `datetime-local` input value (local time), and back. */
export function toLocalInput(iso: unknown): string {
  if (typeof iso !== 'string' || iso === '') return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}
export function fromLocalInput(s: string): string | null {
  if (!s) return null
  const d = new Date(s)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

/** The text an editor starts from for a value. */
export function editText(f: FieldSchema, v: unknown): string {
  if (v === null || v === undefined) return ''
  if (f.type === 'date') return toLocalInput(v)
  if (f.type === 'json') return JSON.stringify(v, null, 2)
  return cellText(v)
}

export class ValueError extends Error {}

/**
 * Text typed into a cell, or read from a CSV cell, as the value a field takes. Empty is null (an empty
 * array for multiple fields). Throws ValueError with a sentence for text the type cannot take.
 */
export function parseValue(f: FieldSchema, raw: string, opts: { dateIsLocal?: boolean } = {}): unknown {
  const s = raw.trim()
  if (isMultiple(f)) {
    if (s === '') return []
    if (s.startsWith('[')) {
      const v = parseJson(s)
      if (!Array.isArray(v)) throw new ValueError(`${f.name}: expected a list.`)
      return v
    }
    return s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
  }
  if (s === '') return f.type === 'bool' ? false : null
  switch (f.type) {
    case 'number': {
      const n = Number(s)
      if (!Number.isFinite(n)) throw new ValueError(`${f.name}: “${s}” is not a number.`)
      return n
    }
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(s)) return true
      if (/^(false|0|no|off)$/i.test(s)) return false
      throw new ValueError(`${f.name}: “${s}” is not true or false.`)
    case 'date': {
      if (opts.dateIsLocal) return fromLocalInput(s)
      const d = new Date(s)
      if (Number.isNaN(d.getTime())) throw new ValueError(`${f.name}: “${s}” is not a date.`)
      return d.toISOString()
    }
    case 'json':
      return parseJson(s)
    default:
      return raw
  }
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch (e) {
    throw new ValueError(`Not valid JSON: ${(e as Error).message}`)
  }
}
