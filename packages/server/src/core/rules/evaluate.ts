import { filterEngine } from '@bastide/protocol'
import type { BExpr } from './bind.ts'

export type Row = filterEngine.Row
export type Dataset = filterEngine.Dataset

/**
 * Evaluates a bound filter in memory with exactly the semantics of `compileFilter` (realtime uses it to
 * decide who sees a change without a query per subscriber). Rows are shaped as the records API returns them.
 */
export function evaluate(e: BExpr, row: Row, data: Dataset): boolean {
  return filterEngine.evaluate(e, row, data)
}
