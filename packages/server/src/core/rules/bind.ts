import { filterEngine } from '@bastide/protocol'
import type { Collection } from '../collections/types.ts'
import type { Expr } from './ast.ts'
import { asAppError } from './filter-error.ts'

// The binder is shared with clients (protocol package); here it runs over the server's collections, so the bound
// tree carries Field and Collection for the SQL compiler.
export type RuleRequest = filterEngine.RuleRequest
export type Lookup = filterEngine.Lookup<Collection>
export type BindOptions = filterEngine.BindOptions<Collection>
export type Step = filterEngine.Step<Collection>
export type Final = filterEngine.Final<Collection>
export type BPath = filterEngine.BPath<Collection>
export type BValue = filterEngine.BValue
export type BOperand = filterEngine.BOperand<Collection>
export type CollectionAlias = filterEngine.CollectionAlias<Collection>
export type BExpr = filterEngine.BExpr<Collection>

export const fieldValueType = filterEngine.fieldValueType

/**
 * Resolves a parsed filter against a collection's schema and the request: every field path becomes a
 * typed reference, every macro a value, literals are type-checked, and comparisons that cannot depend on
 * the row fold to constants. Unknown fields are errors (AppError INVALID_FILTER), never nulls.
 */
export function bind(expr: Expr, opts: BindOptions, depth = 0): BExpr {
  try {
    return filterEngine.bind(expr, opts, depth)
  } catch (e) {
    throw asAppError(e)
  }
}
