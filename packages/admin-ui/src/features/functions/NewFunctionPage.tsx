import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate } from '@tanstack/react-router'
import { useMemo, useState } from 'react'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { functionsApi, functionsKey } from './api.ts'
import { CodeEditor } from './CodeEditor.tsx'
import { DeployProblem } from './DeployProblem.tsx'
import { errorPosition } from './error-position.ts'
import { functionTemplate, nameProblem, TEMPLATES, type TemplateId } from './template.ts'
import './functions.css'

/** A new function: its name, a template to start from, the editor, and the first deploy. */
export function NewFunctionPage() {
  const client = useClient()
  const api = functionsApi(client)
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [name, setName] = useState('')
  const [template, setTemplate] = useState<TemplateId>('http')
  const [source, setSource] = useState(() => functionTemplate('http', 'hello'))
  /** The source is still the template's: changing the name or template rewrites it. */
  const [pristine, setPristine] = useState(true)
  const existing = useQuery({
    queryKey: functionsKey,
    queryFn: ({ signal }) => api.list({ signal }),
  })
  const taken = existing.data?.some((f) => f.name === name) ?? false
  const problem = name === '' ? null : nameProblem(name)
  const deploy = useMutation({
    mutationFn: () => api.deploy(name, source),
    onSuccess: (detail) => {
      queryClient.setQueryData([...functionsKey, detail.name], detail)
      void queryClient.invalidateQueries({ queryKey: functionsKey, exact: true })
      void navigate({ to: '/functions/$name', params: { name: detail.name } })
    },
  })
  const position = useMemo(
    () => (deploy.error ? errorPosition(deploy.error, source) : null),
    [deploy.error, source],
  )
  const editorProblem = useMemo(
    () => (position && deploy.error instanceof Error ? { ...position, message: deploy.error.message } : null),
    [position, deploy.error],
  )
  const retemplate = (t: TemplateId, n: string) => {
    if (pristine) setSource(functionTemplate(t, n || 'hello'))
  }
  const canDeploy = name !== '' && problem === null && !deploy.isPending
  return (
    <Page
      title="New function"
      subtitle="one TypeScript module: export default defineFunction({ on, handler })"
      actions={
        <Link to="/functions" className="btn">
          Cancel
        </Link>
      }
    >
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault()
          if (canDeploy) deploy.mutate()
        }}
      >
        <div className="panel fn-filters">
          <TextField
            label="Name"
            value={name}
            onChange={(v) => {
              setName(v)
              retemplate(template, v)
            }}
            hint={
              problem ??
              (taken
                ? 'A function has this name: deploying replaces its active version.'
                : name
                  ? `HTTP triggers answer at /api/functions/${name}`
                  : 'Lowercase letters, digits and dashes, starting with a letter.')
            }
            aria-invalid={problem !== null}
            autoComplete="off"
            spellCheck={false}
          />
          <Field label="Template">
            {({ id }) => (
              <select
                id={id}
                value={template}
                onChange={(e) => {
                  const t = e.target.value as TemplateId
                  setTemplate(t)
                  retemplate(t, name)
                }}
              >
                {TEMPLATES.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {!pristine ? (
            <button
              type="button"
              className="btn"
              onClick={() => {
                setPristine(true)
                setSource(functionTemplate(template, name || 'hello'))
              }}
            >
              Start over from the template
            </button>
          ) : null}
        </div>
        <CodeEditor
          label={`Source of ${name || 'the new function'}`}
          value={source}
          onChange={(t) => {
            setSource(t)
            setPristine(false)
            if (deploy.error) deploy.reset()
          }}
          problem={editorProblem}
          onSave={() => {
            if (canDeploy) deploy.mutate()
          }}
        />
        <div aria-live="polite">
          <DeployProblem error={deploy.error} source={source} position={position} />
        </div>
        <div className="row">
          <button type="submit" className="btn primary" disabled={!canDeploy}>
            {deploy.isPending ? 'Deploying…' : 'Deploy'}
          </button>
          <span className="muted">Ctrl+S (⌘S) in the editor deploys too.</span>
        </div>
      </form>
    </Page>
  )
}
