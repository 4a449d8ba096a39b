import type { Http } from '../../http.ts'

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

/** Backups of the whole instance (database snapshot and stored files); console admins and the admin key only. */
export class AdminBackups {
  constructor(private readonly http: Http) {}

  /**
   * The schedule, the latest runs and the archives kept in the target.
   *
   * @example
   * const { runs, archives } = await client.admin.backups.list()
   */
  list(opts: { signal?: AbortSignal } = {}): Promise<BackupsOverview> {
    return this.http.request('/api/admin/backups', { signal: opts.signal })
  }

  /**
   * Runs a backup to the server's target (BASTIDE_BACKUP_TARGET) now and resolves with the finished run;
   * retention applies as for scheduled runs.
   *
   * @example
   * const run = await client.admin.backups.run()
   * console.log(run.archive, run.size)
   */
  run(opts: { signal?: AbortSignal } = {}): Promise<BackupRun> {
    return this.http.request('/api/admin/backups', { method: 'POST', signal: opts.signal, retry: false })
  }

  /**
   * A backup taken now, as the server's answer: its body is the gzipped archive (`bastide backup verify`
   * checks it). Not retried: each call takes a new backup.
   *
   * @example
   * const res = await client.admin.backups.download()
   * await pipeline(Readable.fromWeb(res.body!), fs.createWriteStream('backup.tar.gz'))
   */
  download(opts: { signal?: AbortSignal } = {}): Promise<Response> {
    return this.http.send('/api/admin/backups/download', {
      signal: opts.signal,
      retry: false,
      headers: { accept: 'application/gzip' },
    })
  }
}
