import { errors } from '../../errors/index.ts'
import { type Collection, type Field, hasColumn, isMultiple } from '../collections/types.ts'
import { keyProblem } from '../files/object-schema.ts'
import { isUuid, parseDate } from '../rules/values.ts'

export type FieldErrors = Record<string, { code: string; message: string }>

export interface ValidInput {
  /** Column values, ready to bind. */
  readonly columns: Record<string, unknown>
  /** Multiple relations: field → ordered target ids. */
  readonly links: Map<Field, string[]>
  readonly id?: string
  readonly version?: number
}

const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/
const READ_ONLY = new Set(['created', 'updated', 'version'])

/**
 * Validates a create (`partial` false) or an update body against the schema and lists every bad field.
 * System fields cannot be assigned (only `id` on create, and `$version` as a precondition on update), and
 * hidden fields only by callers who may read them (`seeHidden`: admins and keys): a caller who cannot
 * read a field must not write it either, nor learn what it holds from a unique error.
 */
export function validateInput(
  c: Collection,
  body: unknown,
  partial: boolean,
  seeHidden: boolean,
): ValidInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw errors.badRequest('The body must be a JSON object.')
  }
  const input = body as Record<string, unknown>
  // Keyed by what the client sent: without a prototype, a `__proto__` key is an entry like any other.
  const errs: FieldErrors = Object.create(null)
  const columns: Record<string, unknown> = {}
  const links = new Map<Field, string[]>()
  const byName = new Map(c.fields.map((f) => [f.name, f]))
  let id: string | undefined
  let version: number | undefined
  for (const key of Object.keys(input)) {
    const v = input[key]
    if (key === 'id') {
      if (partial) errs.id = { code: 'read_only', message: 'The id cannot change.' }
      else if (!isUuid(v)) errs.id = { code: 'invalid', message: 'Must be a UUID.' }
      else id = v.toLowerCase()
    } else if (key === '$version') {
      if (!partial) errs.$version = { code: 'invalid', message: '$version applies to updates.' }
      else if (!Number.isInteger(v) || (v as number) < 1)
        errs.$version = { code: 'invalid', message: 'Must be a positive integer.' }
      else version = v as number
    } else if (READ_ONLY.has(key)) {
      errs[key] = { code: 'read_only', message: `${key} is set by the server.` }
    } else if (key === 'expand') {
      // Echoed back by clients that PATCH a record they read: ignore, it is not data.
    } else {
      const f = byName.get(key)
      if (!f) {
        errs[key] = { code: 'unknown', message: 'No such field.' }
        continue
      }
      if (f.system) {
        errs[key] = { code: 'read_only', message: `${key} is managed by auth.` }
        continue
      }
      if (f.hidden && !seeHidden) {
        errs[key] = { code: 'read_only', message: 'Only admins and API keys can set this field.' }
        continue
      }
      const r = checkValue(f, v)
      if (r instanceof Bad) errs[key] = r.error
      else if (!hasColumn(f)) links.set(f, (r as string[] | null) ?? [])
      else columns[f.name] = r
    }
  }
  if (!partial) {
    for (const f of c.fields) {
      // Own keys only: a field named `toString` is not "sent" by every body.
      const sent = Object.hasOwn(input, f.name)
      if (f.required && !sent && !errs[f.name])
        errs[f.name] = { code: 'required', message: 'This field is required.' }
      if (!sent && isMultiple(f) && hasColumn(f)) columns[f.name] = []
    }
  }
  if (Object.keys(errs).length > 0) throw errors.validation(errs)
  return { columns, links, ...(id ? { id } : {}), ...(version ? { version } : {}) }
}

/** A field error, distinguishable from any value (a json field's value may itself be an object). */
class Bad {
  constructor(readonly error: { code: string; message: string }) {}
}
type Checked = unknown
const bad = (code: string, message: string) => new Bad({ code, message })

