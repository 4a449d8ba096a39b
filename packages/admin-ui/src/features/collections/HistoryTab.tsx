import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { historyKey } from './queries.ts'
import { schemaChanges } from './schema-diff.ts'

const PER_PAGE = 20

/** The collection's schema changes from the audit log, newest first, each as a readable diff. */
export function HistoryTab(props: { name: string }) {
  const client = useClient()
  // Cursors of the pages seen so far: going back pops one.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  const cursor = cursors[cursors.length - 1]
  const page = useQuery({
    queryKey: historyKey(props.name, cursor),
    queryFn: ({ signal }) =>
      client.admin.audit.list({
        target: props.name,
        action: 'collection.*',
        perPage: PER_PAGE,
        ...(cursor !== undefined ? { cursor } : {}),
        signal,
      }),
  })
  return (
    <div className="stack">
      <p className="muted">
        Changes made under the name <code>{props.name}</code>; a rename shows here and under the old name.
      </p>
      <ErrorNote error={page.error} />
      {page.isPending ? (
        <Loading />
      ) : page.data && page.data.items.length === 0 ? (
        <p className="muted">No change recorded.</p>
      ) : (
        <ol className="cl-history">
          {page.data?.items.map((e) => {
            const changes = schemaChanges(e.action, e.diff)
            return (
              <li key={e.seq} className="panel">
                <div className="row">
                  <span
                    className={`badge ${e.action.endsWith('delete') ? 'danger' : e.action.endsWith('create') ? 'ok' : ''}`}
                  >
                    {e.action.replace(/^collection\./, '')}
                  </span>
                  <time dateTime={e.at}>{formatTime(e.at)}</time>
                  <span className="muted">by {e.actor}</span>
                </div>
                {changes.length === 0 ? (
                  <p className="muted">No visible change.</p>
                ) : (
                  <ul className="cl-changes">
                    {changes.map((c, i) => (
                      // biome-ignore lint/suspicious/noArrayIndexKey: a fixed list, never reordered
                      <li key={i} className={`cl-change cl-change-${c.kind}`}>
                        {c.kind === 'rule' && c.before !== undefined && c.after !== undefined ? (
                          <>
                            {c.text.split(':')[0]}: <del className="mono">{c.before}</del> →{' '}
                            <ins className="mono">{c.after}</ins>
                          </>
                        ) : (
                          c.text
                        )}
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            )
          })}
        </ol>
      )}
      <nav className="pager" aria-label="History pages">
        <button
          type="button"
          className="btn small"
          disabled={cursors.length <= 1}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Newer
        </button>
        <span className="muted">Page {cursors.length}</span>
        <button
          type="button"
          className="btn small"
          disabled={!page.data?.nextCursor}
          onClick={() => page.data?.nextCursor && setCursors([...cursors, page.data.nextCursor])}
        >
          Older
        </button>
      </nav>
    </div>
  )
}
