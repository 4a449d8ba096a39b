import { type RawBuilder, sql } from 'kysely'
import { errors } from '../../errors/index.ts'
import { authRecord, hasScope, type Principal, type Scope } from '../auth/principal.ts'
import type { Collection } from '../collections/types.ts'
import type { BExpr, Lookup, RuleRequest } from './bind.ts'
import { compileFilter } from './compile-sql.ts'
import { bindFilter } from './index.ts'

/**
 * The one access decision, for records, record files, storage objects, realtime subscriptions and channels:
 * - `bypass`: an admin, or an API key holding the scope the action needs (a key without it is refused, 403);
 * - `locked`: the rule is null (or nothing defines one): nobody but those who bypass;
 * - `public`: the rule is empty or folds to true for this caller;
 * - `denied`: the rule folds to false for this caller, so the caller is answered before any query;
 * - `expression`: a parameterized SQL predicate over the row (alias `r` unless told), ANDed into the statement.
 * What each answer means on the wire (403, 404, an empty list) is the caller's: it depends on the action.
 */
export type Decision =
  | { readonly kind: 'bypass' }
  | { readonly kind: 'locked' }
  | { readonly kind: 'public' }
  | { readonly kind: 'denied' }
  | { readonly kind: 'expression'; readonly expr: BExpr; readonly predicate: RawBuilder<unknown> }

export interface Guard {
  /** null: locked; '': public; otherwise an expression. undefined: nothing defines a rule, so locked. */
  readonly rule: string | null | undefined
  /** What an API key must hold to bypass the rule. */
  readonly scope: Scope
  /** What the rule reads as the row: a collection, OBJECTS_SCHEMA or CHANNEL_SCHEMA. */
  readonly schema: Collection
  readonly lookup: Lookup
  /** The request as rules see it (@request.*); `auth` comes from the principal. */
  readonly request?: Omit<RuleRequest, 'auth'>
  /** The alias the predicate names the row by. */
  readonly alias?: string
}

const BYPASS: Decision = Object.freeze({ kind: 'bypass' })
const LOCKED: Decision = Object.freeze({ kind: 'locked' })
const PUBLIC: Decision = Object.freeze({ kind: 'public' })
const DENIED: Decision = Object.freeze({ kind: 'denied' })

/** The SQL of a decision no row satisfies (locked, denied). */
export const NO_ROW: RawBuilder<unknown> = sql`FALSE`

/**
 * Admins, and API keys within `scope`, bypass rules. A key outside its scopes is refused here, whatever the
 * rule says: a key reaches app data as an integration, never as an anonymous caller.
 */
export function bypassesRules(p: Principal, scope: Scope): boolean {
  if (p.kind === 'admin') return true
  if (p.kind !== 'key') return false
  if (!hasScope(p, scope)) throw errors.forbidden(`This API key lacks the ${scope} scope.`)
  return true
}

/**
 * The decision as far as it goes without binding the rule (`expression` stands for any rule with one): enough
 * to refuse a write before reading its body, as a multipart upload must.
 */
export function gate(p: Principal, rule: string | null | undefined, scope: Scope): Decision['kind'] {
  if (bypassesRules(p, scope)) return 'bypass'
  if (rule === null || rule === undefined) return 'locked'
  return rule.trim() === '' ? 'public' : 'expression'
}

/** Who may do what `g` guards. Throws on a rule that no longer binds (the caller decides what that means). */
export function authorize(p: Principal, g: Guard): Decision {
  switch (gate(p, g.rule, g.scope)) {
    case 'bypass':
      return BYPASS
    case 'locked':
      return LOCKED
    case 'public':
      return PUBLIC
  }
  const rule = g.rule as string
  const alias = g.alias ?? 'r'
  // A rule that reads neither the request (no @ macro) nor another collection (no dotted path) compiles to
  // the same SQL for every caller: kept with the schema object, which a schema change replaces.
  const cacheable = !rule.includes('@') && !rule.includes('.')
  const key = `${alias}\n${rule}`
  const cached = cacheable ? decisions.get(g.schema)?.get(key) : undefined
  if (cached) return cached
  const bound = bindFilter(rule, g.schema, g.lookup, { ...g.request, auth: authRecord(p) }, false)
  const d: Decision =
    bound.kind === 'const'
      ? bound.value
        ? PUBLIC
        : DENIED
      : Object.freeze({ kind: 'expression', expr: bound, predicate: compileFilter(bound, alias) })
  if (cacheable) remember(g.schema, key, d)
  return d
}

/** No row can pass (locked, or a rule false for this caller): the caller is answered before any query. */
export const deniesAll = (d: Decision): boolean => d.kind === 'locked' || d.kind === 'denied'

/** The predicate to AND into a statement: undefined when every row passes, NO_ROW when none does. */
export function predicateOf(d: Decision): RawBuilder<unknown> | undefined {
  switch (d.kind) {
    case 'bypass':
    case 'public':
      return undefined
    case 'locked':
    case 'denied':
      return NO_ROW
    case 'expression':
      return d.predicate
  }
}

const decisions = new WeakMap<Collection, Map<string, Decision>>()
/** The expressions kept in `decisions`: one object per rule and schema, whoever the caller. */
const shared = new WeakSet<Decision>()

/**
 * Whether `d` is the one object every caller of its rule gets, so that what is built from its SQL can be
 * kept keyed by it: true for the answers without a predicate and for cached expressions; false for an
 * expression bound for this request (a rule reading @request or another collection).
 */
export const isShared = (d: Decision): boolean => d.kind !== 'expression' || shared.has(d)

/** Built-in schemas (objects, channels) live forever: their cache is bounded, as rule edits accumulate. */
const MAX_PER_SCHEMA = 256

function remember(schema: Collection, key: string, d: Decision): void {
  let m = decisions.get(schema)
  if (!m) decisions.set(schema, (m = new Map()))
  if (m.size >= MAX_PER_SCHEMA) m.clear()
  m.set(key, d)
  shared.add(d)
}
