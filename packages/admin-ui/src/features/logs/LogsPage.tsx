import type { RequestLogEntry, RequestLogFilters } from '@bastide/protocol'
import { useState } from 'react'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { FilterForm, useFilters } from '../../components/ui/FilterForm.tsx'
import { LoadMore, useCursorPages } from '../../components/ui/LoadMore.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatBytes, formatTime } from '../../lib/format.ts'

const PER_PAGE = 50
/** Live tail: the newest page is re-read this often. */
const TAIL_MS = 2000
const METHODS = ['', 'GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'] as const

interface Filters {
  since: string
  until: string
  status: string
  method: string
  path: string
  principal: string
  minDurationMs: string
  requestId: string
}

const EMPTY: Filters = {
  since: '',
  until: '',
  status: '',
  method: '',
  path: '',
  principal: '',
  minDurationMs: '',
  requestId: '',
}

/** The filters as the SDK's: empty ones left out, local times as ISO 8601 (the server checks the rest). */
export function toFilters(f: Filters): RequestLogFilters {
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined)
  const q: Record<string, string | number | undefined> = {
    since: iso(f.since),
    until: iso(f.until),
    status: f.status.trim() || undefined,
    method: f.method || undefined,
    path: f.path.trim() || undefined,
    principal: f.principal.trim() || undefined,
    minDurationMs: f.minDurationMs.trim() ? Number(f.minDurationMs) : undefined,
    requestId: f.requestId.trim() || undefined,
  }
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as RequestLogFilters
}

/** The request log: every node's recent API requests, newest first, filtered, with a live tail. */
export function LogsPage() {
  const client = useClient()
  const f = useFilters(EMPTY)
  const { draft, set } = f
  const [live, setLive] = useState(false)
  const query = toFilters(f.filters)
  const { query: log, items } = useCursorPages({
    queryKey: ['request-log', query],
    page: (p) => client.admin.logs.list({ ...query, ...p }),
    perPage: PER_PAGE,
    refetchInterval: live ? TAIL_MS : false,
  })
  return (
    <Page
      title="Request log"
      subtitle="every node's API requests, newest first"
      actions={
        <>
          <label className="check">
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> Live tail
          </label>
          <button type="button" className="btn" onClick={() => void log.refetch()} disabled={log.isFetching}>
            {log.isFetching && !log.isFetchingNextPage ? 'Refreshing…' : 'Refresh'}
          </button>
        </>
      }
    >
      <FilterForm
        state={f}
        style={{
          display: 'grid',
          gridTemplateColumns: 'repeat(auto-fill, minmax(170px, 1fr))',
          gap: 10,
          alignItems: 'end',
        }}
      >
        <TextField label="Since" type="datetime-local" value={draft.since} onChange={set('since')} />
        <TextField label="Until" type="datetime-local" value={draft.until} onChange={set('until')} />
        <TextField label="Status" value={draft.status} onChange={set('status')} placeholder="5xx or 404" />
        <Field label="Method">
          {({ id }) => (
            <select id={id} value={draft.method} onChange={(e) => set('method')(e.target.value)}>
              {METHODS.map((m) => (
                <option key={m} value={m}>
                  {m || 'Any'}
                </option>
              ))}
            </select>
          )}
        </Field>
        <TextField
          label="Path prefix"
          value={draft.path}
          onChange={set('path')}
          placeholder="/api/collections/…"
        />
        <TextField
          label="Principal"
          value={draft.principal}
          onChange={set('principal')}
          placeholder="user:…, key:…"
        />
        <TextField
          label="Slower than (ms)"
          type="number"
          min={0}
          value={draft.minDurationMs}
          onChange={set('minDurationMs')}
        />
        <TextField label="Request id" value={draft.requestId} onChange={set('requestId')} />
      </FilterForm>
      <ErrorNote error={log.error} />
      {log.isPending ? (
        <Loading />
      ) : items.length === 0 && !log.error ? (
        <p className="muted">No request matches.</p>
      ) : (
        <div className="panel" style={{ overflowX: 'auto' }}>
          <DataTable
            label="Requests"
            columns={['Time', 'Method', 'Path', 'Status', 'Duration', 'Size', 'Who', 'Request id']}
          >
            {items.map((r) => (
              <LogRow key={r.id} entry={r} onFilter={f.only} />
            ))}
          </DataTable>
        </div>
      )}
      <LoadMore pages={log} shown={items.length} end="the end of the log" />
    </Page>
  )
}

function LogRow(props: { entry: RequestLogEntry; onFilter: (f: Partial<Filters>) => void }) {
  const r = props.entry
  const tone = r.status >= 500 ? 'badge danger' : r.status < 400 ? 'badge ok' : 'badge'
  return (
    <tr>
      <td>
        <time dateTime={r.at} className="muted">
          {formatTime(r.at)}
        </time>
      </td>
      <td className="mono">{r.method}</td>
      <td className="mono" title={r.route}>
        {r.path}
      </td>
      <td>
        <span className={tone}>{r.status}</span>
      </td>
      <td>{r.durationMs < 1 ? '<1 ms' : `${Math.round(r.durationMs)} ms`}</td>
      <td>{r.bytesOut === null ? '' : formatBytes(r.bytesOut)}</td>
      <td className="mono">
        {r.principalId ? (
          <button
            type="button"
            className="btn small"
            title="Only this principal"
            onClick={() => props.onFilter({ principal: r.principalId ?? '' })}
          >
            {r.principalId}
          </button>
        ) : (
          <span className="muted">{r.principalKind}</span>
        )}
      </td>
      <td className="mono">
        <button
          type="button"
          className="btn small"
          title="Only this request"
          onClick={() => props.onFilter({ requestId: r.requestId })}
        >
          {r.requestId.slice(0, 8)}
        </button>
      </td>
    </tr>
  )
}
