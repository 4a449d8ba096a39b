import { createHash } from 'node:crypto'
import {
  type SchemaBucket,
  type SchemaChange,
  type SchemaChannel,
  type SchemaCollection,
  type SchemaDocument,
  type SchemaField,
  stableJson,
} from '@bastide/protocol'
import { RULE_ACTIONS } from '../collections/types.ts'

/**
 * What turning the instance's schema (`current`) into `desired` takes, one entry per DDL-level change, in the
 * order they are applied. Objects are matched by name; a `renamedFrom` hint matches a collection or field under
 * its old name (a rename keeps the data, where drop + add would lose it). Built-in collections (`users`) left out of
 * `desired` are left as they are; their system fields are never part of a plan.
 */
export function planSchema(current: SchemaDocument, desired: SchemaDocument): SchemaChange[] {
  const out: SchemaChange[] = []
  const add = (op: SchemaChange['op'], target: string, description: string, destructive = false) =>
    out.push({ op, target, description, destructive })

  for (const [b, was] of pair(current.buckets, desired.buckets, (x) => x.name)) {
    if (!was) add('bucket.create', b.name, `create bucket ${b.name}${bucketTraits(b)}`)
  }
  const matched = matchCollections(current.collections, desired.collections)
  for (const { want, was } of matched) {
    if (!was) {
      const n = want.fields.length
      add(
        'collection.create',
        want.name,
        `create collection ${want.name} (${n} field${n === 1 ? '' : 's'}: ${want.fields.map((f) => `${f.name} ${f.type}`).join(', ')}${want.indexes.length ? `; ${want.indexes.length} index(es)` : ''})`,
      )
      continue
    }
    if (was.name !== want.name)
      add('collection.rename', want.name, `rename collection ${was.name} to ${want.name} (records kept)`)
    planFields(want, was, add)
    const key = (ix: SchemaCollection['indexes'][number]) =>
      `${ix.unique ? 'unique ' : ''}(${ix.fields.join(', ')})`
    const before = new Set(was.indexes.map(key))
    const after = new Set(want.indexes.map(key))
    for (const k of before) if (!after.has(k)) add('index.drop', want.name, `drop index ${k} on ${want.name}`)
    for (const k of after) if (!before.has(k)) add('index.add', want.name, `add index ${k} on ${want.name}`)
    const rules = RULE_ACTIONS.filter((a) => want.rules[a] !== was.rules[a])
    if (rules.length > 0)
      add(
        'rules.update',
        want.name,
        `rules of ${want.name}: ${rules.map((a) => `${a} ${showRule(was.rules[a])} → ${showRule(want.rules[a])}`).join('; ')}`,
      )
  }
  const kept = new Set(matched.flatMap((m) => (m.was ? [m.was.name] : [])))
  for (const c of current.collections) {
    if (kept.has(c.name) || c.system) continue
    add('collection.drop', c.name, `drop collection ${c.name} and all its records`, true)
  }
  for (const [b, was] of pair(current.buckets, desired.buckets, (x) => x.name)) {
    if (!was) continue
    const diffs = differences(was, b, ['public', 'maxFileSize', 'allowedMimeTypes'])
    for (const a of ['read', 'write', 'delete'] as const)
      if (was.rules[a] !== b.rules[a])
        diffs.push(`rule ${a} ${showRule(was.rules[a])} → ${showRule(b.rules[a])}`)
    if (diffs.length) add('bucket.update', b.name, `bucket ${b.name}: ${diffs.join('; ')}`)
  }
  for (const b of gone(current.buckets, desired.buckets, (x) => x.name))
    add('bucket.delete', b.name, `delete bucket ${b.name} (refused while it holds files)`, true)
  for (const [c, was] of pair(current.channels, desired.channels, (x) => x.pattern)) {
    if (!was) {
      add('channel.create', c.pattern, `define channel ${c.pattern}${channelTraits(c)}`)
      continue
    }
    const diffs = differences(was, c, ['presence'])
    for (const a of ['join', 'send'] as const)
      if (was.rules[a] !== c.rules[a])
        diffs.push(`rule ${a} ${showRule(was.rules[a])} → ${showRule(c.rules[a])}`)
    if (diffs.length) add('channel.update', c.pattern, `channel ${c.pattern}: ${diffs.join('; ')}`)
  }
  for (const c of gone(current.channels, desired.channels, (x) => x.pattern))
    add(
      'channel.delete',
      c.pattern,
      `remove the definition of channel ${c.pattern} (its channels become locked)`,
    )
  return out
}

/** Identifies one plan: the instance's schema and the target. An apply with `expectHash` applies exactly it. */
export function planHash(current: SchemaDocument, desired: SchemaDocument): string {
  return createHash('sha256').update(stableJson({ current, desired })).digest('hex')
}

export interface CollectionMatch {
  readonly want: SchemaCollection
  /** The instance's collection it becomes (by name, else by `renamedFrom`); undefined: a new one. */
  readonly was: SchemaCollection | undefined
}

export function matchCollections(
  current: readonly SchemaCollection[],
  desired: readonly SchemaCollection[],
): CollectionMatch[] {
  const byName = new Map(current.map((c) => [c.name, c]))
  return desired.map((want) => ({
    want,
    was:
      byName.get(want.name) ??
      (want.renamedFrom !== undefined && !desired.some((d) => d.name === want.renamedFrom)
        ? byName.get(want.renamedFrom)
        : undefined),
  }))
}

/** The instance's field a desired field becomes: same name, else the one its `renamedFrom` names. */
export function matchField(want: SchemaField, was: SchemaCollection, desired: SchemaCollection) {
  return (
    was.fields.find((f) => f.name === want.name) ??
    (want.renamedFrom !== undefined && !desired.fields.some((d) => d.name === want.renamedFrom)
      ? was.fields.find((f) => f.name === want.renamedFrom)
      : undefined)
  )
}

