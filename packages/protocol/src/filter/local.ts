import type { SyncFieldInfo } from '../sync.ts'
import { bind, type FilterSchema, type FilterSchemaField } from './bind.ts'
import { evaluate, type Row } from './evaluate.ts'
import { parseFilter } from './parse.ts'

export interface LocalFilterOptions {
  /** The collection's fields, as the changes feed lists them (system fields are implied). */
  readonly fields: readonly SyncFieldInfo[]
  /**
   * The collection's name: back-relations from it (`comments_via_post`) must then point at it, as on the server.
   * Without it any relation field of the other collection is taken.
   */
  readonly collection?: string
  /** The signed-in user's record for `@request.auth.*` (null: anonymous). */
  readonly auth?: Readonly<Record<string, unknown>> | null
  /** `@now` and `@todayStart`; fixed when the filter compiles. Default: the current time. */
  readonly now?: Date
  /**
   * Related collections' fields and rows, for `author.name`, back-relations and `@collection.x` (the filtered
   * collection's own rows too, for a relation to itself). A path through a collection it does not know reads as a
   * related row that is not there, as it does on the server: null, or no elements.
   */
  readonly related?: {
    fields(collection: string): readonly SyncFieldInfo[] | undefined
    get(collection: string, id: string): Readonly<Record<string, unknown>> | undefined
    all(collection: string): readonly Readonly<Record<string, unknown>>[]
  }
}

/**
 * Compiles a filter to a predicate over local records (shaped as the records API returns them: dates as ISO
 * strings, multiple relations as arrays of ids), with the server's semantics for the same data: the binder and
 * the evaluator are the server's own. `''` matches everything; a bad filter throws FilterError.
 *
 * @example
 * const open = compileLocalFilter("status = 'open' && owner = @request.auth.id", { fields, auth: user })
 * const mine = records.filter(open)
 */
export function compileLocalFilter(src: string, o: LocalFilterOptions): (row: Row) => boolean {
  if (src.trim() === '') return () => true
  const self = schemaOf(o.collection ?? '', o.fields)
  const schemas = new Map<string, FilterSchema | undefined>()
  const lookup = (name: string): FilterSchema | undefined => {
    if (name === o.collection) return self
    if (!schemas.has(name)) {
      const fields = o.related?.fields(name)
      schemas.set(name, fields && schemaOf(name, fields))
    }
    return schemas.get(name)
  }
  const bound = bind(parseFilter(src), {
    collection: self,
    lookup,
    request: o.now ? { auth: o.auth ?? null, now: o.now } : { auth: o.auth ?? null },
    // The rows a client holds are the ones it may see: no view rules to apply on top.
    restricted: false,
    parse: parseFilter,
    unknownAsMissing: true,
  })
  const related = o.related
  const data = {
    get: (c: string, id: string) => related?.get(c, id),
    all: (c: string) => related?.all(c) ?? [],
  }
  return (row) => evaluate(bound, row, data)
}

function schemaOf(name: string, fields: readonly SyncFieldInfo[]): FilterSchema {
  return {
    name,
    fields: fields.map(
      (f): FilterSchemaField => ({
        name: f.name,
        type: f.type,
        options:
          f.collection === undefined
            ? { multiple: f.multiple }
            : { multiple: f.multiple, collection: f.collection },
      }),
    ),
    rules: { view: '' },
  }
}
