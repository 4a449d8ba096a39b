import { filterEngine, parseFilter as parseShared } from '@bastide/protocol'
import type { Expr } from './ast.ts'
import { asAppError } from './filter-error.ts'

export const MAX_FILTER_LENGTH = filterEngine.MAX_FILTER_LENGTH

/**
 * Parses the filter and rule language into an AST whose nodes carry source spans. Errors are
 * AppError INVALID_FILTER with `details.position` (0-based offset into the text).
 */
export function parseFilter(src: string): Expr {
  try {
    return parseShared(src)
  } catch (e) {
    throw asAppError(e)
  }
}
