import { sync } from './0001-sync.ts'
import { syncLinks } from './0002-sync-links.ts'
import { syncTruncate } from './0003-sync-truncate.ts'

/** The sync module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [sync, syncLinks, syncTruncate] as const
