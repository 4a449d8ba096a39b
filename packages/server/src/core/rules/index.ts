import type { Collection } from '../collections/types.ts'
import type { Expr } from './ast.ts'
import { type BExpr, bind, type Lookup, type RuleRequest } from './bind.ts'
import { parseFilter } from './parse.ts'

export type { BExpr, Lookup, RuleRequest } from './bind.ts'
export { type CompileOptions, compileFilter } from './compile-sql.ts'
export { type Dataset, evaluate, type Row } from './evaluate.ts'
export { parseFilter } from './parse.ts'

const CACHE_MAX = 1000
const cache = new Map<string, Expr>()

/** Parses with a bounded cache: rules are parsed once, not on every request. */
export function parseCached(src: string): Expr {
  let e = cache.get(src)
  if (e) return e
  e = parseFilter(src)
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!)
  cache.set(src, e)
  return e
}

export function bindFilter(
  src: string,
  collection: Collection,
  lookup: Lookup,
  request: RuleRequest,
  restricted: boolean,
): BExpr {
  return bind(parseCached(src), { collection, lookup, request, restricted, parse: parseCached })
}

/** Checks a rule against a would-be collection; returns the problem as a sentence, or undefined. */
export function ruleProblem(src: string, collection: Collection, lookup: Lookup): string | undefined {
  try {
    bindFilter(
      src,
      collection,
      (n) => (n === collection.name ? collection : lookup(n)),
      { auth: null },
      false,
    )
    return undefined
  } catch (e) {
    const d = (e as { details?: { position?: number } }).details
    return `${(e as Error).message}${d?.position !== undefined ? ` (at ${d.position})` : ''}`
  }
}
