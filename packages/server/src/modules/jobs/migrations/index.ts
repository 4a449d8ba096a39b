import { jobSchedules } from './0001-job-schedules.ts'

/** The jobs module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [jobSchedules] as const
