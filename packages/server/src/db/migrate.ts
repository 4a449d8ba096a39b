import { sql } from 'kysely'
import { usersCollectionRow } from '../core/auth/users-collection.ts'
import type { Db } from './create-db.ts'
import { allowLongStatements } from './transaction.ts'

/** The schema holding Bastide's own tables. Collections live in DATA_SCHEMA, one table each. */
export const SYSTEM_SCHEMA = 'bastide'
export const DATA_SCHEMA = 'data'

/**
 * System migrations, append-only: a shipped migration is never edited, a change is a new entry.
 * Each runs in its own transaction under an advisory lock, so several nodes may start at once.
 */
const MIGRATIONS: readonly {
  readonly id: number
  readonly name: string
  readonly sql: string
  /** Runs after `sql`, in the same transaction (rows whose shape the code defines). */
  readonly seed?: (trx: Db) => Promise<void>
}[] = [
  {
    id: 1,
    name: 'core',
    sql: `
      CREATE SCHEMA IF NOT EXISTS data;
      CREATE TABLE bastide.collections (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        fields jsonb NOT NULL,
        indexes jsonb NOT NULL,
        rules jsonb NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now()
      );
      CREATE TABLE bastide.schema_history (
        seq bigserial PRIMARY KEY,
        at timestamptz(3) NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
        collection text NOT NULL,
        before jsonb,
        after jsonb,
        statements jsonb NOT NULL
      );
      CREATE TABLE bastide.api_keys (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        prefix text NOT NULL,
        hash text NOT NULL UNIQUE,
        scopes text[] NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        last_used timestamptz(3),
        expires timestamptz(3),
        revoked timestamptz(3)
      );
      CREATE TABLE bastide.idempotency_keys (
        principal text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status int,
        response jsonb,
        created timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (principal, key)
      );
      CREATE INDEX idempotency_keys_created ON bastide.idempotency_keys (created);
      CREATE SEQUENCE bastide.record_seq;
    `,
  },
  {
    id: 2,
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
  },
  {
    id: 3,
    name: 'storage',
    sql: `
      CREATE TABLE bastide.buckets (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        public boolean NOT NULL DEFAULT false,
        max_file_size bigint,
        allowed_mime_types text[] NOT NULL DEFAULT '{}',
        rules jsonb NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now()
      );
      -- One row per visible object; its bytes are the FileStore blob the row names (immutable: an
      -- overwrite writes a new blob and swaps it in). Column names are the rule language's field names.
      -- COLLATE "C": keys sort bytewise, so a prefix is a key range the index serves.
      CREATE TABLE bastide.objects (
        id uuid PRIMARY KEY,
        bucket_id uuid NOT NULL REFERENCES bastide.buckets (id),
        key text COLLATE "C" NOT NULL,
        blob text NOT NULL UNIQUE,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        "mimeType" text NOT NULL,
        owner uuid REFERENCES data.users (id) ON DELETE SET NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now(),
        version integer NOT NULL DEFAULT 1,
        UNIQUE (bucket_id, key)
      );
      CREATE INDEX objects_owner ON bastide.objects (owner);
      -- Transformed images, cached per source object; an overwrite of the source drops them.
      CREATE TABLE bastide.object_variants (
        object_id uuid NOT NULL REFERENCES bastide.objects (id) ON DELETE CASCADE,
        transform text NOT NULL,
        blob text NOT NULL UNIQUE,
        size bigint NOT NULL,
        "mimeType" text NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (object_id, transform)
      );
      -- Blobs no row points at any more, recorded in the transaction that unlinked them and deleted from the
      -- FileStore after commit: a crash in between leaves a row here for the reconciler, never lost bytes
      -- or a dangling object.
      CREATE TABLE bastide.garbage_blobs (
        blob text PRIMARY KEY,
        since timestamptz(3) NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: 4,
    name: 'realtime-channels',
    sql: `
      -- Who may join and send on realtime channels: an exact name or a prefix pattern ending in *.
      CREATE TABLE bastide.channels (
        id uuid PRIMARY KEY,
        pattern text NOT NULL UNIQUE CHECK (pattern ~ '^[A-Za-z0-9:_./-]{1,200}\\*?$'),
        rules jsonb NOT NULL,
        presence boolean NOT NULL DEFAULT true,
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: 5,
    name: 'totp-last-step',
    sql: `
      -- The last TOTP time step a code was accepted for: a code works once (RFC 6238 §5.2), see
      -- core/auth/plugins/refuse-totp-replay.ts.
      ALTER TABLE bastide.auth_two_factors ADD COLUMN "lastTotpStep" bigint;
      ALTER TABLE bastide.admin_two_factors ADD COLUMN "lastTotpStep" bigint;
    `,
  },
]

export async function migrate(db: Db): Promise<void> {
  await sql`CREATE SCHEMA IF NOT EXISTS bastide`.execute(db).catch(ignoreRace)
  await sql`CREATE TABLE IF NOT EXISTS bastide.migrations (
      id int PRIMARY KEY, name text NOT NULL, at timestamptz NOT NULL DEFAULT now())`
    .execute(db)
    .catch(ignoreRace)
  for (const m of MIGRATIONS) {
    await db.transaction().execute(async (trx) => {
      // A migration may rewrite large tables, and another node may hold the lock while it applies one.
      await allowLongStatements(trx)
      await sql`SELECT set_config('lock_timeout', '0', true)`.execute(trx)
      // Same lock key on every node: only one applies a given migration.
      await sql`SELECT pg_advisory_xact_lock(7261536843)`.execute(trx)
      const done = await trx
        .selectFrom('bastide.migrations')
        .select('id')
        .where('id', '=', m.id)
        .executeTakeFirst()
      if (done) return
      await sql.raw(m.sql).execute(trx)
      await m.seed?.(trx)
      await trx.insertInto('bastide.migrations').values({ id: m.id, name: m.name }).execute()
    })
  }
}

/** Two nodes creating the same schema at once: one gets a unique violation, which means it exists. */
function ignoreRace(err: { code?: string }): void {
  if (err.code !== '23505' && err.code !== '42P07') throw err
}
