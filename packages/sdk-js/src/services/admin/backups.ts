import type { BackupRun, BackupsOverview } from '@bastide/protocol'
import type { Http } from '../../http.ts'

export type { BackupRun, BackupsOverview }

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