type Add = (op: SchemaChange['op'], target: string, description: string, destructive?: boolean) => void

function planFields(want: SchemaCollection, was: SchemaCollection, add: Add): void {
  const used = new Set<string>()
  for (const f of want.fields) {
    if (f.system) {
      // Listed so that the apply reports the refusal (auth manages them) rather than silently ignoring the edit.
      const sys = was.fields.find((x) => x.system && x.name === f.name)
      if (sys && stableJson(withoutHint(sys)) !== stableJson(withoutHint(f)))
        add(
          'field.update',
          `${want.name}.${f.name}`,
          `change built-in field ${want.name}.${f.name} (not allowed)`,
        )
      continue
    }
    const old = matchField(f, was, want)
    const target = `${want.name}.${f.name}`
    if (!old || old.system) {
      const note = f.required ? ' (required: refused if the collection has records)' : ''
      add('field.add', target, `add field ${target} ${f.type}${fieldTraits(f)}${note}`)
      continue
    }
    used.add(old.name)
    if (old.name !== f.name)
      add('field.rename', target, `rename field ${want.name}.${old.name} to ${f.name} (values kept)`)
    const diffs: string[] = []
    let destructive = false
    if (old.type !== f.type || Boolean(old.options.integer) !== Boolean(f.options.integer)) {
      const lossy = !safeRetype(old, f)
      destructive ||= lossy
      diffs.push(`type ${typeName(old)} → ${typeName(f)}${lossy ? ' (values may be lost or rounded)' : ''}`)
    }
    for (const k of ['required', 'unique', 'hidden'] as const)
      if (old[k] !== f[k]) diffs.push(`${k} ${old[k]} → ${f[k]}`)
    const removed = (old.options.values ?? []).filter((v) => !(f.options.values ?? []).includes(v))
    if (f.type === 'select' && old.type === 'select' && removed.length > 0) {
      destructive = true
      diffs.push(`select values removed: ${removed.join(', ')}`)
    }
    const { integer: _a, ...oldOptions } = old.options
    const { integer: _b, ...newOptions } = f.options
    if (stableJson(oldOptions) !== stableJson(newOptions))
      diffs.push(`options ${JSON.stringify(oldOptions)} → ${JSON.stringify(newOptions)}`)
    if (diffs.length) add('field.update', target, `change field ${target}: ${diffs.join('; ')}`, destructive)
  }
  for (const old of was.fields) {
    if (old.system || used.has(old.name)) continue
    add('field.drop', `${want.name}.${old.name}`, `drop field ${want.name}.${old.name} and its values`, true)
  }
  // Field order is the order of a record's properties: worth a line when it changes.
  const newName = new Map<string, string>()
  for (const f of want.fields) {
    const old = f.system ? f : matchField(f, was, want)
    if (old) newName.set(old.name, f.name)
  }
  const wasOrder = was.fields.flatMap((f) => newName.get(f.name) ?? [])
  const wantOrder = want.fields.map((f) => f.name).filter((n) => wasOrder.includes(n))
  if (wasOrder.join() !== wantOrder.join())
    add('field.update', want.name, `reorder the fields of ${want.name}: ${wantOrder.join(', ')}`)
}

const withoutHint = ({ renamedFrom: _, ...f }: SchemaField) => f

const typeName = (f: SchemaField) =>
  f.type === 'number'
    ? f.options.integer
      ? 'number (integer)'
      : 'number'
    : `${f.type}${f.options.multiple ? '[]' : ''}`

/** Conversions that keep every value as it was (anything else may fail, round or drop values). */
function safeRetype(from: SchemaField, to: SchemaField): boolean {
  const textual = (f: SchemaField) =>
    ['text', 'email', 'url', 'select'].includes(f.type) && !f.options.multiple
  if (from.type === 'number' && to.type === 'number')
    return !to.options.integer || Boolean(from.options.integer)
  if (textual(to) && to.type === 'text') return !from.options.multiple && from.type !== 'file'
  if (textual(from) && textual(to)) return true
  if (from.type === 'bool' && to.type === 'number') return true
  if (from.type === 'text' && to.type === 'json') return true
  return false
}

function showRule(r: string | null): string {
  return r === null ? 'locked' : r === '' ? 'everyone' : JSON.stringify(r)
}

function fieldTraits(f: SchemaField): string {
  const t = [f.required && 'required', f.unique && 'unique', f.hidden && 'hidden'].filter(Boolean)
  const o = Object.keys(f.options).length ? ` ${JSON.stringify(f.options)}` : ''
  return `${t.length ? ` (${t.join(', ')})` : ''}${o}`
}

function bucketTraits(b: SchemaBucket): string {
  return b.public ? ' (public)' : ''
}

function channelTraits(c: SchemaChannel): string {
  return `: join ${showRule(c.rules.join)}, send ${showRule(c.rules.send)}${c.presence ? ', presence' : ''}`
}

function differences<T extends object>(a: T, b: T, keys: readonly (keyof T)[]): string[] {
  return keys
    .filter((k) => stableJson(a[k]) !== stableJson(b[k]))
    .map((k) => `${String(k)} ${JSON.stringify(a[k])} → ${JSON.stringify(b[k])}`)
}

function pair<T>(current: readonly T[], desired: readonly T[], key: (t: T) => string): [T, T | undefined][] {
  const byKey = new Map(current.map((c) => [key(c), c]))
  return desired.map((d) => [d, byKey.get(key(d))])
}

function gone<T>(current: readonly T[], desired: readonly T[], key: (t: T) => string): T[] {
  const keep = new Set(desired.map(key))
  return current.filter((c) => !keep.has(key(c)))
}
