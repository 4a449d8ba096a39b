import { settings } from './0001-settings.ts'

/** The settings module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [settings] as const
