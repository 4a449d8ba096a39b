import { schemaMigrations } from './0001-schema-migrations.ts'

/** The schema module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [schemaMigrations] as const
