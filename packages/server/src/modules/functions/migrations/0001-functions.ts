import { defineMigration } from '../../../db/define-migration.ts'

/**
 * Functions, their versions (kept: a rollback points `active_version` at an old one), their secrets (sealed
 * with AES-256-GCM, see core/functions/sealed-secret.ts) and every invocation (pruned after the retention).
 */
export const functionsTables = defineMigration({
  name: 'functions',
  sql: `
    CREATE TABLE bastide.functions (
      name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
      active_version int NOT NULL,
      manifest jsonb NOT NULL,
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      deployed_at timestamptz(3) NOT NULL DEFAULT now(),
      -- Bumped by every change a node must pick up (deploy, rollback, secret): nodes compare it to reload.
      revision bigint NOT NULL DEFAULT 1
    );
    CREATE TABLE bastide.function_versions (
      function text NOT NULL REFERENCES bastide.functions (name) ON DELETE CASCADE,
      version int NOT NULL,
      source text NOT NULL,
      checksum text NOT NULL,
      manifest jsonb NOT NULL,
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      created_by text NOT NULL,
      PRIMARY KEY (function, version)
    );
    CREATE TABLE bastide.function_secrets (
      function text NOT NULL REFERENCES bastide.functions (name) ON DELETE CASCADE,
      name text NOT NULL,
      sealed bytea NOT NULL,
      updated_at timestamptz(3) NOT NULL DEFAULT now(),
      PRIMARY KEY (function, name)
    );
    CREATE TABLE bastide.function_invocations (
      id uuid PRIMARY KEY,
      function text NOT NULL,
      version int NOT NULL,
      trigger text NOT NULL,
      status text NOT NULL,
      http_status smallint,
      started_at timestamptz(3) NOT NULL,
      duration_ms real NOT NULL,
      job_id text,
      attempt int,
      error text,
      logs jsonb NOT NULL DEFAULT '[]'
    );
    CREATE INDEX function_invocations_by_function ON bastide.function_invocations (function, started_at DESC, id DESC);
    CREATE INDEX function_invocations_started ON bastide.function_invocations (started_at);
  `,
})
