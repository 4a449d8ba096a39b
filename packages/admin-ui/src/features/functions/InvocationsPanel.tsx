import { type InvocationStatus, TRIGGER_KINDS } from '@bastide/protocol'
import { Fragment, useState } from 'react'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field } from '../../components/ui/Field.tsx'
import { FilterForm, useFilters } from '../../components/ui/FilterForm.tsx'
import { LoadMore, useCursorPages } from '../../components/ui/LoadMore.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { functionsApi, functionsKey, type InvocationQuery } from './api.ts'
import { formatDuration, StatusBadge } from './badges.tsx'
import { InvocationDetails } from './InvocationDetails.tsx'

const PER_PAGE = 30
const STATUSES: readonly InvocationStatus[] = ['ok', 'error', 'timeout', 'killed']
const EMPTY = { status: '', trigger: '' }

/** The function's invocations, newest first, filtered by status and trigger; each row opens its logs. */
export function InvocationsPanel(props: { name: string }) {
  const client = useClient()
  const f = useFilters(EMPTY)
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set())
  const filters = {
    ...(f.filters.status ? { status: f.filters.status } : {}),
    ...(f.filters.trigger ? { trigger: f.filters.trigger } : {}),
  } as Pick<InvocationQuery, 'status' | 'trigger'>
  const { query, items } = useCursorPages({
    queryKey: [...functionsKey, props.name, 'invocations', filters],
    page: ({ perPage, ...p }) =>
      functionsApi(client).invocations(props.name, { ...filters, ...p, limit: perPage }),
    perPage: PER_PAGE,
  })
  const toggle = (id: string) =>
    setOpen((s) => {
      const next = new Set(s)
      if (!next.delete(id)) next.add(id)
      return next
    })
  return (
    <div className="stack">
      <FilterForm state={f} className="panel fn-filters" buttonsClassName="row">
        <Field label="Status">
          {({ id }) => (
            <select id={id} value={f.draft.status} onChange={(e) => f.set('status')(e.target.value)}>
              <option value="">Any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Trigger">
          {({ id }) => (
            <select id={id} value={f.draft.trigger} onChange={(e) => f.set('trigger')(e.target.value)}>
              <option value="">Any</option>
              {TRIGGER_KINDS.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button
          type="button"
          className="btn"
          onClick={() => void query.refetch()}
          disabled={query.isFetching}
        >
          {query.isFetching && !query.isFetchingNextPage ? 'Refreshing…' : 'Refresh'}
        </button>
      </FilterForm>
      <ErrorNote error={query.error} />
      {query.isPending ? (
        <Loading />
      ) : items.length === 0 && !query.error ? (
        <p className="muted">No invocation matches.</p>
      ) : (
        <div style={{ overflowX: 'auto' }}>
          <DataTable
            label="Invocations"
            columns={['Time', 'Status', 'Trigger', 'Version', 'Duration', 'Result', { hidden: 'Details' }]}
          >
            {items.map((i) => {
              const expanded = open.has(i.id)
              return (
                <Fragment key={i.id}>
                  <tr data-status={i.status}>
                    <td>
                      <time dateTime={i.startedAt}>{formatTime(i.startedAt)}</time>
                    </td>
                    <td>
                      <StatusBadge status={i.status} />
                    </td>
                    <td>{i.trigger}</td>
                    <td>v{i.version}</td>
                    <td>{formatDuration(i.durationMs)}</td>
                    <td className="mono">
                      {i.httpStatus !== null
                        ? `HTTP ${i.httpStatus}`
                        : i.attempt !== null
                          ? `attempt ${i.attempt}`
                          : ''}
                      {i.error ? <span className="muted"> · {firstLine(i.error)}</span> : null}
                    </td>
                    <td>
                      <button
                        type="button"
                        className="btn small"
                        aria-expanded={expanded}
                        aria-controls={`invocation-${i.id}`}
                        onClick={() => toggle(i.id)}
                      >
                        {expanded ? 'Hide logs' : `Logs (${i.logs.length})`}
                      </button>
                    </td>
                  </tr>
                  {expanded ? (
                    <tr className="fn-details" id={`invocation-${i.id}`}>
                      <td colSpan={7}>
                        <InvocationDetails invocation={i} />
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              )
            })}
          </DataTable>
        </div>
      )}
      <LoadMore pages={query} shown={items.length} end="the oldest invocation kept" />
    </div>
  )
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? ''
  return line.length > 80 ? `${line.slice(0, 79)}…` : line
}
