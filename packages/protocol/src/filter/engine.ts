// The filter language's internals, for the server (which compiles the bound tree to SQL) and for tests; clients use
// parseFilter, compileLocalFilter and compareRecords.
export { COMPARE_OPS, type CompareOp, type Expr, type Literal, type Operand, type Span } from './ast.ts'
export {
  type BExpr,
  type BindOptions,
  type BOperand,
  type BPath,
  type BValue,
  bind,
  type CollectionAlias,
  type FilterSchema,
  type FilterSchemaField,
  type Final,
  fieldValueType,
  type Lookup,
  parseBackRelation,
  type RuleRequest,
  type Step,
} from './bind.ts'
export { type Dataset, evaluate, type Row } from './evaluate.ts'
export { MAX_FILTER_LENGTH } from './parse.ts'
export {
  type Coerced,
  coerce,
  compareText,
  compareValues,
  isUuid,
  opAllowed,
  parseDate,
  typeOfValue,
  type ValueType,
} from './values.ts'
