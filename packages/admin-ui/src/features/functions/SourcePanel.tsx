import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useEffect, useMemo, useState } from 'react'
import { useClient } from '../../lib/client.tsx'
import { type FunctionDetail, functionsApi, functionsKey } from './api.ts'
import { CodeEditor } from './CodeEditor.tsx'
import { DeployProblem } from './DeployProblem.tsx'
import { errorPosition } from './error-position.ts'

/**
 * The active version's source in the editor, and Deploy (a new version, active at once). A version deployed
 * elsewhere meanwhile replaces an unchanged draft, and is announced over a changed one.
 */
export function SourcePanel(props: {
  fn: FunctionDetail
  /** Source to edit instead of the active one (a version's "Edit from here"), once. */
  startFrom: { source: string; version: number } | null
  onStarted: () => void
}) {
  const { fn } = props
  const client = useClient()
  const queryClient = useQueryClient()
  const [base, setBase] = useState({ source: fn.source, version: fn.version })
  const [draft, setDraft] = useState(fn.source)
  const changed = draft !== base.source
  // Follow deploys from elsewhere (CLI, another admin) while nothing is edited here.
  useEffect(() => {
    if (fn.version === base.version && fn.source === base.source) return
    if (draft === base.source) {
      setBase({ source: fn.source, version: fn.version })
      setDraft(fn.source)
    }
  }, [fn.version, fn.source, base, draft])
  const { startFrom, onStarted } = props
  useEffect(() => {
    if (!startFrom) return
    setDraft(startFrom.source)
    onStarted()
  }, [startFrom, onStarted])

  const deploy = useMutation({
    mutationFn: () => functionsApi(client).deploy(fn.name, draft),
    onSuccess: (detail) => {
      queryClient.setQueryData([...functionsKey, fn.name], detail)
      void queryClient.invalidateQueries({ queryKey: functionsKey, exact: true })
      setBase({ source: detail.source, version: detail.version })
      setDraft(detail.source)
    },
  })
  const position = useMemo(
    () => (deploy.error ? errorPosition(deploy.error, draft) : null),
    [deploy.error, draft],
  )
  const editorProblem = useMemo(
    () => (position && deploy.error instanceof Error ? { ...position, message: deploy.error.message } : null),
    [position, deploy.error],
  )
  const run = () => {
    if (changed && !deploy.isPending) deploy.mutate()
  }
  const stale = fn.version !== base.version
  return (
    <div className="stack">
      <div className="fn-toolbar">
        <button type="button" className="btn primary" onClick={run} disabled={!changed || deploy.isPending}>
          {deploy.isPending ? 'Deploying…' : 'Deploy'}
        </button>
        <button
          type="button"
          className="btn"
          onClick={() => {
            setDraft(fn.source)
            setBase({ source: fn.source, version: fn.version })
            deploy.reset()
          }}
          disabled={!changed && !stale}
        >
          Discard changes
        </button>
        <span className="muted" role="status">
          {changed ? `Edited: not deployed (from v${base.version}).` : `v${fn.version}, active.`}
        </span>
      </div>
      {stale ? (
        <p className="warn-note" role="status">
          Version v{fn.version} was deployed since you started editing v{base.version}: deploying replaces it
          with your text. “Discard changes” loads v{fn.version}.
        </p>
      ) : null}
      {deploy.isSuccess && !changed ? (
        <p className="ok-note" role="status">
          Deployed v{deploy.data.version}: active now.
        </p>
      ) : null}
      <CodeEditor
        label={`Source of ${fn.name}`}
        value={draft}
        onChange={(t) => {
          setDraft(t)
          if (deploy.error || deploy.isSuccess) deploy.reset()
        }}
        problem={editorProblem}
        onSave={run}
      />
      <div aria-live="polite">
        <DeployProblem error={deploy.error} source={draft} position={position} />
      </div>
    </div>
  )
}
