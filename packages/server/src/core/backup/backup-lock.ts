/**
 * Held (shared) by every backup for its whole run, on its own session, from before its snapshot. The object
 * garbage collector deletes bytes only once it gets this lock exclusively (`pg_try_advisory_xact_lock`), so
 * blobs a running backup may still read stay until it ends; see docs/backups.md.
 */
export const BACKUP_LOCK_KEY = 7261536845
