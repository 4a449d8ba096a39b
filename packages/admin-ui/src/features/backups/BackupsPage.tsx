import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatBytes, formatTime } from '../../lib/format.ts'
import { describeCron } from './describe-cron.ts'
import { type BackupsOverview, RunsTable } from './RunsTable.tsx'
import { saveResponse } from './save-response.ts'

export const backupsKey = ['backups'] as const

/**
 * Backups from the console: the schedule the server runs (BASTIDE_BACKUP_*), the recorded runs and the archives
 * kept, a run now, and a download of a backup taken now. Restoring stays with `bastide backup restore`: it
 * fills an empty instance, which has no console to click in.
 */
export function BackupsPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const run = useMutation({
    mutationFn: () => client.admin.backups.run(),
    // The failed run is recorded too: show it either way.
    onSettled: () => queryClient.invalidateQueries({ queryKey: backupsKey }),
  })
  const overview = useQuery({
    queryKey: backupsKey,
    queryFn: ({ signal }) => client.admin.backups.list({ signal }),
    // While a backup runs (here or on another node, scheduled), follow it until it ends.
    refetchInterval: (q) =>
      run.isPending || q.state.data?.runs.some((r) => r.status === 'running') ? 2000 : false,
  })
  const download = useMutation({
    mutationFn: async () => saveResponse(await client.admin.backups.download(), 'bastide-backup.tar.gz'),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['audit'] }),
  })
  const target = overview.data?.schedule.target ?? null
  return (
    <Page
      title="Backups"
      subtitle="the database snapshot and every stored file, in one archive"
      actions={
        <>
          <button
            type="button"
            className="btn"
            onClick={() => void overview.refetch()}
            disabled={overview.isFetching}
          >
            {overview.isFetching ? 'Refreshing…' : 'Refresh'}
          </button>
          <button
            type="button"
            className="btn"
            onClick={() => download.mutate()}
            disabled={download.isPending}
          >
            {download.isPending ? 'Preparing the archive…' : 'Download a backup now'}
          </button>
          <button
            type="button"
            className="btn primary"
            onClick={() => run.mutate()}
            disabled={run.isPending || !target}
            title={target ? `to ${target}` : 'No backup target is configured'}
          >
            {run.isPending ? 'Backing up…' : 'Back up now'}
          </button>
        </>
      }
    >
      <div className="stack">
        <div aria-live="polite" className="stack">
          {run.isPending ? (
            <p className="warn-note" role="status">
              Backing up to {target}: one consistent snapshot of the database, then every file it references.
              Writes go on meanwhile.
            </p>
          ) : null}
          {run.isSuccess ? (
            <p className="ok-note" role="status">
              Backup done: <span className="mono">{run.data.archive}</span> ({formatBytes(run.data.size ?? 0)}
              {run.data.totals ? `, ${run.data.totals.rows} rows, ${run.data.totals.files} files` : ''}).
            </p>
          ) : null}
          {/* The server's 503 says "The backup failed: …" itself. */}
          <ErrorNote error={run.error} />
          {download.isPending ? (
            <p className="warn-note" role="status">
              Taking a backup for you to download: the file is offered once the archive is complete.
            </p>
          ) : null}
          {download.isSuccess ? (
            <p className="ok-note" role="status">
              Downloaded <span className="mono">{download.data.name}</span> ({formatBytes(download.data.size)}
              ).
            </p>
          ) : null}
          <ErrorNote error={download.error} title="The download failed" />
        </div>
        <ErrorNote error={overview.error} />
        {overview.isPending ? <Loading /> : overview.data ? <Overview data={overview.data} /> : null}
        <section className="panel" aria-labelledby="backups-cli">
          <h2 id="backups-cli">Verifying and restoring</h2>
          <p>
            <code>bastide backup verify &lt;archive&gt;</code> checks every entry of an archive against the
            sha256 of its manifest, changing nothing. <code>bastide backup restore &lt;archive&gt;</code>{' '}
            loads it into <strong>an empty instance</strong> (a new database and storage, started with the
            same <code>BASTIDE_SECRET</code>): restoring is a command-line operation, never done over a
            running instance from here. <code>bastide backup create</code> takes one from the command line,{' '}
            <code>bastide backup list</code> shows this page’s list. See <code>docs/backups.md</code>.
          </p>
        </section>
      </div>
    </Page>
  )
}

function Overview(props: { data: BackupsOverview }) {
  const { schedule, runs, archives } = props.data
  const words = schedule.cron ? describeCron(schedule.cron) : undefined
  return (
    <>
      <section className="panel" aria-labelledby="backups-schedule">
        <h2 id="backups-schedule">Schedule</h2>
        {schedule.cron ? (
          <dl className="account-facts" aria-label="Schedule in force">
            <div>
              <dt>When</dt>
              <dd>
                {words ? `${words.charAt(0).toUpperCase()}${words.slice(1)} ` : ''}
                <code>{schedule.cron}</code>
              </dd>
            </div>
            <div>
              <dt>Next run</dt>
              <dd>
                {schedule.next ? <time dateTime={schedule.next}>{formatTime(schedule.next)}</time> : 'never'}
              </dd>
            </div>
            <div>
              <dt>Target</dt>
              <dd className="mono">{schedule.target}</dd>
            </div>
            <div>
              <dt>Kept</dt>
              <dd>the newest {schedule.keep} archives</dd>
            </div>
          </dl>
        ) : (
          <p className="muted">
            No scheduled backups: set <code>BASTIDE_BACKUP_CRON</code> (UTC, e.g. <code>0 3 * * *</code>) on
            the server.{' '}
            {schedule.target ? (
              <>
                Backups asked for here go to <span className="mono">{schedule.target}</span> (the newest{' '}
                {schedule.keep} kept).
              </>
            ) : (
              <>
                No target either: set <code>BASTIDE_BACKUP_TARGET</code> (a folder or{' '}
                <code>s3://bucket/prefix</code>) to back up from here. A download works without one.
              </>
            )}
          </p>
        )}
      </section>
      <section className="panel" aria-labelledby="backups-runs">
        <h2 id="backups-runs">Runs</h2>
        <RunsTable runs={runs} />
      </section>
      {schedule.target ? (
        <section className="panel" aria-labelledby="backups-archives">
          <h2 id="backups-archives">Archives in the target</h2>
          {archives.length === 0 ? (
            <p className="muted">None yet.</p>
          ) : (
            <DataTable label="Archives" columns={['Archive', 'Size', 'Written']}>
              {archives.map((a) => (
                <tr key={a.name}>
                  <td className="mono">{a.name}</td>
                  <td>{formatBytes(a.size)}</td>
                  <td>
                    <time dateTime={a.modified}>{formatTime(a.modified)}</time>
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
        </section>
      ) : null}
    </>
  )
}
