import { defineMigration } from '../../../db/define-migration.ts'

/** Schema-as-code migrations applied to this instance (`bastide migrations up`), each with its file's checksum. */
export const schemaMigrations = defineMigration({
  name: 'schema-migrations',
  sql: `
    CREATE TABLE bastide.schema_migrations (
      -- The migration file's name without .json (NNNN_name): ordered, unique per project.
      id text PRIMARY KEY,
      -- sha256 of the file's schema: a file edited after it was applied is refused, not silently re-applied.
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(),
      applied_by text NOT NULL
    );
  `,
})
