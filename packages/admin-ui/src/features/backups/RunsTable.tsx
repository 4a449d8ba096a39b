import type { BastideClient } from '@bastide/sdk'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { formatBytes, formatTime } from '../../lib/format.ts'

/** What GET /api/admin/backups answers (the SDK's types, which its index does not export by name). */
export type BackupsOverview = Awaited<ReturnType<BastideClient['admin']['backups']['list']>>
export type BackupRun = BackupsOverview['runs'][number]

const STATUS_CLASS: Record<BackupRun['status'], string> = {
  done: 'badge ok',
  failed: 'badge danger',
  running: 'badge',
}

/** The recorded runs, newest first: scheduled or asked for, where they went, and how each ended. */
export function RunsTable(props: { runs: readonly BackupRun[] }) {
  if (props.runs.length === 0) return <p className="muted">No backup has run yet.</p>
  return (
    <DataTable
      label="Backup runs"
      columns={['Status', 'Started', 'Finished', 'Trigger', 'Archive', 'Size', 'Contents']}
    >
      {props.runs.map((r) => (
        <tr key={r.id} data-status={r.status}>
          <td>
            <span className={STATUS_CLASS[r.status]}>{r.status}</span>
          </td>
          <td>
            <time dateTime={r.started}>{formatTime(r.started)}</time>
          </td>
          <td>{r.finished ? <time dateTime={r.finished}>{formatTime(r.finished)}</time> : '—'}</td>
          <td title={`node ${r.node}`}>{r.trigger === 'schedule' ? 'scheduled' : 'asked for'}</td>
          <td className="mono">{r.archive ?? '—'}</td>
          <td>{r.size === null ? '—' : formatBytes(r.size)}</td>
          <td>
            {r.error ? (
              <span>{r.error}</span>
            ) : r.totals ? (
              `${r.totals.rows} rows, ${r.totals.files} files (${formatBytes(r.totals.fileBytes)})`
            ) : (
              '—'
            )}
          </td>
        </tr>
      ))}
    </DataTable>
  )
}
