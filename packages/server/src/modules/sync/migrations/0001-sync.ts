import { defineMigration } from '../../../db/define-migration.ts'

/**
 * Offline sync: per-collection settings, the change log a row trigger writes on each synced collection's table
 * (read in (xid, id) order, see core/sync/changes.ts), the retention horizon, and push idempotency.
 */
export const sync = defineMigration({
  name: 'sync',
  sql: `
    CREATE TABLE bastide.sync_collections (
      collection_id text PRIMARY KEY,
      enabled boolean NOT NULL,
      conflict text NOT NULL CHECK (conflict IN ('server_wins','client_wins','lww_field','function')),
      merge_function text,
      -- Moved on enable and on a change of the collection's fields or rules: a cursor issued under another
      -- horizon resyncs.
      horizon_xid bigint NOT NULL, horizon_id bigint NOT NULL,
      updated timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE bastide.sync_log (
      id bigserial PRIMARY KEY,
      collection_id text NOT NULL,
      record_id uuid NOT NULL,
      op char(1) NOT NULL CHECK (op IN ('c','u','d')),
      xid bigint NOT NULL,
      previous jsonb,
      at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX sync_log_position ON bastide.sync_log (collection_id, xid, id);
    CREATE INDEX sync_log_record ON bastide.sync_log (collection_id, record_id, id);
    CREATE INDEX sync_log_at ON bastide.sync_log (at);
    -- The highest (xid, id) retention removed: a cursor below it resyncs.
    CREATE TABLE bastide.sync_horizon (
      "only" boolean PRIMARY KEY DEFAULT true CHECK ("only"),
      xid bigint NOT NULL, id bigint NOT NULL
    );
    INSERT INTO bastide.sync_horizon (xid, id) VALUES (0, 0);
    CREATE TABLE bastide.sync_mutations (
      principal text NOT NULL,
      client_id uuid NOT NULL,
      mutation_id text NOT NULL,
      result jsonb NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (principal, client_id, mutation_id)
    );
    CREATE INDEX sync_mutations_at ON bastide.sync_mutations (at);
    -- TG_ARGV[0]: the collection's id (stable across renames). The xid is the top-level transaction's.
    CREATE FUNCTION bastide.sync_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO bastide.sync_log (collection_id, record_id, op, xid, previous)
          VALUES (TG_ARGV[0], NEW.id, 'c', pg_catalog.pg_current_xact_id()::text::bigint, NULL);
      ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO bastide.sync_log (collection_id, record_id, op, xid, previous)
          VALUES (TG_ARGV[0], NEW.id, 'u', pg_catalog.pg_current_xact_id()::text::bigint, pg_catalog.to_jsonb(OLD));
      ELSE
        INSERT INTO bastide.sync_log (collection_id, record_id, op, xid, previous)
          VALUES (TG_ARGV[0], OLD.id, 'd', pg_catalog.pg_current_xact_id()::text::bigint, pg_catalog.to_jsonb(OLD));
      END IF;
      RETURN NULL;
    END
    $$;
  `,
})
