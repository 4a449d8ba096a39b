import type { MetricsSummary } from '@bastide/protocol'
import { useQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { useEffect, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatBytes } from '../../lib/format.ts'
import { LineChart } from './LineChart.tsx'

/** The summary is re-read this often while the page is open. */
const REFRESH_MS = 15_000
/** Realtime connections are a current value: the page keeps its own samples (an hour at REFRESH_MS). */
const SAMPLES = 240

const time = (iso: string | undefined) =>
  iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : ''
const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`)
const count = (v: number) => (v >= 10_000 ? `${Math.round(v / 1000)}k` : String(Math.round(v * 10) / 10))
const percent = (v: number) => `${Math.round(v * 1000) / 10}%`
/** Charts side by side, as many as fit; one chart alone keeps a chart's width. */
const GRID = {
  display: 'grid',
  gridTemplateColumns: 'repeat(auto-fill, minmax(300px, 1fr))',
  gap: 16,
} as const

/** Metrics: this node's state and the last hour of every node's requests, refreshed every 15 seconds. */
export function MetricsPage() {
  const client = useClient()
  const summary = useQuery({
    queryKey: ['metrics-summary'],
    queryFn: ({ signal }) => client.admin.metrics.summary({ signal }),
    refetchInterval: REFRESH_MS,
  })
  const [connections, setConnections] = useState<{ at: string; n: number }[]>([])
  const data = summary.data
  useEffect(() => {
    if (!data) return
    setConnections((prev) =>
      [...prev, { at: new Date().toISOString(), n: data.node.realtimeConnections }].slice(-SAMPLES),
    )
  }, [data])
  return (
    <Page
      title="Metrics"
      subtitle={data ? `node ${data.node.name}, refreshed every 15 s` : undefined}
      actions={
        <button
          type="button"
          className="btn"
          onClick={() => void summary.refetch()}
          disabled={summary.isFetching}
        >
          {summary.isFetching ? 'Refreshing…' : 'Refresh'}
        </button>
      }
    >
      <ErrorNote error={summary.error} />
      {!data ? (
        summary.isPending ? (
          <Loading />
        ) : null
      ) : (
        <>
          <NodeFacts summary={data} />
          {data.retentionHours === 0 ? (
            <p className="warn-note">
              Request logging is off (BASTIDE_REQUEST_LOG_RETENTION_HOURS=0): no request charts.
            </p>
          ) : null}
          <div style={GRID}>
            {data.retentionHours > 0 ? <RequestCharts summary={data} /> : null}
            <LineChart
              title="Realtime connections (this node)"
              from={time(connections[0]?.at)}
              to={time(connections.at(-1)?.at)}
              format={count}
              series={[{ label: 'connections', color: 'var(--accent)', values: connections.map((c) => c.n) }]}
            />
          </div>
          {data.topRoutes.length > 0 ? <TopRoutes summary={data} /> : null}
        </>
      )}
    </Page>
  )
}

function NodeFacts(props: { summary: MetricsSummary }) {
  const n = props.summary.node
  const facts: [string, string][] = [
    ['Realtime connections', String(n.realtimeConnections)],
    ['Database pool', `${n.dbPool.total - n.dbPool.idle} busy, ${n.dbPool.idle} idle of ${n.dbPool.max}`],
    ['Waiting for a connection', String(n.dbPool.waiting)],
    ['Storage', `${formatBytes(n.storage.bytes)} in ${n.storage.objects} objects`],
    ['Refused sign-ins', String(n.authFailures)],
    ['Rate-limited requests', String(n.rateLimited)],
    ['Memory', formatBytes(n.residentMemoryBytes)],
    ['Up for', `${Math.floor(n.uptimeSeconds / 3600)} h ${Math.floor((n.uptimeSeconds % 3600) / 60)} min`],
  ]
  return (
    <section className="panel" aria-label="This node">
      <dl
        style={{
          display: 'grid',
          gridTemplateColumns: 'repeat(auto-fill, minmax(200px, 1fr))',
          gap: 12,
          margin: 0,
        }}
      >
        {facts.map(([k, v]) => (
          <div key={k}>
            <dt className="muted">{k}</dt>
            <dd style={{ margin: 0, fontSize: 18 }}>{v}</dd>
          </div>
        ))}
      </dl>
    </section>
  )
}

function RequestCharts(props: { summary: MetricsSummary }) {
  const s = props.summary.series
  const from = time(s[0]?.minute)
  const to = time(s.at(-1)?.minute)
  const empty = (pick: (m: MetricsSummary['series'][number]) => number) =>
    s.map((m) => (m.requests > 0 ? pick(m) : null))
  return (
    <>
      <LineChart
        title="Requests per minute"
        from={from}
        to={to}
        format={count}
        series={[{ label: 'requests', color: 'var(--accent)', values: s.map((m) => m.requests) }]}
      />
      <LineChart
        title="Errors per minute"
        from={from}
        to={to}
        format={count}
        series={[
          { label: '5xx', color: 'var(--danger)', values: s.map((m) => m.serverErrors) },
          { label: '4xx', color: 'var(--muted)', values: s.map((m) => m.clientErrors) },
        ]}
      />
      <LineChart
        title="Latency"
        from={from}
        to={to}
        format={ms}
        series={[
          { label: 'p50', color: 'var(--ok)', values: empty((m) => m.p50Ms) },
          { label: 'p95', color: 'var(--accent)', values: empty((m) => m.p95Ms) },
          { label: 'p99', color: 'var(--danger)', values: empty((m) => m.p99Ms) },
        ]}
      />
      <LineChart
        title="Server error rate"
        from={from}
        to={to}
        format={percent}
        series={[{ label: '5xx share', color: 'var(--danger)', values: empty((m) => m.errorRate) }]}
      />
    </>
  )
}

function TopRoutes(props: { summary: MetricsSummary }) {
  return (
    <div className="panel" style={{ marginTop: 16 }}>
      <table className="table" aria-label="Routes by time spent">
        <caption style={{ textAlign: 'left', fontWeight: 600, marginBottom: 6 }}>
          Routes by time spent, last hour
        </caption>
        <thead>
          <tr>
            <th scope="col">Route</th>
            <th scope="col">Requests</th>
            <th scope="col">Total</th>
            <th scope="col">p95</th>
            <th scope="col">5xx</th>
          </tr>
        </thead>
        <tbody>
          {props.summary.topRoutes.map((r) => (
            <tr key={`${r.method} ${r.route}`}>
              <td className="mono">
                {r.method} {r.route}
              </td>
              <td>{r.requests}</td>
              <td>{ms(r.totalMs)}</td>
              <td>{ms(r.p95Ms)}</td>
              <td>{r.serverErrors}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">
        Every request is in the <Link to="/logs">request log</Link>.
      </p>
    </div>
  )
}
