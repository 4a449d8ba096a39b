import { core } from './0001-core.ts'

/** The core module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [core] as const
