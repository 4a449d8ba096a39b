import { functionsTables } from './0001-functions.ts'

/** The functions module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [functionsTables] as const