function checkValue(f: Field, v: unknown): Checked {
  if (v === null || v === undefined) {
    if (f.required) return bad('required', 'This field is required.')
    return isMultiple(f) ? (f.type === 'relation' ? null : []) : null
  }
  if (isMultiple(f)) {
    if (!Array.isArray(v)) return bad('invalid', 'Must be an array.')
    if (v.length > 1000) return bad('too_many', 'At most 1000 values.')
    if (f.required && v.length === 0) return bad('required', 'This field is required.')
    const out: unknown[] = []
    for (const x of v) {
      const r = checkOne(f, x)
      if (r instanceof Bad) return r
      out.push(r)
    }
    // After normalizing: the same id in upper and lower case is one value.
    if (new Set(out).size !== out.length) return bad('duplicate', 'Values must be unique.')
    return out
  }
  return checkOne(f, v)
}

function checkOne(f: Field, v: unknown): Checked {
  const o = f.options
  switch (f.type) {
    case 'text': {
      if (typeof v !== 'string') return bad('invalid', 'Must be a string.')
      if (v.includes('\u0000')) return bad('invalid', 'Must not contain NUL characters.')
      const len = [...v].length
      if (f.required && len === 0) return bad('required', 'This field is required.')
      if (typeof o.min === 'number' && len < o.min) return bad('too_short', `At least ${o.min} characters.`)
      if (typeof o.max === 'number' && len > o.max) return bad('too_long', `At most ${o.max} characters.`)
      if (o.pattern !== undefined && !new RegExp(o.pattern, 'u').test(v))
        return bad('pattern', 'Does not match the required pattern.')
      return v
    }
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return bad('invalid', 'Must be a number.')
      if (o.integer && !Number.isSafeInteger(v)) return bad('invalid', 'Must be a whole number.')
      if (typeof o.min === 'number' && v < o.min) return bad('too_small', `At least ${o.min}.`)
      if (typeof o.max === 'number' && v > o.max) return bad('too_large', `At most ${o.max}.`)
      return v
    }
    case 'bool':
      return typeof v === 'boolean' ? v : bad('invalid', 'Must be true or false.')
    case 'date': {
      const d = typeof v === 'string' ? parseDate(v) : undefined
      if (!d || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999)
        return bad('invalid', 'Must be an ISO 8601 date.')
      if (typeof o.min === 'string' && d < new Date(o.min)) return bad('too_early', `Not before ${o.min}.`)
      if (typeof o.max === 'string' && d > new Date(o.max)) return bad('too_late', `Not after ${o.max}.`)
      return d.toISOString()
    }
    case 'email':
      if (typeof v !== 'string' || v.length > 320 || !EMAIL_RE.test(v))
        return bad('invalid', 'Must be an email address.')
      return v
    case 'url': {
      if (typeof v !== 'string' || v.length > 2048 || !/^https?:\/\/\S+$/i.test(v))
        return bad('invalid', 'Must be an http(s) URL.')
      try {
        new URL(v)
      } catch {
        return bad('invalid', 'Must be an http(s) URL.')
      }
      return v
    }
    case 'json':
      if (hasNul(v, 0))
        return bad('invalid', 'Must not contain NUL characters or nest deeper than 64 levels.')
      return JSON.stringify(v)
    case 'select':
      if (typeof v !== 'string' || !o.values?.includes(v))
        return bad('invalid', `Must be one of: ${o.values?.join(', ')}.`)
      return v
    case 'relation':
      return isUuid(v) ? v.toLowerCase() : bad('invalid', 'Must be a record id (UUID).')
    case 'file': {
      // The key of an object in the field's bucket (whether it exists is checked when it is attached).
      if (typeof v !== 'string') return bad('invalid', 'Must be an object key.')
      const problem = keyProblem(v)
      return problem ? bad('invalid', problem) : v
    }
  }
}

function hasNul(v: unknown, depth: number): boolean {
  if (depth > 64) return true
  if (typeof v === 'string') return v.includes('\u0000')
  if (Array.isArray(v)) return v.some((x) => hasNul(x, depth + 1))
  if (v && typeof v === 'object')
    return Object.entries(v).some(([k, x]) => k.includes('\u0000') || hasNul(x, depth + 1))
  return false
}
