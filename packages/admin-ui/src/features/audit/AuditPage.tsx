import type { AuditEntry, AuditQuery } from '@bastide/sdk'
import { Link } from '@tanstack/react-router'
import { useId, useState } from 'react'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { FilterForm, useFilters } from '../../components/ui/FilterForm.tsx'
import { LoadMore, useCursorPages } from '../../components/ui/LoadMore.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { diffValues, showJson } from './diff.ts'

const PER_PAGE = 50

interface Filters {
  actor: string
  action: string
  target: string
  since: string
  until: string
}

const EMPTY: Filters = { actor: '', action: '', target: '', since: '', until: '' }

/** The filters as the SDK's query: empty ones left out, local times sent as ISO 8601. */
function toQuery(f: Filters): AuditQuery {
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined)
  const q: Record<string, string | undefined> = {
    actor: f.actor.trim() || undefined,
    action: f.action.trim() || undefined,
    target: f.target.trim() || undefined,
    since: iso(f.since),
    until: iso(f.until),
  }
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as AuditQuery
}

/** The audit log: who did what to which target, newest first, filtered, a page at a time ("Load more"). */
export function AuditPage() {
  const client = useClient()
  const f = useFilters(EMPTY)
  const { draft, set } = f
  const query = toQuery(f.filters)
  const { query: log, items } = useCursorPages({
    queryKey: ['audit', query],
    page: (p) => client.admin.audit.list({ ...query, ...p }),
    perPage: PER_PAGE,
  })
  return (
    <Page
      title="Audit log"
      subtitle="every admin action, newest first"
      actions={
        <button type="button" className="btn" onClick={() => void log.refetch()} disabled={log.isFetching}>
          {log.isFetching && !log.isFetchingNextPage ? 'Refreshing…' : 'Refresh'}
        </button>
      }
    >
      <FilterForm state={f} className="panel audit-filters" buttonsClassName="row audit-filter-buttons">
        <TextField
          label="Actor"
          value={draft.actor}
          onChange={set('actor')}
          placeholder="admin:…, key:…, cli"
        />
        <TextField
          label="Action"
          value={draft.action}
          onChange={set('action')}
          placeholder="user.ban or user.*"
        />
        <TextField label="Target" value={draft.target} onChange={set('target')} placeholder="id or name" />
        <TextField label="Since" type="datetime-local" value={draft.since} onChange={set('since')} />
        <TextField label="Until" type="datetime-local" value={draft.until} onChange={set('until')} />
      </FilterForm>
      <ErrorNote error={log.error} />
      {log.isPending ? (
        <Loading />
      ) : items.length === 0 && !log.error ? (
        <p className="muted">No entry matches.</p>
      ) : (
        <ol className="audit-list" aria-label="Audit entries">
          {items.map((e) => (
            <AuditRow key={e.seq} entry={e} onFilter={f.only} />
          ))}
        </ol>
      )}
      <LoadMore pages={log} shown={items.length} end="the end of the log" />
    </Page>
  )
}

function AuditRow(props: { entry: AuditEntry; onFilter: (f: Partial<Filters>) => void }) {
  const e = props.entry
  const [open, setOpen] = useState(false)
  const panelId = useId()
  const hasMore = (e.details && Object.keys(e.details).length > 0) || e.diff
  return (
    <li className="audit-entry">
      <button
        type="button"
        className="audit-head"
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen(!open)}
      >
        <span className="audit-caret" aria-hidden="true">
          {open ? '▾' : '▸'}
        </span>
        <time dateTime={e.at} className="muted">
          {formatTime(e.at)}
        </time>
        <code className="audit-action">{e.action}</code>
        <span className="mono audit-target">{e.target ?? ''}</span>
        <span className="audit-actor">{e.actor}</span>
      </button>
      {open ? (
        <div id={panelId} className="audit-body">
          {!hasMore ? <p className="muted">No details recorded.</p> : null}
          {e.details && Object.keys(e.details).length > 0 ? (
            <dl className="audit-details">
              {Object.entries(e.details).map(([k, v]) => (
                <div key={k} className="audit-detail">
                  <dt>{k}</dt>
                  <dd className="mono">{showJson(v)}</dd>
                </div>
              ))}
            </dl>
          ) : null}
          {e.diff ? <DiffTable before={e.diff.before} after={e.diff.after} /> : null}
          <div className="row">
            <span className="muted">#{e.seq}</span>
            <button type="button" className="btn small" onClick={() => props.onFilter({ actor: e.actor })}>
              Only actor {e.actor}
            </button>
            {e.target ? (
              <button
                type="button"
                className="btn small"
                onClick={() => props.onFilter({ target: e.target ?? '' })}
              >
                Only this target
              </button>
            ) : null}
            {e.target && e.action.startsWith('user.') && e.action !== 'user.delete' ? (
              <Link to="/users/$id" params={{ id: e.target }}>
                Open the user
              </Link>
            ) : null}
          </div>
        </div>
      ) : null}
    </li>
  )
}

function DiffTable(props: { before: unknown; after: unknown }) {
  const lines = diffValues(props.before, props.after)
  if (lines.length === 0) return <p className="muted">Before and after are the same.</p>
  return (
    <DataTable label="Changes" className="audit-diff" columns={['Path', 'Before', 'After']}>
      {lines.map((l) => (
        <tr key={`${l.kind}:${l.path}`} className={`audit-diff-${l.kind}`}>
          <td className="mono">
            {l.path} <span className="sr-only">({l.kind})</span>
          </td>
          <td className="mono audit-before">{l.kind === 'added' ? '' : showJson(l.before)}</td>
          <td className="mono audit-after">{l.kind === 'removed' ? '' : showJson(l.after)}</td>
        </tr>
      ))}
    </DataTable>
  )
}
