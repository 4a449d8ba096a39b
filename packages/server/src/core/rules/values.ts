import { filterEngine } from '@bastide/protocol'

// Shared with clients through the protocol package: the SQL compiler and every evaluator see the same values.
export const { coerce, compareText, compareValues, isUuid, opAllowed, parseDate, typeOfValue } = filterEngine
export type ValueType = filterEngine.ValueType
export type Coerced = filterEngine.Coerced
