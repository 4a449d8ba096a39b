import { BastideError } from '@bastide/sdk'

/** The per-field problems a VALIDATION_FAILED answer carries, as `path: message` lines. */
export function fieldProblems(error: unknown): [string, string][] {
  if (!(error instanceof BastideError)) return []
  const fields = (error.details as { fields?: Record<string, unknown> } | undefined)?.fields
  if (!fields || typeof fields !== 'object') return []
  return Object.entries(fields).map(([k, v]) => [k, problemText(v)])
}

/** A field problem as the server words it: a string, `{code, message}`, or a list of either. */
function problemText(v: unknown): string {
  if (typeof v === 'string') return v
  if (Array.isArray(v)) return v.map(problemText).join('; ')
  if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string')
    return (v as { message: string }).message
  return JSON.stringify(v)
}

/** What went wrong, in the server's words (message, code, field problems), never a stack trace. */
export function ErrorNote(props: { error: unknown; title?: string }) {
  const { error } = props
  if (error == null) return null
  const message = error instanceof Error ? error.message : String(error)
  const code = error instanceof BastideError ? error.code : undefined
  const problems = fieldProblems(error)
  return (
    <div className="error-note" role="alert">
      {props.title ? <strong>{props.title}: </strong> : null}
      {message}
      {code ? <span className="mono"> ({code})</span> : null}
      {problems.length > 0 ? (
        <ul>
          {problems.map(([k, v]) => (
            <li key={k}>
              <code>{k}</code>: {v}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}
