import { useQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { useState } from 'react'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { WebhookDialog } from './WebhookDialog.tsx'

/** Every webhook: where it posts, for which changes, whether it is on; a new one. */
export function WebhooksPage() {
  const client = useClient()
  const hooks = useQuery({
    queryKey: ['webhooks'],
    queryFn: ({ signal }) => client.admin.webhooks.list({ signal }),
  })
  const [creating, setCreating] = useState(false)
  return (
    <Page
      title="Webhooks"
      subtitle="record changes POSTed, signed, to your URLs"
      actions={
        <button type="button" className="btn primary" onClick={() => setCreating(true)}>
          New webhook
        </button>
      }
    >
      <ErrorNote error={hooks.error} />
      {hooks.isPending ? (
        <Loading />
      ) : hooks.data && hooks.data.length === 0 ? (
        <p className="muted">No webhook yet.</p>
      ) : (
        <DataTable label="Webhooks" columns={['URL', 'Collection', 'Changes', 'State', 'Secret', 'Created']}>
          {hooks.data?.map((w) => (
            <tr key={w.id}>
              <td>
                <Link to="/webhooks/$id" params={{ id: w.id }} className="mono">
                  {w.url}
                </Link>
                {w.description ? <div className="muted">{w.description}</div> : null}
              </td>
              <td>{w.collection === '*' ? 'every collection' : w.collection}</td>
              <td>{w.actions.join(', ')}</td>
              <td>
                <span className={w.enabled ? 'badge ok' : 'badge'}>{w.enabled ? 'enabled' : 'disabled'}</span>
              </td>
              <td className="mono">{w.secretHint}</td>
              <td>
                <time dateTime={w.createdAt}>{formatTime(w.createdAt)}</time>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {creating ? <WebhookDialog onClose={() => setCreating(false)} /> : null}
    </Page>
  )
}
