import { defineMigration } from '../../../db/define-migration.ts'

/**
 * When each console admin last signed in, for the admins list: kept on the admin, because their sessions (which
 * also tell) are deleted when they sign out or expire.
 */
export const adminLastSignIn = defineMigration({
  name: 'admin-last-sign-in',
  sql: `
    ALTER TABLE bastide.admins ADD COLUMN "lastSignInAt" timestamptz(3);
  `,
})
