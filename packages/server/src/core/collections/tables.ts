import { sql } from 'kysely'
import { DATA_SCHEMA } from '../../db/migrate.ts'
import { type Field, joinTableName } from './types.ts'

/** A collection's table, or any other object named in the data schema (validated names only). */
export function dataTable(name: string) {
  return sql.table(`${DATA_SCHEMA}.${name}`)
}

/** The join table holding a multiple relation's links. */
export function linkTable(f: Field) {
  return dataTable(joinTableName(f))
}
