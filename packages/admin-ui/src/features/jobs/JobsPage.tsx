import { useQuery, useQueryClient } from '@tanstack/react-query'
import { Fragment, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field } from '../../components/ui/Field.tsx'
import { LoadMore, useCursorPages } from '../../components/ui/LoadMore.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { type JobInfo, type JobQueueStats, jobsApi, jobsKey } from './api.ts'
import {
  isDeadLetterQueue,
  type JobsView,
  jobAttempts,
  listTarget,
  orderQueues,
  STATE_VIEWS,
} from './views.ts'
import './jobs.css'

const PER_PAGE = 30

/**
 * The durable job queue: every queue's counts, and one queue's jobs (its dead letters first: jobs out of
 * retries), each with its error and attempts, to replay or delete.
 */
export function JobsPage() {
  const client = useClient()
  const queues = useQuery({
    queryKey: [...jobsKey, 'queues'],
    queryFn: ({ signal }) => jobsApi(client).queues({ signal }),
  })
  const all = queues.data ?? []
  const ordered = orderQueues(all)
  const [selected, setSelected] = useState<string | null>(null)
  const current = ordered.find((q) => q.name === selected) ?? null
  const queryClient = useQueryClient()
  return (
    <Page
      title="Jobs"
      subtitle="the durable queue behind function triggers, retries and webhooks"
      actions={
        <button
          type="button"
          className="btn"
          onClick={() => void queryClient.invalidateQueries({ queryKey: jobsKey })}
          disabled={queues.isFetching}
        >
          {queues.isFetching ? 'Refreshing…' : 'Refresh'}
        </button>
      }
    >
      <ErrorNote error={queues.error} />
      {queues.isPending ? (
        <Loading />
      ) : ordered.length === 0 && !queues.error ? (
        <p className="muted">
          No queue yet: queues appear with the first function event trigger or scheduled job.
        </p>
      ) : (
        <div className="panel" style={{ overflowX: 'auto' }}>
          <DataTable
            label="Queues"
            className="jobs-counts"
            columns={[
              'Queue',
              'Queued',
              'Active',
              'Failed',
              'Completed',
              'Dead letters to',
              { hidden: 'Actions' },
            ]}
          >
            {ordered.map((q) => (
              <tr
                key={q.name}
                className={q.name === selected ? 'jobs-selected' : undefined}
                data-queue={q.name}
              >
                <td className="mono">
                  {q.name}
                  {isDeadLetterQueue(q, all) ? (
                    <>
                      {' '}
                      <span className="badge danger">dead letters</span>
                    </>
                  ) : null}
                </td>
                <td className="num">{q.queued}</td>
                <td className="num">{q.active}</td>
                <td className="num">{q.failed}</td>
                <td className="num">{q.completed}</td>
                <td className="mono">{q.deadLetter ?? ''}</td>
                <td>
                  <button
                    type="button"
                    className="btn small"
                    aria-pressed={q.name === selected}
                    onClick={() => setSelected(q.name)}
                  >
                    Jobs of {q.name}
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        </div>
      )}
      {current ? <QueueJobs key={current.name} queue={current} all={all} /> : null}
    </Page>
  )
}

function QueueJobs(props: { queue: JobQueueStats; all: readonly JobQueueStats[] }) {
  const { queue: q } = props
  const client = useClient()
  const queryClient = useQueryClient()
  const deadQueue = isDeadLetterQueue(q, props.all)
  const [view, setView] = useState<JobsView>(q.deadLetter ? 'dead' : deadQueue ? 'created' : 'failed')
  const target = listTarget(q, view)
  /** The jobs listed sit in a dead-letter queue (this one's, or this queue is one). */
  const inDead = target.queue !== q.name || deadQueue
  const { query, items } = useCursorPages({
    queryKey: [...jobsKey, 'list', target.queue, target.state ?? 'all'],
    page: ({ perPage, ...p }) =>
      jobsApi(client).list(target.queue, {
        ...(target.state ? { state: target.state } : {}),
        ...p,
        limit: perPage,
      }),
    perPage: PER_PAGE,
  })
  const [open, setOpen] = useState<string | null>(null)
  const [acting, setActing] = useState<{ job: JobInfo; action: 'replay' | 'delete' } | null>(null)
  const [done, setDone] = useState<string | null>(null)
  const refresh = () => queryClient.invalidateQueries({ queryKey: jobsKey })
  return (
    <section className="panel stack" aria-labelledby="jobs-of">
      <div className="row">
        <h2 id="jobs-of" className="grow">
          Jobs of <span className="mono">{q.name}</span>
        </h2>
        <Field label="Show">
          {({ id }) => (
            <select id={id} value={view} onChange={(e) => setView(e.target.value as JobsView)}>
              {q.deadLetter ? <option value="dead">Dead letters ({q.deadLetter})</option> : null}
              {STATE_VIEWS.map((s) => (
                <option key={s.view} value={s.view}>
                  {s.label}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      {done ? (
        <p className="ok-note" role="status">
          {done}
        </p>
      ) : null}
      <ErrorNote error={query.error} />
      {query.isPending ? (
        <Loading />
      ) : items.length === 0 && !query.error ? (
        <p className="muted">
          {view === 'dead'
            ? 'No dead letter: every job ended well or is still retrying.'
            : 'No job in this state.'}
        </p>
      ) : (
        <div style={{ overflowX: 'auto' }}>
          <DataTable
            label={view === 'dead' ? `Dead letters of ${q.name}` : `Jobs of ${q.name}`}
            columns={['Created', 'State', 'Attempts', 'Error', 'Job', { hidden: 'Actions' }]}
          >
            {items.map((j) => (
              <Fragment key={j.id}>
                <tr data-job={j.id}>
                  <td>
                    <time dateTime={j.createdAt}>{formatTime(j.createdAt)}</time>
                  </td>
                  <td>
                    <JobStateBadge job={j} dead={inDead} />
                  </td>
                  <td>{jobAttempts(j, inDead)}</td>
                  <td>
                    {j.error ? (
                      <span className="jobs-error">{j.error}</span>
                    ) : (
                      <span className="muted">none</span>
                    )}
                  </td>
                  <td className="mono">
                    <button
                      type="button"
                      className="btn small"
                      aria-expanded={open === j.id}
                      aria-controls={`job-${j.id}`}
                      onClick={() => setOpen(open === j.id ? null : j.id)}
                      title="Show the job's data"
                    >
                      {j.id.slice(0, 8)}
                    </button>
                  </td>
                  <td>
                    <div className="row">
                      {j.state === 'active' || j.state === 'completed' ? null : (
                        <button
                          type="button"
                          className="btn small"
                          onClick={() => setActing({ job: j, action: 'replay' })}
                        >
                          Replay
                        </button>
                      )}
                      {j.state === 'active' ? null : (
                        <button
                          type="button"
                          className="btn small danger"
                          onClick={() => setActing({ job: j, action: 'delete' })}
                        >
                          Delete
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
                {open === j.id ? (
                  <tr className="jobs-details" id={`job-${j.id}`}>
                    <td colSpan={6}>
                      <JobDetails job={j} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </DataTable>
        </div>
      )}
      <LoadMore pages={query} shown={items.length} end="the oldest job kept" />
      {acting?.action === 'replay' ? (
        <ConfirmDialog
          title="Replay this job?"
          confirmLabel="Replay job"
          onConfirm={async () => {
            const j = await jobsApi(client).replay(acting.job.queue, acting.job.id)
            setDone(`Job ${acting.job.id} is queued again on ${j.queue}.`)
            await refresh()
          }}
          onClose={() => setActing(null)}
        >
          <p>
            Job <span className="mono">{acting.job.id}</span> goes back to its queue and runs again, with a
            fresh set of {acting.job.retryLimit} retries. Its handler sees the same data: make sure a second
            run is safe (functions get <code>ctx.job.id</code> as an idempotency key).
          </p>
        </ConfirmDialog>
      ) : acting?.action === 'delete' ? (
        <ConfirmDialog
          title="Delete this job?"
          confirmLabel="Delete job"
          danger
          onConfirm={async () => {
            await jobsApi(client).remove(acting.job.queue, acting.job.id)
            setDone(`Job ${acting.job.id} deleted.`)
            await refresh()
          }}
          onClose={() => setActing(null)}
        >
          <p>
            Job <span className="mono">{acting.job.id}</span> of{' '}
            <span className="mono">{acting.job.queue}</span> and its data are deleted: it will never run
            again.
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  )
}

/** A job's state; a dead letter waiting in its queue (never worked there) says so. */
function JobStateBadge(props: { job: JobInfo; dead: boolean }) {
  const { state } = props.job
  if (props.dead && state === 'created') return <span className="badge danger">dead letter</span>
  return (
    <span className={state === 'failed' ? 'badge danger' : state === 'completed' ? 'badge ok' : 'badge'}>
      {state}
    </span>
  )
}

function JobDetails(props: { job: JobInfo }) {
  const j = props.job
  return (
    <div className="stack">
      <dl className="account-facts" aria-label={`Job ${j.id}`}>
        <div>
          <dt>Id</dt>
          <dd className="mono">{j.id}</dd>
        </div>
        <div>
          <dt>Queue</dt>
          <dd className="mono">{j.queue}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{j.startedAt ? <time dateTime={j.startedAt}>{formatTime(j.startedAt)}</time> : 'never'}</dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd>{j.completedAt ? <time dateTime={j.completedAt}>{formatTime(j.completedAt)}</time> : '—'}</dd>
        </div>
        {j.singletonKey ? (
          <div>
            <dt>Unique by</dt>
            <dd className="mono">{j.singletonKey}</dd>
          </div>
        ) : null}
      </dl>
      <pre data-part="job-data">{JSON.stringify(j.data, null, 2)}</pre>
    </div>
  )
}
