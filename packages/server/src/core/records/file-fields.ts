import type { Tx } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { Principal } from '../auth/principal.ts'
import { type Collection, type Field, isMultiple } from '../collections/types.ts'
import type { FieldErrors } from './validate.ts'

/**
 * `file` fields hold keys of objects in their bucket (a text column, or text[] when multiple). The objects
 * belong to the record: keys that leave a record (an update replaces or drops them, the record is deleted,
 * by a cascade too) have their objects deleted in the same transaction. The storage side is behind this
 * interface (see core/files/attachments.ts), so records do not depend on how files are stored.
 */
export interface FileHooks {
  canAttach(bucket: string, key: string, p: Principal): Promise<boolean>
  release(tx: Tx, bucket: string, keys: readonly string[]): Promise<void>
}

/** Keys uploaded for this write, by field name: they exist and were made for this record. */
export type Uploads = Readonly<Record<string, readonly string[]>>

export const fileFields = (c: Collection): Field[] => c.fields.filter((f) => f.type === 'file')

/** A file field's value as a list of keys. */
export function keysOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string')
  return typeof v === 'string' && v !== '' ? [v] : []
}

/**
 * Puts uploaded keys into the body: a single field takes its upload as its value (sending a value as well is
 * ambiguous, and refused); a multiple field gets them after the values the body sends for it, or, when the
 * body leaves it out, after its current values (`append`, done in SQL by an update, so that concurrent
 * uploads to the same record both land).
 */
export function mergeUploads(
  c: Collection,
  body: unknown,
  uploads: Uploads | undefined,
  partial: boolean,
): { body: unknown; append: Map<Field, string[]> } {
  const append = new Map<Field, string[]>()
  if (!uploads || Object.keys(uploads).length === 0) return { body, append }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { body, append }
  const out: Record<string, unknown> = { ...(body as Record<string, unknown>) }
  const errs: FieldErrors = {}
  for (const [name, keys] of Object.entries(uploads)) {
    const f = c.fields.find((x) => x.name === name && x.type === 'file')
    if (!f || keys.length === 0) continue
    if (!isMultiple(f)) {
      if (Object.hasOwn(out, name))
        errs[name] = { code: 'ambiguous', message: 'Sent both as a file and as a value; send one.' }
      else out[name] = keys[0]
    } else if (Object.hasOwn(out, name)) {
      if (Array.isArray(out[name])) out[name] = [...(out[name] as unknown[]), ...keys]
    } else if (partial) append.set(f, [...keys])
    else out[name] = [...keys]
  }
  if (Object.keys(errs).length > 0) throw errors.validation(errs)
  return { body: out, append }
}

/**
 * Checks that the keys a write adds to file fields (beyond the uploads made for it) name objects the caller
 * may attach; refused keys answer 400 VALIDATION_FAILED (`not_found`, as for a missing related record), so
 * nobody can attach, and thereby read or delete, someone else's file.
 */
export async function checkAttached(
  hooks: FileHooks,
  added: ReadonlyMap<Field, readonly string[]>,
  uploads: Uploads | undefined,
  p: Principal,
): Promise<void> {
  const errs: FieldErrors = {}
  for (const [f, keys] of added) {
    const mine = new Set(uploads && Object.hasOwn(uploads, f.name) ? uploads[f.name] : [])
    for (const key of keys) {
      if (mine.has(key)) continue
      if (!(await hooks.canAttach(f.options.bucket!, key, p))) {
        errs[f.name] = {
          code: 'not_found',
          message: `No object '${key}' that you may attach exists in the ${f.options.bucket} bucket.`,
        }
        break
      }
    }
  }
  if (Object.keys(errs).length > 0) throw errors.validation(errs)
}

/** Keys in `after` and not in `before`, and the reverse, per file field. */
export function diffKeys(
  fields: readonly Field[],
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>> | undefined,
): { added: Map<Field, string[]>; removed: Map<Field, string[]> } {
  const added = new Map<Field, string[]>()
  const removed = new Map<Field, string[]>()
  for (const f of fields) {
    const a = keysOf(before?.[f.name])
    const b = keysOf(after?.[f.name])
    const plus = b.filter((k) => !a.includes(k))
    const minus = a.filter((k) => !b.includes(k))
    if (plus.length) added.set(f, plus)
    if (minus.length) removed.set(f, minus)
  }
  return { added, removed }
}

/** Deletes the objects of `removed` in the write's transaction. */
export async function releaseKeys(
  hooks: FileHooks,
  tx: Tx,
  removed: ReadonlyMap<Field, readonly string[]>,
): Promise<void> {
  for (const [f, keys] of removed) await hooks.release(tx, f.options.bucket!, keys)
}
