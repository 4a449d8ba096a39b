/**
 * Held exclusively by a backup for its whole run, on its own session, from before its snapshot. The object garbage
 * collector deletes bytes only under this lock shared (`pg_try_advisory_xact_lock_shared`: collectors on every
 * node never exclude one another), so blobs a running backup may still read stay until it ends; see
 * docs/backups.md. Two backups at once take turns.
 */
export const BACKUP_LOCK_KEY = 7261536848 // not 7261536845: that is the storage reconciler's

/**
 * First key of a backup run's lock (the second is `hashtext(run id)`): the node running a recorded run holds it
 * on a session of its own from before the run's row exists until the row says done or failed. A `running` row
 * whose lock is free belongs to a node that died (its session ended with it), so any node may mark it failed.
 */
export const BACKUP_RUN_LOCK_CLASS = 0x62727531 // 'bru1'
