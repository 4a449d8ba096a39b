import { requestLog } from './0001-request-log.ts'

/** The metrics module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [requestLog] as const
