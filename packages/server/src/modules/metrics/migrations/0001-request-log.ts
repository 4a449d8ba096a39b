import { defineMigration } from '../../../db/define-migration.ts'

/** Recent API requests of every node, for GET /api/admin/logs and the console's charts. */
export const requestLog = defineMigration({
  name: 'request-log',
  sql: `
    -- UNLOGGED: written on every request and kept for hours, so no WAL (half the write cost). A crash of
    -- PostgreSQL empties it and replicas do not have it: acceptable for a debugging window, not an audit trail.
    CREATE UNLOGGED TABLE bastide.request_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at timestamptz(3) NOT NULL,
      node text NOT NULL,
      method text NOT NULL,
      route text NOT NULL,
      path text NOT NULL,
      status smallint NOT NULL,
      duration_ms real NOT NULL,
      bytes_out bigint,
      principal_kind text NOT NULL,
      principal_id text,
      client_ip text,
      request_id text NOT NULL,
      user_agent text
    );
    -- Newest first with a (at, id) cursor; time ranges; pruning by age.
    CREATE INDEX request_log_at ON bastide.request_log (at, id);
    CREATE INDEX request_log_request_id ON bastide.request_log (request_id);
  `,
})
