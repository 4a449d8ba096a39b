import { CompiledQuery, type QueryResult, type RawBuilder, type Transaction } from 'kysely'
import { type Db, directRunner } from '../../db/create-db.ts'
import type { Collection } from '../collections/types.ts'
import { type Decision, isShared } from '../rules/authorize.ts'

/**
 * Where a per-request value goes in a statement compiled once. Kysely binds it as any other value, so the
 * text is the one the real value gives; no request value can be a Slot (the class is not exported).
 */
class Slot {}

/**
 * A statement compiled once, run many times: building and compiling Kysely's SQL is the same work for
 * every request of one shape, so it is done once and only the per-request values change between runs.
 */
export interface Statement {
  readonly sql: string
  /** The compiled parameters, with slots where the per-request values go. */
  readonly parameters: readonly unknown[]
  /** Each slot's place: [index in `parameters`, index of its value in what `runStatement` is given]. */
  readonly holes: readonly (readonly [number, number])[]
}

/** Builds with `arity` slots standing for the values `runStatement` is later given, and compiles. */
export function compileStatement(
  db: Db,
  arity: number,
  build: (slots: readonly unknown[]) => RawBuilder<unknown>,
): Statement {
  const slots = Array.from({ length: arity }, () => new Slot())
  const { sql, parameters } = build(slots).compile(db)
  const holes: [number, number][] = []
  parameters.forEach((v, at) => {
    if (v instanceof Slot) holes.push([at, slots.indexOf(v)])
  })
  return { sql, parameters, holes }
}

/**
 * Runs `s` with `values` in its slots, through `executor` (the pool, or the transaction the work is in), as
 * any Kysely query: the same logging, and the same prepared-statement naming (db/create-db.ts). On the pool
 * it goes around Kysely's connection layers (directRunner), to the same effect.
 */
export function runStatement<R>(
  executor: Db | Transaction<any>,
  s: Statement,
  values: readonly unknown[],
): Promise<QueryResult<R>> {
  const parameters = s.parameters.slice()
  for (const [at, i] of s.holes) parameters[at] = values[i]
  const direct = directRunner(executor)
  return direct
    ? direct<R>(s.sql, parameters)
    : executor.executeQuery<R>(CompiledQuery.raw(s.sql, parameters))
}

const decisionIds = new WeakMap<Decision, number>()
let nextDecisionId = 0

/**
 * The part of a shape key that stands for a decision's SQL: its identity, when it is the one object every
 * caller of the rule gets (authorize.ts isShared). undefined for a decision bound for this request (a rule
 * reading @request or another collection): what is built from it is not kept.
 */
export function decisionShape(d: Decision): string | undefined {
  if (!isShared(d)) return undefined
  let id = decisionIds.get(d)
  if (id === undefined) decisionIds.set(d, (id = nextDecisionId++))
  return String(id)
}

/**
 * What is built per (collection, shape) — statements, with what goes with them — kept with the collection
 * object, which a schema change replaces (never mutates), so nothing outlives its schema. The shape is
 * everything else the SQL text depends on; an `undefined` shape (a request whose SQL depends on more than a
 * key can tell) is built anew each time. Bounded per collection: the oldest shape goes first.
 */
export class ShapeCache<T> {
  readonly #byCollection = new WeakMap<Collection, Map<string, T>>()
  readonly #max: number

  /** `max`: shapes kept per collection. */
  constructor(max = 64) {
    this.#max = max
  }

  get(c: Collection, shape: string | undefined, build: () => T): T {
    if (shape === undefined) return build()
    let m = this.#byCollection.get(c)
    if (!m) this.#byCollection.set(c, (m = new Map()))
    let v = m.get(shape)
    if (v === undefined) {
      v = build()
      if (m.size >= this.#max) m.delete(m.keys().next().value!)
      m.set(shape, v)
    }
    return v
  }
}
