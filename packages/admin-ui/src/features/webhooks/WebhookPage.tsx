import type { WebhookDelivery, WebhookWithSecret } from '@bastide/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { LoadMore, useCursorPages } from '../../components/ui/LoadMore.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { SecretShown } from './SecretShown.tsx'
import { WebhookDialog } from './WebhookDialog.tsx'

const STATUS_CLASS: Record<WebhookDelivery['status'], string> = {
  delivered: 'badge ok',
  failed: 'badge danger',
  pending: 'badge',
}

/** One webhook: its settings, a test ping, secret rotation, and its deliveries with every attempt. */
export function WebhookPage() {
  const { id = '' } = useParams({ strict: false }) as { id?: string }
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [editing, setEditing] = useState(false)
  const [deleting, setDeleting] = useState(false)
  const [rotating, setRotating] = useState(false)
  const [rotated, setRotated] = useState<WebhookWithSecret | null>(null)
  const hook = useQuery({
    queryKey: ['webhooks', id],
    queryFn: ({ signal }) => client.admin.webhooks.get(id, { signal }),
  })
  const { query: deliveries, items } = useCursorPages({
    queryKey: ['webhooks', id, 'deliveries'],
    page: (p) =>
      client.admin.webhooks.deliveries(id, {
        limit: p.perPage,
        signal: p.signal,
        ...(p.cursor ? { cursor: p.cursor } : {}),
      }),
    perPage: 25,
    // Pending deliveries move on their own (retries): keep the loaded pages fresh while any is pending.
    refetchInterval: 5000,
  })
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['webhooks', id] })
  const ping = useMutation({ mutationFn: () => client.admin.webhooks.test(id), onSuccess: refresh })
  const redeliver = useMutation({
    mutationFn: (deliveryId: string) => client.admin.webhooks.redeliver(id, deliveryId),
    onSuccess: refresh,
  })
  const w = hook.data
  return (
    <Page
      title="Webhook"
      subtitle={w ? <span className="mono">{w.url}</span> : undefined}
      actions={
        <>
          <Link to="/webhooks" className="btn">
            All webhooks
          </Link>
          <button type="button" className="btn" disabled={!w || ping.isPending} onClick={() => ping.mutate()}>
            {ping.isPending ? 'Sending…' : 'Send test ping'}
          </button>
          <button type="button" className="btn" disabled={!w} onClick={() => setEditing(true)}>
            Edit
          </button>
          <button type="button" className="btn" disabled={!w} onClick={() => setRotating(true)}>
            Rotate secret
          </button>
          <button type="button" className="btn danger" disabled={!w} onClick={() => setDeleting(true)}>
            Delete
          </button>
        </>
      }
    >
      <ErrorNote error={hook.error ?? ping.error ?? redeliver.error} />
      {hook.isPending ? <Loading /> : null}
      {w ? (
        <section className="panel" aria-labelledby="webhook-settings">
          <h2 id="webhook-settings">Settings</h2>
          <dl className="account-facts" aria-label="Webhook settings">
            <div>
              <dt>Collection</dt>
              <dd>{w.collection === '*' ? 'every collection' : w.collection}</dd>
            </div>
            <div>
              <dt>Changes</dt>
              <dd>{w.actions.map((a) => `record.${a}d`).join(', ')}</dd>
            </div>
            <div>
              <dt>State</dt>
              <dd>{w.enabled ? 'enabled' : 'disabled'}</dd>
            </div>
            <div>
              <dt>Secret</dt>
              <dd className="mono">{w.secretHint}</dd>
            </div>
            {w.description ? (
              <div>
                <dt>Description</dt>
                <dd>{w.description}</dd>
              </div>
            ) : null}
          </dl>
        </section>
      ) : null}
      {ping.data ? (
        <p role="status" className={ping.data.status === 'delivered' ? 'muted' : 'warn-note'}>
          Test ping {ping.data.status === 'delivered' ? 'delivered' : 'failed'}
          {ping.data.attempts[0] ? `: ${describeAttempt(ping.data.attempts[0])}` : ''}
        </p>
      ) : null}
      <h2>Deliveries</h2>
      <ErrorNote error={deliveries.error} />
      {deliveries.isPending ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">No delivery yet.</p>
      ) : (
        <DataTable
          label="Deliveries"
          columns={['Status', 'Event', 'Record', 'Created', 'Attempts', { hidden: 'Actions' }]}
        >
          {items.map((d) => (
            <tr key={d.id} data-status={d.status}>
              <td>
                <span className={STATUS_CLASS[d.status]}>{d.status}</span>
              </td>
              <td>
                <code>{d.event}</code>
                <div className="muted mono" title="The delivery id: the receiver's idempotency key">
                  {d.id}
                </div>
              </td>
              <td className="mono">{d.recordId ?? '—'}</td>
              <td>
                <time dateTime={d.createdAt}>{formatTime(d.createdAt)}</time>
              </td>
              <td>
                {d.attempts.length === 0 ? (
                  'none yet'
                ) : (
                  <details>
                    <summary>
                      {d.attempts.length} — last: {describeAttempt(d.attempts[d.attempts.length - 1]!)}
                    </summary>
                    <ol>
                      {d.attempts.map((a, i) => (
                        // biome-ignore lint/suspicious/noArrayIndexKey: attempts are append-only, oldest first
                        <li key={i}>
                          <time dateTime={a.at}>{formatTime(a.at)}</time>: {describeAttempt(a)}
                          {a.responseBody ? <pre className="mono">{a.responseBody}</pre> : null}
                        </li>
                      ))}
                    </ol>
                  </details>
                )}
              </td>
              <td>
                <button
                  type="button"
                  className="btn small"
                  disabled={redeliver.isPending}
                  onClick={() => redeliver.mutate(d.id)}
                >
                  Redeliver<span className="sr-only"> {d.id}</span>
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <LoadMore pages={deliveries} shown={items.length} end="that is every delivery kept" />
      {editing && w ? <WebhookDialog editing={w} onClose={() => setEditing(false)} /> : null}
      {rotating ? (
        <ConfirmDialog
          title="Rotate the signing secret?"
          confirmLabel="Rotate secret"
          onClose={() => setRotating(false)}
          onConfirm={async () => {
            setRotated(await client.admin.webhooks.rotateSecret(id))
            await refresh()
          }}
        >
          <p>A new secret signs every delivery from now on; the current one also signs for 24 hours.</p>
        </ConfirmDialog>
      ) : null}
      {rotated ? (
        <Dialog
          title="New signing secret"
          onClose={() => setRotated(null)}
          footer={
            <button type="button" className="btn primary" onClick={() => setRotated(null)}>
              Done
            </button>
          }
        >
          <SecretShown secret={rotated.secret} />
        </Dialog>
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title="Delete this webhook?"
          confirmLabel="Delete webhook"
          danger
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await client.admin.webhooks.remove(id)
            await queryClient.invalidateQueries({ queryKey: ['webhooks'] })
            await navigate({ to: '/webhooks' })
          }}
        >
          <p>Its pending deliveries are dropped and its delivery history is deleted.</p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}

function describeAttempt(a: WebhookDelivery['attempts'][number]): string {
  const what = a.statusCode !== null ? `HTTP ${a.statusCode}` : (a.error ?? 'no answer')
  return `${what} in ${a.durationMs} ms${a.statusCode !== null && a.error ? ` (${a.error})` : ''}`
}
