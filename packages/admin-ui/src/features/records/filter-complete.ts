import type { CollectionSchema } from '@bastide/sdk'
import { fieldsOf } from './values.ts'

/** The columns every record has. */
export const SYSTEM_COLUMNS = ['id', 'created', 'updated', 'version'] as const

export interface FieldPath {
  readonly path: string
  readonly type: string
}

/**
 * Every path the filter language can name from `collection`: its fields, and through relations the related
 * collection's fields (`author.name`), up to `depth` relations deep.
 */
export function fieldPaths(
  collection: CollectionSchema,
  all: readonly CollectionSchema[],
  depth = 2,
): FieldPath[] {
  const out: FieldPath[] = []
  const walk = (c: CollectionSchema, prefix: string, left: number, seen: readonly string[]) => {
    for (const s of SYSTEM_COLUMNS) out.push({ path: prefix + s, type: s === 'version' ? 'number' : 'text' })
    for (const f of fieldsOf(c)) {
      out.push({ path: prefix + f.name, type: f.type })
      if (f.type === 'relation' && left > 0) {
        const target = all.find((x) => x.name === f.options?.collection)
        if (target && !seen.includes(`${c.name}.${f.name}`))
          walk(target, `${prefix}${f.name}.`, left - 1, [...seen, `${c.name}.${f.name}`])
      }
    }
  }
  walk(collection, '', depth, [])
  return out
}

/** The word being typed at `caret` (letters, digits, `_`, `.`, `@`), or null inside a quoted string. */
export function wordAt(text: string, caret: number): { start: number; end: number; word: string } | null {
  // Inside a string literal: no completion.
  let quote: string | null = null
  for (let i = 0; i < caret; i++) {
    const c = text[i]!
    if (quote) {
      if (c === '\\') i++
      else if (c === quote) quote = null
    } else if (c === '"' || c === "'") quote = c
  }
  if (quote) return null
  let start = caret
  while (start > 0 && /[\w.@]/.test(text[start - 1]!)) start--
  let end = caret
  while (end < text.length && /[\w.]/.test(text[end]!)) end++
  const word = text.slice(start, caret)
  if (word.startsWith('@') || /^\d/.test(word)) return null
  return { start, end, word }
}

/** Paths for `word`: those starting with it first (shallow before deep), then those containing it. */
export function suggest(paths: readonly FieldPath[], word: string, limit = 8): FieldPath[] {
  const w = word.toLowerCase()
  const depth = (p: string) => p.split('.').length
  const starts = paths
    .filter((p) => p.path.toLowerCase().startsWith(w) && p.path.toLowerCase() !== w)
    .sort((a, b) => depth(a.path) - depth(b.path) || a.path.localeCompare(b.path))
  const contains = w
    ? paths.filter((p) => !p.path.toLowerCase().startsWith(w) && p.path.toLowerCase().includes(w))
    : []
  return [...starts, ...contains].slice(0, limit)
}

/** `text` with the word at `caret` replaced by `path`, and the caret after it. */
export function applyCompletion(text: string, caret: number, path: string): { text: string; caret: number } {
  const at = wordAt(text, caret) ?? { start: caret, end: caret }
  const next = text.slice(0, at.start) + path + text.slice(at.end)
  return { text: next, caret: at.start + path.length }
}
