import { useQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { functionsApi, functionsKey } from './api.ts'
import { formatDuration, StatusBadge, TriggerBadges } from './badges.tsx'
import './functions.css'

/** Every deployed function: its triggers, active version, last invocation and deploy time. */
export function FunctionsPage() {
  const client = useClient()
  const list = useQuery({
    queryKey: functionsKey,
    queryFn: ({ signal }) => functionsApi(client).list({ signal }),
  })
  const items = list.data ?? []
  return (
    <Page
      title="Functions"
      subtitle="TypeScript run by the server on HTTP requests, record changes, auth, storage and cron"
      actions={
        <>
          <button
            type="button"
            className="btn"
            onClick={() => void list.refetch()}
            disabled={list.isFetching}
          >
            {list.isFetching ? 'Refreshing…' : 'Refresh'}
          </button>
          <Link to="/functions/new" className="btn primary">
            New function
          </Link>
        </>
      }
    >
      <ErrorNote error={list.error} />
      {list.isPending ? (
        <Loading />
      ) : items.length === 0 && !list.error ? (
        <div className="panel stack">
          <p>
            No function yet. A function is one TypeScript module (
            <code>export default defineFunction({'{ on, handler }'})</code>) deployed from here or with{' '}
            <code>bastide functions deploy</code>.
          </p>
          <div>
            <Link to="/functions/new" className="btn primary">
              Write the first function
            </Link>
          </div>
        </div>
      ) : (
        <div className="panel" style={{ overflowX: 'auto' }}>
          <DataTable
            label="Functions"
            columns={['Name', 'Triggers', 'Version', 'Last invocation', 'Duration', 'Invoked', 'Deployed']}
          >
            {items.map((f) => (
              <tr key={f.name}>
                <td>
                  <Link to="/functions/$name" params={{ name: f.name }} className="mono">
                    {f.name}
                  </Link>
                </td>
                <td>
                  <TriggerBadges manifest={f.manifest} />
                </td>
                <td>v{f.version}</td>
                <td>
                  {f.lastInvocation ? (
                    <StatusBadge status={f.lastInvocation.status} />
                  ) : (
                    <span className="muted">never</span>
                  )}
                </td>
                <td>{f.lastInvocation ? formatDuration(f.lastInvocation.durationMs) : ''}</td>
                <td>
                  {f.lastInvocation ? (
                    <time dateTime={f.lastInvocation.at}>{formatTime(f.lastInvocation.at)}</time>
                  ) : null}
                </td>
                <td>
                  <time dateTime={f.deployedAt}>{formatTime(f.deployedAt)}</time>
                </td>
              </tr>
            ))}
          </DataTable>
        </div>
      )}
    </Page>
  )
}
