import { type RawBuilder, sql } from 'kysely'
import type { Collection } from '../collections/types.ts'
import type { Lookup, RuleRequest } from './bind.ts'
import { compileFilter } from './compile-sql.ts'
import { bindFilter } from './index.ts'

/** The SQL of a rule no row satisfies; compare by identity to answer a denied caller before any query. */
export const DENIED: RawBuilder<unknown> = sql`FALSE`

/**
 * A collection rule (trusted: an admin wrote it, so it may read hidden fields) for one request, as a
 * predicate over the row aliased `r`: undefined when every row passes ("" or a rule that folds to true),
 * DENIED when none can. A locked (null) rule is the caller's to answer: it depends on the action.
 */
export function compileRule(
  rule: string,
  c: Collection,
  lookup: Lookup,
  request: RuleRequest,
): RawBuilder<unknown> | undefined {
  if (rule.trim() === '') return undefined
  const bound = bindFilter(rule, c, lookup, request, false)
  if (bound.kind === 'const') return bound.value ? undefined : DENIED
  return compileFilter(bound, 'r')
}
