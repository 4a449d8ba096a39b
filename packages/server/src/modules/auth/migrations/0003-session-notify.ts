import { defineMigration } from '../../../db/define-migration.ts'

export const sessionNotify = defineMigration({
  name: 'session-notify',
  sql: `
      -- Every node caches live sessions (core/auth/session-cache.ts) and LISTENs on bastide_auth: these
      -- triggers name what changed, at commit, whatever wrote it (better-auth, the console, the records API,
      -- SQL by hand). 's:<session id>' and 'u:<user id>' drop one session or every session of a user; 'all'
      -- empties the cache: on TRUNCATE, past 100 rows in one statement (one notice instead of thousands),
      -- and on a change of the users collection's definition (columns added, renamed or dropped change the
      -- record rules see as @request.auth; ALTER TABLE fires no row trigger, the catalog row is updated in
      -- the same transaction). Statement triggers with transition tables, as those allow one event each.
      CREATE FUNCTION bastide.auth_notify_rows() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (SELECT count(*) FROM (SELECT 1 FROM old_rows LIMIT 101) n) > 100 THEN
          PERFORM pg_notify('bastide_auth', 'all');
        ELSE
          PERFORM pg_notify('bastide_auth', TG_ARGV[0] || id) FROM old_rows;
        END IF;
        RETURN NULL;
      END $$;
      CREATE FUNCTION bastide.auth_notify_all() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('bastide_auth', 'all');
        RETURN NULL;
      END $$;
      CREATE TRIGGER auth_sessions_notify_update AFTER UPDATE ON bastide.auth_sessions
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bastide.auth_notify_rows('s:');
      CREATE TRIGGER auth_sessions_notify_delete AFTER DELETE ON bastide.auth_sessions
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bastide.auth_notify_rows('s:');
      CREATE TRIGGER auth_sessions_notify_truncate AFTER TRUNCATE ON bastide.auth_sessions
        FOR EACH STATEMENT EXECUTE FUNCTION bastide.auth_notify_all();
      CREATE TRIGGER users_notify_update AFTER UPDATE ON data.users
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bastide.auth_notify_rows('u:');
      CREATE TRIGGER users_notify_delete AFTER DELETE ON data.users
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION bastide.auth_notify_rows('u:');
      CREATE TRIGGER users_notify_truncate AFTER TRUNCATE ON data.users
        FOR EACH STATEMENT EXECUTE FUNCTION bastide.auth_notify_all();
      CREATE TRIGGER collections_notify_auth AFTER UPDATE OR DELETE ON bastide.collections
        FOR EACH ROW WHEN (OLD.name = 'users') EXECUTE FUNCTION bastide.auth_notify_all();
    `,
})
