import { auditDiff } from './0001-audit-diff.ts'

/** The audit module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [auditDiff] as const
