import { usersCollectionRow } from '../../../core/auth/users-collection.ts'
import { defineMigration } from '../../../db/define-migration.ts'

export const auth = defineMigration({
  name: 'auth',
  // App users live in data.users (a collection rules and relations can name); everything else better-auth
  // keeps (sessions, accounts with password hashes, verification secrets, keys) lives here, out of the
  // records API's reach. Console admins are a separate population with tables of their own.
  sql: `
      ALTER TABLE bastide.collections ADD COLUMN system boolean NOT NULL DEFAULT false;
      CREATE TABLE data.users (
        id uuid PRIMARY KEY,
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now(),
        version integer NOT NULL DEFAULT 1,
        email text NOT NULL UNIQUE,
        name text NOT NULL DEFAULT '',
        verified boolean NOT NULL DEFAULT false,
        image text,
        role text NOT NULL DEFAULT 'user',
        anonymous boolean NOT NULL DEFAULT false,
        phone text UNIQUE,
        "phoneVerified" boolean NOT NULL DEFAULT false,
        "twoFactorEnabled" boolean NOT NULL DEFAULT false,
        locale text,
        banned boolean NOT NULL DEFAULT false,
        "banReason" text,
        "banExpires" timestamptz(3)
      );
      CREATE INDEX users_created ON data.users (created, id);
      -- better-auth updates users without knowing about version: count its writes too.
      CREATE FUNCTION bastide.bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.version = OLD.version THEN NEW.version := OLD.version + 1; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER users_version BEFORE UPDATE ON data.users
        FOR EACH ROW EXECUTE FUNCTION bastide.bump_version();

      CREATE TABLE bastide.auth_sessions (
        id text PRIMARY KEY,
        token text NOT NULL UNIQUE,
        "userId" uuid NOT NULL REFERENCES data.users (id) ON DELETE CASCADE,
        "expiresAt" timestamptz(3) NOT NULL,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "updatedAt" timestamptz(3) NOT NULL DEFAULT now(),
        "ipAddress" text,
        "userAgent" text,
        "impersonatedBy" text
      );
      CREATE INDEX auth_sessions_user ON bastide.auth_sessions ("userId");
      CREATE TABLE bastide.auth_accounts (
        id text PRIMARY KEY,
        "accountId" text NOT NULL,
        "providerId" text NOT NULL,
        "userId" uuid NOT NULL REFERENCES data.users (id) ON DELETE CASCADE,
        "accessToken" text,
        "refreshToken" text,
        "idToken" text,
        "accessTokenExpiresAt" timestamptz(3),
        "refreshTokenExpiresAt" timestamptz(3),
        scope text,
        password text,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "updatedAt" timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE ("providerId", "accountId")
      );
      CREATE INDEX auth_accounts_user ON bastide.auth_accounts ("userId");
      CREATE TABLE bastide.auth_verifications (
        id text PRIMARY KEY,
        identifier text NOT NULL,
        value text NOT NULL,
        "expiresAt" timestamptz(3) NOT NULL,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "updatedAt" timestamptz(3) NOT NULL DEFAULT now()
      );
      CREATE INDEX auth_verifications_identifier ON bastide.auth_verifications (identifier);
      CREATE TABLE bastide.auth_jwks (
        id text PRIMARY KEY,
        "publicKey" text NOT NULL,
        "privateKey" text NOT NULL,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "expiresAt" timestamptz(3),
        alg text,
        crv text
      );
      CREATE TABLE bastide.auth_two_factors (
        id text PRIMARY KEY,
        "userId" uuid NOT NULL UNIQUE REFERENCES data.users (id) ON DELETE CASCADE,
        secret text NOT NULL,
        "backupCodes" text NOT NULL,
        verified boolean DEFAULT false,
        "failedVerificationCount" integer DEFAULT 0,
        "lockedUntil" timestamptz(3)
      );
      CREATE TABLE bastide.auth_passkeys (
        id text PRIMARY KEY,
        name text,
        "publicKey" text NOT NULL,
        "userId" uuid NOT NULL REFERENCES data.users (id) ON DELETE CASCADE,
        "credentialID" text NOT NULL UNIQUE,
        counter integer NOT NULL,
        "deviceType" text NOT NULL,
        "backedUp" boolean NOT NULL,
        transports text,
        "createdAt" timestamptz(3) DEFAULT now(),
        aaguid text
      );
      CREATE INDEX auth_passkeys_user ON bastide.auth_passkeys ("userId");

      CREATE TABLE bastide.admins (
        id text PRIMARY KEY,
        name text NOT NULL DEFAULT '',
        email text NOT NULL UNIQUE,
        "emailVerified" boolean NOT NULL DEFAULT false,
        image text,
        "twoFactorEnabled" boolean NOT NULL DEFAULT false,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "updatedAt" timestamptz(3) NOT NULL DEFAULT now()
      );
      CREATE TABLE bastide.admin_sessions (
        id text PRIMARY KEY,
        token text NOT NULL UNIQUE,
        "userId" text NOT NULL REFERENCES bastide.admins (id) ON DELETE CASCADE,
        "expiresAt" timestamptz(3) NOT NULL,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "updatedAt" timestamptz(3) NOT NULL DEFAULT now(),
        "ipAddress" text,
        "userAgent" text
      );
      CREATE TABLE bastide.admin_accounts (
        id text PRIMARY KEY,
        "accountId" text NOT NULL,
        "providerId" text NOT NULL,
        "userId" text NOT NULL REFERENCES bastide.admins (id) ON DELETE CASCADE,
        "accessToken" text,
        "refreshToken" text,
        "idToken" text,
        "accessTokenExpiresAt" timestamptz(3),
        "refreshTokenExpiresAt" timestamptz(3),
        scope text,
        password text,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "updatedAt" timestamptz(3) NOT NULL DEFAULT now()
      );
      CREATE TABLE bastide.admin_verifications (
        id text PRIMARY KEY,
        identifier text NOT NULL,
        value text NOT NULL,
        "expiresAt" timestamptz(3) NOT NULL,
        "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
        "updatedAt" timestamptz(3) NOT NULL DEFAULT now()
      );
      CREATE TABLE bastide.admin_two_factors (
        id text PRIMARY KEY,
        "userId" text NOT NULL UNIQUE REFERENCES bastide.admins (id) ON DELETE CASCADE,
        secret text NOT NULL,
        "backupCodes" text NOT NULL,
        verified boolean DEFAULT false,
        "failedVerificationCount" integer DEFAULT 0,
        "lockedUntil" timestamptz(3)
      );
      -- Devices (by user agent) each user has signed in from, for new-device notices.
      CREATE TABLE bastide.auth_devices (
        user_id uuid NOT NULL REFERENCES data.users (id) ON DELETE CASCADE,
        device text NOT NULL,
        first_seen timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, device)
      );
      -- Audit trail of console actions on app users (impersonation, bans, deletions...).
      CREATE TABLE bastide.audit_log (
        seq bigserial PRIMARY KEY,
        at timestamptz(3) NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        target text,
        details jsonb
      );
      -- Fixed-window counters for rate limits when no Redis is configured.
      CREATE UNLOGGED TABLE bastide.rate_limits (
        key text PRIMARY KEY,
        count integer NOT NULL,
        reset_at timestamptz(3) NOT NULL
      );
    `,
  seed: async (trx) => {
    await trx.insertInto('bastide.collections').values(usersCollectionRow()).execute()
  },
})
