/** One backup run, scheduled (BASTIDE_BACKUP_CRON) or asked for (`run()`). */
export interface BackupRun {
  readonly id: string
  /** The cron minute it ran for; null when asked for. */
  readonly slot: string | null
  readonly trigger: 'schedule' | 'request'
  /** `hostname:pid` of the node that ran it. */
  readonly node: string
  readonly target: string
  /** The archive's name in the target. */
  readonly archive: string | null
  readonly status: 'running' | 'done' | 'failed'
  readonly started: string
  readonly finished: string | null
  readonly size: number | null
  readonly totals: {
    readonly tables: number
    readonly rows: number
    readonly files: number
    readonly fileBytes: number
    readonly missingFiles: number
  } | null
  readonly snapshot: { readonly id: string; readonly xmin: string; readonly takenAt: string } | null
  readonly error: string | null
}

export interface BackupsOverview {
  /** The server's BASTIDE_BACKUP_* configuration; `next` is the next scheduled run. */
  readonly schedule: {
    readonly cron: string | null
    readonly next: string | null
    readonly target: string | null
    readonly keep: number
  }
  /** The latest runs, newest first. */
  readonly runs: BackupRun[]
  /** The archives kept in the target, newest first. */
  readonly archives: { readonly name: string; readonly size: number; readonly modified: string }[]
}
