import { errors } from '../../errors/index.ts'
import type { Collection, Field } from '../collections/types.ts'

const field = (name: string, type: Field['type'], options: Field['options'] = {}): Field => ({
  id: `object_${name}`,
  name,
  type,
  required: false,
  unique: false,
  hidden: false,
  options,
  system: true,
})

/**
 * What a bucket's rules see of an object, as a collection, so that bucket rules are the same language,
 * compiled by the same code into the same parameterized SQL as collection rules. The columns of
 * bastide.objects carry exactly these names; `owner` relates to `users`, so `owner.email` works too.
 */
export const OBJECTS_SCHEMA: Collection = Object.freeze({
  id: '00000000-0000-7000-8000-00000000f11e',
  name: '_objects',
  fields: Object.freeze([
    field('key', 'text'),
    field('size', 'number', { integer: true }),
    field('mimeType', 'text'),
    field('owner', 'relation', { collection: 'users', onDelete: 'set_null' }),
    field('metadata', 'json'),
  ]),
  indexes: [],
  rules: { list: null, view: null, create: null, update: null, delete: null },
  system: true,
  created: '1970-01-01T00:00:00.000Z',
  updated: '1970-01-01T00:00:00.000Z',
}) as Collection

/** Longest object key, in UTF-8 bytes (S3's limit). */
export const MAX_KEY_BYTES = 1024

/**
 * Object keys are names in a flat namespace that look like paths. They never reach a filesystem (bytes
 * live under random blob names), but clients and tools treat them as paths, so anything that would mean
 * something else on a disk or in a URL is refused: `.`/`..` segments, empty segments (leading, trailing or
 * double slashes), backslashes, control characters (NUL included).
 */
export function validateObjectKey(key: string): string {
  const problem = keyProblem(key)
  if (problem) throw errors.validation({ key: { code: 'invalid', message: problem } })
  return key
}

/** Why `key` is not a valid object key, or undefined. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'The key is empty.'
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `The key is longer than ${MAX_KEY_BYTES} bytes.`
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'The key contains a control character.'
  if (key.includes('\\')) return 'The key contains a backslash; use / between segments.'
  // A lone surrogate cannot be encoded as UTF-8: it would not survive a round trip.
  if (/\p{Surrogate}/u.test(key)) return 'The key is not valid Unicode.'
  for (const segment of key.split('/')) {
    if (segment === '') return 'The key has an empty segment (a leading, trailing or double slash).'
    if (segment === '.' || segment === '..') return 'The key has a . or .. segment.'
  }
  return undefined
}

/** A listing prefix: a key's beginning, so the same characters are refused (it may end with a slash). */
export function validateKeyPrefix(prefix: string): string {
  if (prefix === '') return prefix
  const problem = keyProblem(prefix.endsWith('/') ? `${prefix}x` : prefix)
  if (problem) throw errors.validation({ prefix: { code: 'invalid', message: problem } })
  return prefix
}

/** Longest custom metadata of an object, in bytes of JSON. */
export const MAX_METADATA_BYTES = 8 * 1024
/** Deepest nesting of custom metadata: the object itself is level 1. */
export const MAX_METADATA_DEPTH = 8

/**
 * An object's custom metadata, checked: a JSON object (unset means `{}`), at most MAX_METADATA_DEPTH levels
 * deep and MAX_METADATA_BYTES of JSON. Depth is measured without recursion and before anything serializes
 * the value, so that a client's 10 000 nested levels are a 400, not a stack overflow.
 */
export function validateObjectMetadata(m: unknown): Record<string, unknown> {
  if (m === undefined || m === null) return {}
  const invalid = (code: string, message: string) => errors.validation({ metadata: { code, message } })
  if (typeof m !== 'object' || Array.isArray(m)) throw invalid('invalid', 'Metadata must be a JSON object.')
  const tooLarge = () => invalid('too_large', `Metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON.`)
  const stack: [unknown, number][] = [[m, 1]]
  // Every value takes at least one byte of JSON: past that many, the size check would fail anyway.
  let values = 0
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (++values > MAX_METADATA_BYTES) throw tooLarge()
    if (v === null || typeof v !== 'object') continue
    if (depth > MAX_METADATA_DEPTH)
      throw invalid('too_deep', `Metadata may nest at most ${MAX_METADATA_DEPTH} levels deep.`)
    for (const child of Object.values(v)) stack.push([child, depth + 1])
  }
  if (Buffer.byteLength(JSON.stringify(m)) > MAX_METADATA_BYTES) throw tooLarge()
  return m as Record<string, unknown>
}
