import { hash } from 'node:crypto'

/**
 * The JSON text of records listed again and again (a feed's first page, read by every client), kept so that an
 * unchanged record is not serialized anew for every answer: JSON.stringify of an object is fixed by its
 * keys, in order, and their values, so an object whose keys are those of an entry, in the same order, each value
 * the same primitive (===) as the entry's, has the entry's text. That is checked for every use, whatever wrote
 * the row (the API, a cascade, a migration, SQL from outside): nothing here trusts versions or events.
 *
 * Only objects whose values are all primitives are kept (records as read, not with `expand`), and only those of
 * at most MAX_TEXT characters, at most MAX_ENTRIES of them, the oldest going first: a few MiB at most.
 * Keyed by the record's `id` alone: two records of different collections with one id share an entry, each
 * replacing the other's, and the check above tells them apart.
 */
interface Entry {
  readonly keys: readonly string[]
  readonly values: readonly unknown[]
  readonly text: string
  /** base64 SHA-1 of `text`, made when first asked for (list ETags). */
  digest: string | undefined
}

const MAX_ENTRIES = 2048
const MAX_TEXT = 2048
const entries = new Map<string, Entry>()

/**
 * A row's JSON text (JSON.stringify(row)) with the SHA-1 of it, from the cache when the row is the same as when
 * they were made.
 */
export function rowJsonAndDigest(row: Record<string, unknown>): {
  readonly text: string
  readonly digest: string
} {
  const e = entryOf(row)
  if (e.digest === undefined) e.digest = hash('sha1', e.text, 'base64')
  return e as { readonly text: string; readonly digest: string }
}

function entryOf(row: Record<string, unknown>): Entry {
  const id = row.id
  const known = typeof id === 'string' ? entries.get(id) : undefined
  if (known !== undefined && same(known, row)) return known
  const text = JSON.stringify(row)
  const keys: string[] = []
  const values: unknown[] = []
  let plain = typeof id === 'string' && text.length <= MAX_TEXT
  for (const k in row) {
    const v = row[k]
    if ((typeof v === 'object' && v !== null) || typeof v === 'function') plain = false
    keys.push(k)
    values.push(v)
  }
  const entry: Entry = { keys, values, text, digest: undefined }
  if (plain) {
    if (known === undefined && entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!)
    entries.set(id as string, entry)
  }
  return entry
}

function same(e: Entry, row: Record<string, unknown>): boolean {
  const { keys, values } = e
  let i = 0
  for (const k in row) {
    if (k !== keys[i] || row[k] !== values[i]) return false
    i++
  }
  return i === keys.length
}

/** For tests: forget every entry. */
export function clearRowJson(): void {
  entries.clear()
}
