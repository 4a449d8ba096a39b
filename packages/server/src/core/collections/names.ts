import { filterEngine } from '@bastide/protocol'
import { SYSTEM_FIELDS } from './types.ts'

const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/
export const MAX_NAME_LENGTH = 50

/** Words that would be ambiguous in the filter language or in record JSON. */
const RESERVED = new Set([
  ...SYSTEM_FIELDS,
  'true',
  'false',
  'null',
  'expand',
  'collection',
  'collectionid',
  'collectionname',
  'request',
  'now',
])

/** Returns why `name` cannot name a collection or field, or undefined when it can. */
export function nameProblem(name: unknown, what: 'collection' | 'field' | 'index'): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return `A ${what} name is required.`
  if (name.length > MAX_NAME_LENGTH) return `A ${what} name has at most ${MAX_NAME_LENGTH} characters.`
  if (!NAME_RE.test(name)) {
    return `A ${what} name starts with a letter and holds only letters, digits and underscores.`
  }
  if (RESERVED.has(name.toLowerCase())) return `'${name}' is reserved.`
  if (name.includes('__')) return `A ${what} name cannot contain '__'.`
  if (name.includes('_via_'))
    return `A ${what} name cannot contain '_via_' (it names back-relations in expand).`
  const lower = name.toLowerCase()
  if (lower.startsWith('pg_') || lower.startsWith('bst_') || lower.startsWith('bastide')) {
    return `'${name}' uses a system prefix (pg_, bst_, bastide).`
  }
  return undefined
}

/** `comments_via_post` → { collection: 'comments', field: 'post' }: a back-relation's name in paths and expand. */
export const parseBackRelation = filterEngine.parseBackRelation
