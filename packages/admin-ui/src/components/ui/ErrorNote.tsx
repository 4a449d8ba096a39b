import { BastideError } from '@bastide/sdk'

/** The per-field problems a 400 carries (`details.fields`, `details.issues`), as `path: message` lines. */
export function fieldProblems(error: unknown): [string, string][] {
  if (!(error instanceof BastideError)) return []
  const details = error.details as { fields?: Record<string, unknown>; issues?: unknown } | undefined
  const out: [string, string][] = []
  if (details?.fields && typeof details.fields === 'object')
    for (const [k, v] of Object.entries(details.fields)) out.push([k, problemText(v)])
  // Query and body shape errors: zod's issues, each with its path.
  if (Array.isArray(details?.issues))
    for (const i of details.issues as { path?: unknown; message?: unknown }[]) {
      const where = Array.isArray(i.path) ? i.path.join('.') : String(i.path ?? '')
      out.push([where || '(request)', typeof i.message === 'string' ? i.message : JSON.stringify(i)])
    }
  return out
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
