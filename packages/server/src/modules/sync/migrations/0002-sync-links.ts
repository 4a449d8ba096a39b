import { defineMigration } from '../../../db/define-migration.ts'

/**
 * The change log's `previous` carries the record's multiple relations too: their links live in a join table of
 * their own, which to_jsonb(OLD) does not see, and visibility of a past state (rules such as
 * `members ?= @request.auth.id`) and lww_field's base need them. Each is logged under the field's name, as the
 * records API returns it (the target ids in link order).
 *
 * TG_ARGV[0]: the collection's id; TG_ARGV[1]: the schema of the join tables; then one (field name, join table)
 * pair per multiple relation (core/sync/triggers.ts, recreated when the fields change). A join table that is gone
 * (the field dropped before the trigger caught up) is skipped. An update's links are read by the AFTER ROW
 * trigger, which fires at the end of the UPDATE statement, before the records service replaces the links; a
 * delete is logged by a BEFORE DELETE trigger, since the join table's ON DELETE CASCADE (an AFTER trigger that
 * sorts before ours) would have removed them by the time an AFTER trigger ran. The BEFORE trigger returns OLD, so
 * the delete goes on.
 */
export const syncLinks = defineMigration({
  name: 'sync-links',
  sql: `
    CREATE OR REPLACE FUNCTION bastide.sync_log_change() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$
    DECLARE
      prev jsonb;
      links jsonb;
      i integer := 2;
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO bastide.sync_log (collection_id, record_id, op, xid, previous)
          VALUES (TG_ARGV[0], NEW.id, 'c', pg_catalog.pg_current_xact_id()::text::bigint, NULL);
        RETURN NULL;
      END IF;
      prev := pg_catalog.to_jsonb(OLD);
      WHILE i + 1 < TG_NARGS LOOP
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', TG_ARGV[1], TG_ARGV[i + 1])) IS NOT NULL THEN
          EXECUTE pg_catalog.format(
            'SELECT COALESCE(pg_catalog.jsonb_agg(j.target ORDER BY j.position), ''[]''::jsonb) FROM %I.%I j WHERE j.source = $1',
            TG_ARGV[1], TG_ARGV[i + 1])
            INTO links USING OLD.id;
          prev := prev || pg_catalog.jsonb_build_object(TG_ARGV[i], links);
        END IF;
        i := i + 2;
      END LOOP;
      INSERT INTO bastide.sync_log (collection_id, record_id, op, xid, previous)
        VALUES (TG_ARGV[0], OLD.id, CASE WHEN TG_OP = 'UPDATE' THEN 'u' ELSE 'd' END,
          pg_catalog.pg_current_xact_id()::text::bigint, prev);
      IF TG_WHEN = 'BEFORE' THEN
        RETURN OLD;
      END IF;
      RETURN NULL;
    END
    $$;
  `,
})
