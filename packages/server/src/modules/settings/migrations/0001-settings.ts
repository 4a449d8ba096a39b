import { defineMigration } from '../../../db/define-migration.ts'

/** Runtime settings an admin edits in the console: one row per group, secrets sealed (core/settings/cipher.ts). */
export const settings = defineMigration({
  name: 'settings',
  sql: `
    CREATE TABLE bastide.settings (
      key text PRIMARY KEY,
      value jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text
    );
  `,
})
