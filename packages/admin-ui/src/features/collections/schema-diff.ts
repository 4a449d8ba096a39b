import type { CollectionRules, FieldSchema, IndexSchema } from '@bastide/protocol'

/** One readable line of a schema change. */
export interface Change {
  readonly kind:
    | 'created'
    | 'deleted'
    | 'renamed'
    | 'added'
    | 'removed'
    | 'retyped'
    | 'changed'
    | 'rule'
    | 'index'
  readonly text: string
  /** For rules: the before and after texts, shown side by side. */
  readonly before?: string
  readonly after?: string
}

interface Side {
  readonly name?: string
  readonly fields?: readonly FieldSchema[]
  readonly indexes?: readonly IndexSchema[]
  readonly rules?: Partial<CollectionRules>
}

const ruleText = (r: string | null | undefined) =>
  r === null || r === undefined ? 'locked' : r.trim() === '' ? 'everyone' : r

function describeField(f: FieldSchema): string {
  const o = f.options ?? {}
  const bits: string[] = [f.type]
  if (f.type === 'relation' && o.collection) bits[0] = `relation → ${o.collection}`
  if (f.type === 'file' && o.bucket) bits[0] = `file in ${o.bucket}`
  if (o.multiple) bits.push('multiple')
  if (f.required) bits.push('required')
  if (f.unique) bits.push('unique')
  if (f.hidden) bits.push('hidden')
  return `${f.name} (${bits.join(', ')})`
}

const FLAGS = ['required', 'unique', 'hidden'] as const

function fieldChanges(before: FieldSchema, after: FieldSchema): Change[] {
  const out: Change[] = []
  if (before.name !== after.name)
    out.push({ kind: 'renamed', text: `Field ${before.name} renamed to ${after.name}` })
  if (before.type !== after.type)
    out.push({ kind: 'retyped', text: `Field ${after.name} changed type: ${before.type} → ${after.type}` })
  for (const flag of FLAGS) {
    if ((before[flag] ?? false) !== (after[flag] ?? false))
      out.push({
        kind: 'changed',
        text: `Field ${after.name} ${after[flag] ? 'is now' : 'is no longer'} ${flag}`,
      })
  }
  const bo = (before.options ?? {}) as Record<string, unknown>
  const ao = (after.options ?? {}) as Record<string, unknown>
  for (const k of [...new Set([...Object.keys(bo), ...Object.keys(ao)])].sort()) {
    const b = JSON.stringify(bo[k])
    const a = JSON.stringify(ao[k])
    if (b === a || before.type !== after.type) continue
    out.push({
      kind: 'changed',
      text: `Field ${after.name}: ${k} ${b === undefined ? 'set to' : `${b} →`} ${a === undefined ? 'removed' : a}`,
    })
  }
  return out
}

const indexText = (ix: IndexSchema) => `${ix.unique ? 'unique index' : 'index'} on (${ix.fields.join(', ')})`

/**
 * The changes an audit entry records (`collection.create|update|delete`, its diff holding only the top-level
 * properties that differ), as readable lines: fields matched by id, so a rename is a rename, not a drop and an add.
 */
export function schemaChanges(action: string, diff: { before?: unknown; after?: unknown } | null): Change[] {
  const before = (diff?.before ?? {}) as Side
  const after = (diff?.after ?? {}) as Side
  if (action.endsWith('.create')) {
    return [
      { kind: 'created', text: `Created${after.name ? ` ${after.name}` : ''}` },
      ...(after.fields ?? [])
        .filter((f) => !f.system)
        .map((f): Change => ({ kind: 'added', text: `Field ${describeField(f)}` })),
      ...(after.indexes ?? []).map((ix): Change => ({ kind: 'index', text: `With ${indexText(ix)}` })),
      ...ruleChanges({}, after.rules ?? {}, true),
    ]
  }
  if (action.endsWith('.delete'))
    return [{ kind: 'deleted', text: `Deleted${before.name ? ` ${before.name}` : ''}` }]
  const out: Change[] = []
  if (before.name !== undefined && after.name !== undefined && before.name !== after.name)
    out.push({ kind: 'renamed', text: `Collection renamed from ${before.name} to ${after.name}` })
  if (before.fields || after.fields) {
    const was = before.fields ?? []
    const is = after.fields ?? []
    const byId = new Map(was.map((f) => [f.id, f]))
    const kept = new Set<string | undefined>()
    for (const f of is) {
      const old = f.id !== undefined ? byId.get(f.id) : undefined
      if (!old) out.push({ kind: 'added', text: `Field ${describeField(f)} added` })
      else {
        kept.add(f.id)
        out.push(...fieldChanges(old, f))
      }
    }
    for (const f of was) if (!kept.has(f.id)) out.push({ kind: 'removed', text: `Field ${f.name} removed` })
    const order = (fs: readonly FieldSchema[]) =>
      fs
        .filter((f) => kept.has(f.id))
        .map((f) => f.id)
        .join()
    if (order(was) !== order(is)) out.push({ kind: 'changed', text: 'Fields reordered' })
  }
  if (before.indexes || after.indexes) {
    const key = (ix: IndexSchema) => `${ix.unique ? 'u' : ''}:${ix.fields.join()}`
    const was = new Map((before.indexes ?? []).map((ix) => [key(ix), ix]))
    const is = new Map((after.indexes ?? []).map((ix) => [key(ix), ix]))
    for (const [k, ix] of is) if (!was.has(k)) out.push({ kind: 'index', text: `Added ${indexText(ix)}` })
    for (const [k, ix] of was) if (!is.has(k)) out.push({ kind: 'index', text: `Removed ${indexText(ix)}` })
  }
  if (before.rules || after.rules) out.push(...ruleChanges(before.rules ?? {}, after.rules ?? {}, false))
  return out
}

function ruleChanges(
  before: Partial<CollectionRules>,
  after: Partial<CollectionRules>,
  created: boolean,
): Change[] {
  const out: Change[] = []
  for (const a of ['list', 'view', 'create', 'update', 'delete'] as const) {
    const b = ruleText(before[a])
    const n = ruleText(after[a])
    if (created ? n === 'locked' : b === n) continue
    out.push({
      kind: 'rule',
      text: created ? `${a} rule: ${n}` : `${a} rule: ${b} → ${n}`,
      ...(created ? {} : { before: b, after: n }),
    })
  }
  return out
}
