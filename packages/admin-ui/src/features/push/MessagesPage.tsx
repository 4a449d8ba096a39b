import { PUSH_MESSAGE_STATUSES, type PushMessageStatus } from '@bastide/protocol'
import { useInfiniteQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { useState } from 'react'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field } from '../../components/ui/Field.tsx'
import { LoadMore } from '../../components/ui/LoadMore.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { pushApi, pushKey } from './api.ts'
import { CountBadges, MessageStatusBadge } from './badges.tsx'
import { describeTarget, isInFlight } from './forms.ts'
import { PushTabs } from './PushTabs.tsx'
import './push.css'

const PER_PAGE = 30
/** How often the log re-reads itself while a message is on its way. */
const LIVE_MS = 2000
const IDLE_MS = 10_000

/** The delivery log: every message sent (console, API, functions), newest first, with its counts. */
export function MessagesPage() {
  const client = useClient()
  const [status, setStatus] = useState<PushMessageStatus | ''>('')
  const query = useInfiniteQuery({
    queryKey: [...pushKey, 'messages', status],
    queryFn: ({ pageParam, signal }) =>
      pushApi(client).messages.list({
        limit: PER_PAGE,
        signal,
        ...(pageParam ? { cursor: pageParam } : {}),
        ...(status ? { status } : {}),
      }),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    // A log: messages arrive from functions and API keys too, so it is fetched anew on every visit and followed
    // while open; closely while deliveries are under way (their counts move on their own).
    refetchOnMount: 'always',
    refetchInterval: (q) =>
      q.state.data?.pages.some((p) => p.items.some((m) => isInFlight(m))) ? LIVE_MS : IDLE_MS,
  })
  const items = query.data?.pages.flatMap((p) => p.items) ?? []
  return (
    <Page
      title="Push messages"
      subtitle="notifications to apps and browsers: APNs, FCM, Web Push, UnifiedPush"
      actions={
        <Link to="/push/send" className="btn primary">
          Send a message
        </Link>
      }
    >
      <PushTabs />
      <div className="row">
        <p className="muted grow">The delivery log: what was sent, by whom, and how each delivery went.</p>
        <Field label="Status">
          {({ id }) => (
            <select
              id={id}
              value={status}
              onChange={(e) => setStatus(e.target.value as PushMessageStatus | '')}
            >
              <option value="">any</option>
              {PUSH_MESSAGE_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <ErrorNote error={query.error} />
      {query.isPending ? (
        <Loading />
      ) : items.length === 0 && !query.error ? (
        <p className="muted">
          {status ? `No ${status} message.` : 'No message yet: send one, or call POST /api/push/messages.'}
        </p>
      ) : (
        <div style={{ overflowX: 'auto' }}>
          <DataTable
            label="Messages"
            columns={['Created', 'Message', 'To', 'Source', 'Status', 'Deliveries']}
          >
            {items.map((m) => (
              <tr key={m.id} data-status={m.status} data-message={m.id}>
                <td>
                  <Link to="/push/messages/$id" params={{ id: m.id }}>
                    <time dateTime={m.createdAt}>{formatTime(m.createdAt)}</time>
                  </Link>
                </td>
                <td>
                  {m.title ? <strong>{m.title}</strong> : null}
                  {m.body ? <div className="muted">{m.body}</div> : null}
                  {m.silent ? <span className="badge">silent</span> : null}
                </td>
                <td>{describeTarget(m.to)}</td>
                <td className="mono">{m.source}</td>
                <td>
                  <MessageStatusBadge status={m.status} />
                  {m.status === 'scheduled' && m.sendAt ? (
                    <div className="muted">
                      for <time dateTime={m.sendAt}>{formatTime(m.sendAt)}</time>
                    </div>
                  ) : null}
                </td>
                <td>
                  <CountBadges counts={m.counts} />
                </td>
              </tr>
            ))}
          </DataTable>
        </div>
      )}
      <LoadMore pages={query} shown={items.length} end="the oldest message kept" />
    </Page>
  )
}
