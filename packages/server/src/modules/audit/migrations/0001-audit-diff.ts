import { defineMigration } from '../../../db/define-migration.ts'

/** The audit log (created with the console's tables, auth 0001) gains the change itself and its filters' indexes. */
export const auditDiff = defineMigration({
  name: 'audit-diff',
  sql: `
    -- Before and after of what an admin action changed (only the top-level properties that differ).
    ALTER TABLE bastide.audit_log ADD COLUMN diff jsonb;
    -- GET /api/admin/audit filters by actor, action, target and time, newest first (seq descending).
    CREATE INDEX audit_log_actor ON bastide.audit_log (actor, seq);
    CREATE INDEX audit_log_action ON bastide.audit_log (action text_pattern_ops, seq);
    CREATE INDEX audit_log_target ON bastide.audit_log (target, seq);
    CREATE INDEX audit_log_at ON bastide.audit_log (at);
  `,
})
