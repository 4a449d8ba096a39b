import type { Invocation } from '@bastide/protocol'
import { formatTime } from '../../lib/format.ts'

/** An invocation's error and captured log lines. */
export function InvocationDetails(props: { invocation: Invocation }) {
  const i = props.invocation
  return (
    <div className="stack">
      {i.error ? (
        <pre className="fn-error" data-part="error">
          {i.error}
        </pre>
      ) : null}
      {i.logs.length === 0 ? (
        <p className="muted">No log line.</p>
      ) : (
        <ol className="fn-logs" aria-label="Log lines">
          {i.logs.map((l, n) => (
            // Log lines have no id; their order is fixed.
            // biome-ignore lint/suspicious/noArrayIndexKey: an invocation's lines never change
            <li key={n} className={`fn-level-${l.level}`}>
              <time dateTime={l.at} className="muted" title={formatTime(l.at)}>
                {l.at.slice(11, 23)}
              </time>
              <span>{l.level}</span>
              <span className="fn-message">{l.message}</span>
            </li>
          ))}
        </ol>
      )}
      <p className="muted">
        Invocation <span className="mono">{i.id}</span>, v{i.version}
        {i.jobId ? (
          <>
            , job <span className="mono">{i.jobId}</span> attempt {i.attempt}
          </>
        ) : null}
        .
      </p>
    </div>
  )
}
