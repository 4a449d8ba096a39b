import { filterEngine } from '@bastide/protocol'

// The language is declared once, in the protocol package, so that clients filter locally as the server does.
export const COMPARE_OPS = filterEngine.COMPARE_OPS
export type CompareOp = filterEngine.CompareOp
export type Literal = filterEngine.Literal
export type Operand = filterEngine.Operand
export type Expr = filterEngine.Expr
export type Span = filterEngine.Span
