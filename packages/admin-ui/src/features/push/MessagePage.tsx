import { PUSH_DELIVERY_STATUSES, type PushDeliveryStatus } from '@bastide/protocol'
import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useParams } from '@tanstack/react-router'
import { useEffect, useRef, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field } from '../../components/ui/Field.tsx'
import { LoadMore } from '../../components/ui/LoadMore.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { type PushMessage, pushApi, pushKey } from './api.ts'
import { DeliveryStatusBadge, MessageStatusBadge } from './badges.tsx'
import { describeTarget, isInFlight } from './forms.ts'
import { PushTabs } from './PushTabs.tsx'
import './push.css'

const PER_PAGE = 50
const LIVE_MS = 2000

/** One message: what it says, who it went to, its counts, and every delivery with its provider's reason. */
export function MessagePage() {
  const { id = '' } = useParams({ strict: false }) as { id?: string }
  const client = useClient()
  const queryClient = useQueryClient()
  const [canceling, setCanceling] = useState(false)
  const [status, setStatus] = useState<PushDeliveryStatus | ''>('')
  const message = useQuery({
    queryKey: [...pushKey, 'messages', 'one', id],
    queryFn: ({ signal }) => pushApi(client).messages.get(id, { signal }),
    refetchInterval: (q) => (q.state.data && isInFlight(q.state.data) ? LIVE_MS : false),
  })
  const m = message.data
  const live = m ? isInFlight(m) : false
  const deliveries = useInfiniteQuery({
    queryKey: [...pushKey, 'messages', 'one', id, 'deliveries', status],
    queryFn: ({ pageParam, signal }) =>
      pushApi(client).messages.deliveries(id, {
        limit: PER_PAGE,
        signal,
        ...(pageParam ? { cursor: pageParam } : {}),
        ...(status ? { status } : {}),
      }),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: live ? LIVE_MS : false,
  })
  // The deliveries follow the message's counts: when those move (the last result came in between two polls, the
  // message is done), the list is read again, so that it never stays behind the counts above it.
  const counts = m ? `${m.status} ${JSON.stringify(m.counts)}` : ''
  const seen = useRef(counts)
  const { refetch } = deliveries
  useEffect(() => {
    if (seen.current === counts) return
    seen.current = counts
    void refetch()
  }, [counts, refetch])
  const items = deliveries.data?.pages.flatMap((p) => p.items) ?? []
  return (
    <Page
      title="Push message"
      subtitle={m ? <span className="mono">{m.id}</span> : undefined}
      actions={
        <>
          <Link to="/push" className="btn">
            All messages
          </Link>
          {m?.status === 'scheduled' ? (
            <button type="button" className="btn danger" onClick={() => setCanceling(true)}>
              Cancel message
            </button>
          ) : null}
        </>
      }
    >
      <PushTabs />
      <ErrorNote error={message.error} />
      {message.isPending ? <Loading /> : null}
      {m ? <MessageFacts m={m} /> : null}
      <div className="row">
        <h2 className="grow">Deliveries</h2>
        <Field label="Delivery status">
          {({ id: fieldId }) => (
            <select
              id={fieldId}
              value={status}
              onChange={(e) => setStatus(e.target.value as PushDeliveryStatus | '')}
            >
              <option value="">any</option>
              {PUSH_DELIVERY_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s === 'invalid_token' ? 'invalid token' : s}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <ErrorNote error={deliveries.error} />
      {deliveries.isPending ? (
        <Loading />
      ) : items.length === 0 && !deliveries.error ? (
        <p className="muted">
          {m?.status === 'scheduled' || m?.status === 'queued'
            ? 'No delivery yet: devices are resolved when the message goes out.'
            : status
              ? 'No delivery with this status.'
              : 'No delivery: no device matched.'}
        </p>
      ) : (
        <div style={{ overflowX: 'auto' }}>
          <DataTable
            label="Deliveries"
            columns={['Status', 'Device', 'Provider', 'User', 'Attempts', 'Reason', 'Updated']}
          >
            {items.map((d) => (
              <tr key={d.id} data-status={d.status}>
                <td>
                  <DeliveryStatusBadge status={d.status} />
                </td>
                <td className="mono">{d.deviceId}</td>
                <td>{d.provider}</td>
                <td className="mono">{d.userId ?? '—'}</td>
                <td>{d.attempts}</td>
                <td>
                  {d.reason ? <span className="push-reason">{d.reason}</span> : null}
                  {d.providerId ? (
                    <div className="muted mono" title="The provider's id for this notification">
                      {d.providerId}
                    </div>
                  ) : null}
                </td>
                <td>
                  <time dateTime={d.updatedAt}>{formatTime(d.updatedAt)}</time>
                </td>
              </tr>
            ))}
          </DataTable>
        </div>
      )}
      <LoadMore pages={deliveries} shown={items.length} end="that is every delivery" />
      {canceling ? (
        <ConfirmDialog
          title="Cancel this message?"
          confirmLabel="Cancel message"
          danger
          onClose={() => setCanceling(false)}
          onConfirm={async () => {
            const canceled = await pushApi(client).messages.cancel(id)
            queryClient.setQueryData([...pushKey, 'messages', 'one', id], canceled)
            await queryClient.invalidateQueries({ queryKey: [...pushKey, 'messages'] })
          }}
        >
          <p>It was scheduled{m?.sendAt ? ` for ${formatTime(m.sendAt)}` : ''}: it will not be sent.</p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}

function MessageFacts(props: { m: PushMessage }) {
  const { m } = props
  const c = m.counts
  const data = m.data ? Object.entries(m.data) : []
  return (
    <section className="panel stack" aria-labelledby="push-message-facts">
      <h2 id="push-message-facts">
        {m.title || (m.silent ? 'Silent message' : 'Message')} <MessageStatusBadge status={m.status} />
      </h2>
      {m.body ? <p>{m.body}</p> : null}
      <dl className="account-facts" aria-label="Message">
        <div>
          <dt>To</dt>
          <dd>{describeTarget(m.to)}</dd>
        </div>
        {m.topic ? (
          <div>
            <dt>Topic</dt>
            <dd className="mono">{m.topic}</dd>
          </div>
        ) : null}
        <div>
          <dt>Source</dt>
          <dd className="mono">{m.source}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <time dateTime={m.createdAt}>{formatTime(m.createdAt)}</time>
          </dd>
        </div>
        {m.sendAt ? (
          <div>
            <dt>Send at</dt>
            <dd>
              <time dateTime={m.sendAt}>{formatTime(m.sendAt)}</time>
            </dd>
          </div>
        ) : null}
        <div>
          <dt>Completed</dt>
          <dd>{m.completedAt ? <time dateTime={m.completedAt}>{formatTime(m.completedAt)}</time> : '—'}</dd>
        </div>
        <div>
          <dt>Options</dt>
          <dd>
            {m.priority} priority, kept {m.ttlSeconds} s{m.silent ? ', silent' : ''}
            {m.collapseKey ? `, collapse key ${m.collapseKey}` : ''}
          </dd>
        </div>
        {data.length > 0 ? (
          <div>
            <dt>Data</dt>
            <dd className="mono">{data.map(([k, v]) => `${k}=${v}`).join(', ')}</dd>
          </div>
        ) : null}
      </dl>
      <dl className="account-facts" aria-label="Counts">
        {(
          [
            ['Targeted', c.targeted],
            ['Sent', c.sent],
            ['Failed', c.failed],
            ['Invalid token', c.invalidToken],
            ['Pending', c.pending],
            ['Opted out', c.optedOut],
          ] as const
        ).map(([label, n]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd data-count={label}>{n}</dd>
          </div>
        ))}
      </dl>
    </section>
  )
}
