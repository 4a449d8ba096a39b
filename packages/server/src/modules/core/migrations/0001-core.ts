import { defineMigration } from '../../../db/define-migration.ts'

export const core = defineMigration({
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
})
