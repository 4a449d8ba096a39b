import { defineMigration } from '../../../db/define-migration.ts'

/**
 * A TRUNCATE of a synced collection's table (a DBA in psql) fires no row trigger, so the change log would never
 * name the records it removed and devices would keep them. A statement-level AFTER TRUNCATE trigger
 * (core/sync/triggers.ts, made and dropped with the row triggers) moves the collection's horizon instead, as
 * raiseHorizon does, in the truncating transaction: every cursor issued before it resyncs.
 *
 * TG_ARGV[0]: the collection's id.
 */
export const syncTruncate = defineMigration({
  name: 'sync-truncate',
  sql: `
    CREATE OR REPLACE FUNCTION bastide.sync_log_truncate() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$
    BEGIN
      UPDATE bastide.sync_collections
        SET horizon_xid = pg_catalog.pg_current_xact_id()::text::bigint,
          horizon_id = pg_catalog.nextval('bastide.sync_log_id_seq'),
          updated = pg_catalog.now()
        WHERE collection_id = TG_ARGV[0];
      RETURN NULL;
    END
    $$;
  `,
})
