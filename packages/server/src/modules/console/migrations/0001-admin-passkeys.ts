import { defineMigration } from '../../../db/define-migration.ts'

/**
 * Console admins' passkeys (better-auth's passkey plugin on the admin instance, core/auth/admin-auth.ts): the
 * same columns as app users' bastide.auth_passkeys, owned by bastide.admins and gone with the admin.
 */
export const adminPasskeys = defineMigration({
  name: 'admin-passkeys',
  sql: `
    CREATE TABLE bastide.admin_passkeys (
      id text PRIMARY KEY,
      name text,
      "publicKey" text NOT NULL,
      "userId" text NOT NULL REFERENCES bastide.admins (id) ON DELETE CASCADE,
      "credentialID" text NOT NULL UNIQUE,
      counter integer NOT NULL,
      "deviceType" text NOT NULL,
      "backedUp" boolean NOT NULL,
      transports text,
      "createdAt" timestamptz(3) DEFAULT now(),
      aaguid text
    );
    CREATE INDEX admin_passkeys_user ON bastide.admin_passkeys ("userId");
  `,
})
