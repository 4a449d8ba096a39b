import { useEffect, useRef, useState } from 'react'
import type { EditorHandle } from './codemirror.ts'
import type { SourcePosition } from './error-position.ts'

/**
 * A function's source in CodeMirror (TypeScript), loaded on first use. `value` is pushed into the editor when it
 * changes from outside (a version loaded, a template chosen); edits come back through `onChange`.
 */
export function CodeEditor(props: {
  value: string
  onChange: (text: string) => void
  label: string
  readOnly?: boolean
  /** Marked in the editor, and scrolled to. */
  problem?: (SourcePosition & { message: string }) | null
  /** Ctrl/Cmd-S in the editor. */
  onSave?: () => void
}) {
  const host = useRef<HTMLDivElement>(null)
  const editor = useRef<EditorHandle | null>(null)
  const [failed, setFailed] = useState<unknown>(null)
  const [ready, setReady] = useState(false)
  // The latest callbacks, read by the editor (created once).
  const latest = useRef(props)
  latest.current = props

  useEffect(() => {
    let cancelled = false
    import('./codemirror.ts').then(
      ({ createEditor }) => {
        if (cancelled || !host.current) return
        editor.current = createEditor(host.current, {
          text: latest.current.value,
          label: latest.current.label,
          readOnly: latest.current.readOnly ?? false,
          onChange: (t) => latest.current.onChange(t),
          onSave: () => latest.current.onSave?.(),
        })
        setReady(true)
      },
      (e) => setFailed(e),
    )
    return () => {
      cancelled = true
      editor.current?.destroy()
      editor.current = null
    }
  }, [])

  useEffect(() => {
    if (ready) editor.current?.setText(props.value)
  }, [ready, props.value])
  useEffect(() => {
    if (ready) editor.current?.setReadOnly(props.readOnly ?? false)
  }, [ready, props.readOnly])
  useEffect(() => {
    if (ready) editor.current?.setLabel(props.label)
  }, [ready, props.label])
  const { problem } = props
  useEffect(() => {
    if (ready) editor.current?.setProblem(problem ?? null)
  }, [ready, problem])

  return (
    <div className="fn-editor">
      {failed ? (
        <p className="error-note" role="alert">
          The editor could not be loaded ({failed instanceof Error ? failed.message : String(failed)}): reload
          the page.
        </p>
      ) : !ready ? (
        <p className="muted" role="status">
          Loading the editor…
        </p>
      ) : null}
      <div ref={host} data-testid="code-editor" />
    </div>
  )
}
