import type { RequestLogEntry, RequestLogFilters } from '@bastide/protocol'
import { useInfiniteQuery } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
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
  const [draft, setDraft] = useState<Filters>(EMPTY)
  const [filters, setFilters] = useState<Filters>(EMPTY)
  const [live, setLive] = useState(false)
  const query = toFilters(filters)
  const log = useInfiniteQuery({
    queryKey: ['request-log', query],
    queryFn: ({ pageParam, signal }) =>
      client.admin.logs.list({
        ...query,
        perPage: PER_PAGE,
        signal,
        ...(pageParam ? { cursor: pageParam } : {}),
      }),
    initialPageParam: '' as string,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: live ? TAIL_MS : false,
  })
  const items = log.data?.pages.flatMap((p) => p.items) ?? []
  const set = (k: keyof Filters) => (v: string) => setDraft({ ...draft, [k]: v })
  const only = (f: Partial<Filters>) => {
    const next = { ...filters, ...f }
    setDraft(next)
    setFilters(next)
  }
  const apply = (e: FormEvent) => {
    e.preventDefault()
    setFilters(draft)
  }
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
      <form
        className="panel"
        onSubmit={apply}
        aria-label="Filters"
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
        <div className="row">
          <button type="submit" className="btn primary">
            Apply filters
          </button>
          <button
            type="button"
            className="btn"
            onClick={() => {
              setDraft(EMPTY)
              setFilters(EMPTY)
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <ErrorNote error={log.error} />
      {log.isPending ? (
        <Loading />
      ) : items.length === 0 && !log.error ? (
        <p className="muted">No request matches.</p>
      ) : (
        <div className="panel" style={{ overflowX: 'auto' }}>
          <table className="table" aria-label="Requests">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Method</th>
                <th scope="col">Path</th>
                <th scope="col">Status</th>
                <th scope="col">Duration</th>
                <th scope="col">Size</th>
                <th scope="col">Who</th>
                <th scope="col">Request id</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <LogRow key={r.id} entry={r} onFilter={only} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {log.hasNextPage ? (
        <div className="row">
          <button
            type="button"
            className="btn"
            disabled={log.isFetchingNextPage}
            onClick={() => void log.fetchNextPage()}
          >
            {log.isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
          <span className="muted">{items.length} shown</span>
        </div>
      ) : items.length > 0 ? (
        <p className="muted">{items.length} shown: the end of the log.</p>
      ) : null}
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
