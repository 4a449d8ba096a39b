import type { CollectionRules, CollectionSchema, FieldSchema, RuleAction } from '@bastide/protocol'
import { fieldsOf } from './draft.ts'

export type SnippetAction = 'list' | 'view' | 'create' | 'update' | 'delete'
export const SNIPPET_ACTIONS: readonly SnippetAction[] = ['list', 'view', 'create', 'update', 'delete']

export interface Snippet {
  readonly action: SnippetAction
  readonly curl: string
  readonly sdk: string
}

/** Fields a client writes: the server manages system fields (the `users` collection's auth columns). */
export function writableFields(c: Pick<CollectionSchema, 'fields'>): FieldSchema[] {
  return fieldsOf(c).filter((f) => !f.system)
}

/** A plausible value for a field, matching its options (used in create and update examples). */
export function sampleValue(f: FieldSchema): unknown {
  const o = f.options ?? {}
  const many = o.multiple === true
  switch (f.type) {
    case 'text': {
      const min = typeof o.min === 'number' ? o.min : 0
      const base = `Some ${f.name}`
      return base.length >= min ? base : base.padEnd(min, '.')
    }
    case 'number': {
      const min = typeof o.min === 'number' ? o.min : undefined
      const max = typeof o.max === 'number' ? o.max : undefined
      let v = 42
      if (min !== undefined && v < min) v = min
      if (max !== undefined && v > max) v = max
      return o.integer ? Math.round(v) : v
    }
    case 'bool':
      return true
    case 'date':
      return typeof o.min === 'string' ? o.min : '2026-01-31T12:00:00.000Z'
    case 'email':
      return 'ada@example.com'
    case 'url':
      return 'https://example.com'
    case 'json':
      return { key: 'value' }
    case 'select': {
      const v = o.values?.[0] ?? 'value'
      return many ? [v] : v
    }
    case 'relation': {
      // Not `<…>`: curl -F reads `name=<file` from a file.
      const id = `${(o.collection ?? 'record').toUpperCase()}_ID`
      return many ? [id] : id
    }
    case 'file':
      return undefined
  }
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** curl and SDK examples for each action, with the collection's real field names. */
export function buildSnippets(c: CollectionSchema, origin: string): Snippet[] {
  const base = `${origin.replace(/\/+$/, '')}/api/collections/${c.name}/records`
  const fields = writableFields(c)
  const files = fields.filter((f) => f.type === 'file')
  const data: Record<string, unknown> = {}
  for (const f of fields) if (f.type !== 'file') data[f.name] = sampleValue(f)
  const firstText = fields.find((f) => !f.hidden && (f.type === 'text' || f.type === 'email'))
  const relations = fields.filter((f) => f.type === 'relation').map((f) => f.name)
  const filter = firstText ? `${firstText.name} ~ 'hello'` : "created > '2026-01-01'"
  const updateField = fields.find((f) => f.type !== 'file')
  const update: Record<string, unknown> = updateField ? { [updateField.name]: sampleValue(updateField) } : {}
  const auth = '-H "Authorization: Bearer $TOKEN"'
  const col = `client.collection(${JSON.stringify(c.name)})`
  const expandOpt = relations.length ? `, expand: ${JSON.stringify(relations)}` : ''
  const expandQs = relations.length ? ` \\\n  --data-urlencode 'expand=${relations.join(',')}'` : ''
  const json = (v: unknown) => JSON.stringify(v, null, 2)
  const jsObject = (v: Record<string, unknown>, extra: string[] = []) => {
    const lines = Object.entries(v).map(([k, x]) => `  ${k}: ${JSON.stringify(x)},`)
    return `{\n${[...lines, ...extra].join('\n')}\n}`
  }

  const createCurl =
    files.length === 0
      ? `curl -X POST ${q(base)} \\\n  ${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d ${q(json(data))}`
      : [
          `curl -X POST ${q(base)} \\`,
          `  ${auth} \\`,
          ...Object.entries(data).map(
            ([k, v]) => `  -F ${q(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)} \\`,
          ),
          ...files.map(
            (f, i) => `  -F ${q(`${f.name}=@./${f.name}.jpg`)}${i < files.length - 1 ? ' \\' : ''}`,
          ),
        ].join('\n')
  const createSdk = `const record = await ${col}.create(${jsObject(
    data,
    files.map((f) => `  ${f.name}: file, // a File or Blob${f.options?.multiple ? ' (or an array)' : ''}`),
  )})`

  return [
    {
      action: 'list',
      curl: `curl -G ${q(base)} \\\n  ${auth} \\\n  --data-urlencode ${q(`filter=${filter}`)} \\\n  --data-urlencode 'sort=-created' \\\n  --data-urlencode 'perPage=20'${expandQs}`,
      sdk: `const { items, nextCursor } = await ${col}.list({\n  filter: ${JSON.stringify(filter)},\n  sort: ['-created'],\n  perPage: 20${expandOpt},\n})`,
    },
    {
      action: 'view',
      curl: `curl ${q(`${base}/RECORD_ID`)} \\\n  ${auth}`,
      sdk: `const record = await ${col}.getOne(id${relations.length ? `, { expand: ${JSON.stringify(relations)} }` : ''})`,
    },
    { action: 'create', curl: createCurl, sdk: createSdk },
    {
      action: 'update',
      curl: `curl -X PATCH ${q(`${base}/RECORD_ID`)} \\\n  ${auth} \\\n  -H 'Content-Type: application/json' \\\n  -H 'If-Match: "1"' \\\n  -d ${q(json(update))}`,
      sdk: `// version: fails with VERSION_MISMATCH if someone changed it since you read it\nconst updated = await ${col}.update(record.id, ${jsObject(update)}, { version: record.version })`,
    },
    {
      action: 'delete',
      curl: `curl -X DELETE ${q(`${base}/RECORD_ID`)} \\\n  ${auth}`,
      sdk: `await ${col}.delete(record.id)`,
    },
  ]
}

/** Who may do `action`, in plain words. */
export function describeRule(rule: string | null): string {
  if (rule === null) return 'Locked: only console admins and API keys with a records scope.'
  if (rule.trim() === '') return 'Everyone, signed in or not.'
  const signedIn = /@request\.auth\.id\s*!=\s*(''|"")/.test(rule)
  const own = /=\s*@request\.auth\.id|@request\.auth\.id\s*=(?!=)/.test(rule)
  const parts: string[] = []
  if (signedIn) parts.push('signed-in users')
  if (own) parts.push('only for records tied to the signed-in user')
  const gist = parts.length ? ` (${parts.join('; ')})` : ''
  return `Only when the rule holds${gist}: ${rule}`
}

const VERBS: Record<RuleAction, string> = {
  list: 'List',
  view: 'View one',
  create: 'Create',
  update: 'Update',
  delete: 'Delete',
}

/** One line per action: who may do it. */
export function describeRules(rules: CollectionRules): { action: RuleAction; verb: string; text: string }[] {
  return (Object.keys(VERBS) as RuleAction[]).map((a) => ({
    action: a,
    verb: VERBS[a],
    text: describeRule(rules[a]),
  }))
}
