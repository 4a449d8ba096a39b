import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { useClient } from '../../lib/client.tsx'
import { type FunctionDetail, functionsApi, functionsKey } from './api.ts'
import { formatDuration, StatusBadge } from './badges.tsx'
import { InvocationDetails } from './InvocationDetails.tsx'
import { parseEvent } from './parse-event.ts'
import { hasEventTrigger, sampleEvent } from './triggers.ts'

/**
 * A test run of the active version's event handler with a JSON event (POST …/invoke), recorded like any
 * invocation; the result, its error and its log lines shown here.
 */
export function TestRunPanel(props: { fn: FunctionDetail }) {
  const { fn } = props
  const client = useClient()
  const queryClient = useQueryClient()
  const id = useId()
  const [text, setText] = useState(() => JSON.stringify(sampleEvent(fn.manifest), null, 2))
  const [parseError, setParseError] = useState<string | null>(null)
  const run = useMutation({
    mutationFn: (event: Readonly<Record<string, unknown>>) => functionsApi(client).invoke(fn.name, event),
    onSettled: () => queryClient.invalidateQueries({ queryKey: [...functionsKey, fn.name, 'invocations'] }),
  })
  if (!hasEventTrigger(fn.manifest))
    return (
      <p className="muted">
        This function answers HTTP only: call it at <code>/api/functions/{fn.name}</code> (curl, the browser,
        the SDK). A test run is for record, auth, storage and cron handlers.
      </p>
    )
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault()
        const parsed = parseEvent(text)
        if (!parsed.ok) {
          setParseError(parsed.message)
          return
        }
        setParseError(null)
        run.mutate(parsed.value)
      }}
    >
      <div className="field">
        <label htmlFor={id}>
          <span>Event (JSON)</span>
        </label>
        <textarea
          id={id}
          className="fn-json"
          value={text}
          spellCheck={false}
          aria-describedby={`${id}-hint`}
          aria-invalid={parseError !== null}
          onChange={(e) => setText(e.target.value)}
        />
        <span id={`${id}-hint`} className="hint">
          The handler's <code>event</code>, as its trigger would pass it. The run uses the active version (v
          {fn.version}), its secrets and its limits.
        </span>
      </div>
      <div className="row">
        <button type="submit" className="btn primary" disabled={run.isPending}>
          {run.isPending ? 'Running…' : 'Run'}
        </button>
        <button
          type="button"
          className="btn"
          onClick={() => setText(JSON.stringify(sampleEvent(fn.manifest), null, 2))}
        >
          Sample event
        </button>
      </div>
      {parseError ? (
        <p className="error-note" role="alert">
          {parseError}
        </p>
      ) : null}
      <ErrorNote error={run.error} title="The test run failed" />
      {run.data ? (
        <section className="panel stack" aria-label="Test run result">
          <div className="row">
            <StatusBadge status={run.data.status} />
            <span>{formatDuration(run.data.durationMs)}</span>
            <span className="muted">
              {run.data.status === 'ok' ? 'The handler returned.' : 'The handler failed.'}
            </span>
          </div>
          <InvocationDetails invocation={run.data} />
        </section>
      ) : null}
    </form>
  )
}
