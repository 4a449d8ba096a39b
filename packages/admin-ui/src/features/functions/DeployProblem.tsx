import { BastideError } from '@bastide/sdk'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import type { SourcePosition } from './error-position.ts'

/**
 * A failed deploy in the server's words. FUNCTION_INVALID keeps its lines (a parser's code frame, the module's
 * stack frames); at a known place, that line of the source with a caret under the column (the editor marks it
 * too).
 */
export function DeployProblem(props: { error: unknown; source: string; position: SourcePosition | null }) {
  const { error, source, position } = props
  if (error == null) return null
  if (!(error instanceof BastideError && error.code === 'FUNCTION_INVALID'))
    return <ErrorNote error={error} title="The deploy failed" />
  const lineText = position ? (source.split('\n')[position.line - 1] ?? '') : ''
  const pad = position
    ? [...lineText.slice(0, position.column - 1)].map((ch) => (ch === '\t' ? '\t' : ' ')).join('')
    : ''
  return (
    <div className="error-note" role="alert">
      <strong>The function does not load</strong>
      <span className="mono"> (FUNCTION_INVALID)</span>
      {position ? <span>, line {position.line}</span> : null}:<pre className="fn-error">{error.message}</pre>
      {position ? (
        <pre className="fn-problem" data-part="error-position">
          {`Line ${position.line}, column ${position.column}:\n${lineText}\n${pad}^`}
        </pre>
      ) : null}
    </div>
  )
}
