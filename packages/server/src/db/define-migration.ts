import type { Db } from './create-db.ts'

/**
 * One schema change of a module, in its own file `src/modules/<module>/migrations/NNNN-<name>.ts`, listed in
 * order in that folder's `index.ts`. Append-only: once shipped it is never edited, a change is a new file.
 */
export interface Migration {
  /** Kebab-case, unique within its module; with the position in the list it names the migration. */
  readonly name: string
  /**
   * Run as one script (simple query protocol, so several statements). Its sha256 is recorded when it runs and
   * compared on every start: the text is checked byte for byte, whitespace and comments included, so a
   * reformatted file counts as an edited one.
   */
  readonly sql: string
  /** Runs after `sql`, in the same transaction: rows whose shape the code defines. */
  readonly seed?: (trx: Db) => Promise<void>
}

/** The migrations of one module, in the order they run. */
export interface MigrationSet {
  /** The module's id: migrations are recorded as (module, position, name). */
  readonly module: string
  readonly migrations: readonly Migration[]
}

/**
 * Declares a migration (a typed, frozen object).
 *
 * @example
 * export const tags = defineMigration({
 *   name: 'tags',
 *   sql: `ALTER TABLE bastide.buckets ADD COLUMN tags text[] NOT NULL DEFAULT '{}';`,
 * })
 */
export function defineMigration(m: Migration): Migration {
  return Object.freeze({ ...m })
}
