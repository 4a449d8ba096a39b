import { storage } from './0001-storage.ts'

/** The storage module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [storage] as const
