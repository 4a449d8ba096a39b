import { backupRuns } from './0001-backup-runs.ts'

/** The backups module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [backupRuns] as const
