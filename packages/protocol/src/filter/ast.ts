/** Source span in the filter text, 0-based, end exclusive. */
export interface Span {
  readonly start: number
  readonly end: number
}

export const COMPARE_OPS = ['=', '!=', '>', '>=', '<', '<=', '~', '!~'] as const
export type CompareOp = (typeof COMPARE_OPS)[number]

export type Literal = string | number | boolean | null

export type Operand =
  | ({ readonly type: 'field'; readonly path: readonly string[] } & Span)
  | ({ readonly type: 'literal'; readonly value: Literal } & Span)
  /** `@request.auth.id` → path ['request', 'auth', 'id']; `@now` → ['now']. */
  | ({ readonly type: 'macro'; readonly path: readonly string[] } & Span)
  /** `@collection.members:m.user` → collection 'members', alias 'm', path ['user']. */
  | ({
      readonly type: 'collection'
      readonly collection: string
      readonly alias: string
      readonly path: readonly string[]
    } & Span)

export type Expr =
  | ({ readonly type: 'and' | 'or'; readonly left: Expr; readonly right: Expr } & Span)
  | ({ readonly type: 'not'; readonly expr: Expr } & Span)
  | ({
      readonly type: 'compare'
      readonly op: CompareOp
      /** `?=` and friends: at least one element matches (otherwise every element must). */
      readonly any: boolean
      readonly left: Operand
      readonly right: Operand
    } & Span)
