import type { SchemaApplyResult, SchemaDocument, SchemaPlan } from '@bastide/protocol'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { type DragEvent, useId, useRef, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { useClient } from '../../lib/client.tsx'
import { PlanTable } from './PlanTable.tsx'
import { conflictReason, type ParsedSchema, parseSchemaText } from './schema-file.ts'

/** What the typed confirmation asks for when the plan can lose data. */
const CONFIRM_WORD = 'apply'

/**
 * Import a schema file (picked, dropped or pasted): the server's plan for it, then apply exactly that plan
 * (`expectHash`), after a confirmation that must be typed when anything destructive is in it.
 */
export function SchemaImport() {
  const client = useClient()
  const queryClient = useQueryClient()
  const [text, setText] = useState('')
  const [source, setSource] = useState<string | null>(null)
  const [parsed, setParsed] = useState<ParsedSchema | null>(null)
  const [confirming, setConfirming] = useState(false)
  const [applyError, setApplyError] = useState<unknown>(null)
  const [applied, setApplied] = useState<SchemaApplyResult | null>(null)
  const [over, setOver] = useState(false)
  const inputRef = useRef<HTMLInputElement>(null)
  const inputId = useId()
  const textId = useId()

  const plan = useMutation({
    mutationFn: (schema: SchemaDocument) => client.admin.schema.plan(schema),
  })

  /** Plans the text as it stands; the previous plan, result and error no longer apply. */
  const planText = (t: string) => {
    const p = parseSchemaText(t)
    setParsed(p)
    setApplyError(null)
    setApplied(null)
    plan.reset()
    if (p.ok) plan.mutate(p.schema)
  }
  const load = async (file: File) => {
    const t = await file.text()
    setText(t)
    setSource(file.name)
    planText(t)
  }
  const onDrop = (e: DragEvent) => {
    e.preventDefault()
    setOver(false)
    const file = e.dataTransfer.files[0]
    if (file) void load(file)
  }

  const current: SchemaPlan | undefined = plan.data
  const schema = parsed?.ok ? parsed.schema : undefined
  const destructive = current?.changes.filter((c) => c.destructive) ?? []

  const apply = async () => {
    if (!schema || !current) return
    setApplyError(null)
    try {
      const r = await client.admin.schema.apply(schema, {
        expectHash: current.hash,
        allowDestructive: destructive.length > 0,
      })
      setApplied(r)
      plan.reset()
      // A schema apply can touch collections, buckets and channels: every cached view may be stale.
      await queryClient.invalidateQueries()
    } catch (e) {
      // The instance moved since the plan: nothing was applied. Shown on the page with a way to plan again.
      if (conflictReason(e) === 'plan_changed') {
        setApplyError(e)
        return
      }
      throw e
    }
  }

  return (
    <div className="stack">
      {/* biome-ignore lint/a11y/useSemanticElements: a drop target, not a form group; the picker inside is the keyboard path */}
      <div
        role="region"
        aria-label="Schema file"
        className={`files-drop${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault()
          e.dataTransfer.dropEffect = 'copy'
          setOver(true)
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <span>Drop a schema.json (or a migration file) here, or</span>
        <input
          ref={inputRef}
          id={inputId}
          type="file"
          accept=".json,application/json"
          tabIndex={-1}
          className="sr-only"
          onChange={(e) => {
            const file = e.target.files?.[0]
            e.target.value = ''
            if (file) void load(file)
          }}
        />
        <label htmlFor={inputId} className="sr-only">
          Choose a schema file
        </label>
        <button type="button" className="btn small" onClick={() => inputRef.current?.click()}>
          choose a file…
        </button>
        {source ? <span className="muted">Loaded {source}.</span> : null}
      </div>
      <div className="field">
        <label htmlFor={textId}>
          <span>Or paste the schema (JSON)</span>
        </label>
        <textarea
          id={textId}
          rows={8}
          className="mono"
          spellCheck={false}
          value={text}
          onChange={(e) => {
            setText(e.target.value)
            setSource(null)
          }}
        />
      </div>
      <div className="row">
        <button
          type="button"
          className="btn primary"
          disabled={!text.trim() || plan.isPending}
          onClick={() => planText(text)}
        >
          {plan.isPending ? 'Planning…' : 'Plan changes'}
        </button>
      </div>
      {parsed && !parsed.ok ? (
        <ErrorNote error={new Error(parsed.message)} title="Cannot read the schema" />
      ) : null}
      {parsed?.ok && parsed.fromMigration ? (
        <p className="muted">The schema of migration {parsed.fromMigration} is planned.</p>
      ) : null}
      {parsed?.ok && parsed.missing.length > 0 ? (
        <p className="warn-note">
          The file has no {parsed.missing.join(' or ')} list: it is taken as empty, so the plan deletes every
          one on this instance.
        </p>
      ) : null}
      <ErrorNote error={plan.error} title="The plan failed" />
      {current ? (
        <>
          <PlanTable plan={current} />
          {current.changes.length > 0 ? (
            <div className="row">
              <button
                type="button"
                className={destructive.length > 0 ? 'btn danger' : 'btn primary'}
                onClick={() => setConfirming(true)}
              >
                Apply{' '}
                {current.changes.length === 1 ? 'this change' : `these ${current.changes.length} changes`}
              </button>
            </div>
          ) : null}
        </>
      ) : null}
      {applyError ? (
        <div className="stack">
          <ErrorNote error={applyError} title="Not applied" />
          <p>
            Someone changed the schema of this instance after this plan was made, so it was not applied. Plan
            again to review what the file would change now.
          </p>
          <div className="row">
            <button type="button" className="btn" onClick={() => planText(text)}>
              Plan again
            </button>
          </div>
        </div>
      ) : null}
      {applied ? (
        <p className="ok-note" role="status">
          {applied.applied
            ? `Applied ${applied.changes.length === 1 ? '1 change' : `${applied.changes.length} changes`}.`
            : 'Nothing to apply: the instance already matches.'}
        </p>
      ) : null}
      {confirming && current ? (
        <ConfirmDialog
          title="Apply the schema?"
          confirmLabel="Apply"
          danger={destructive.length > 0}
          {...(destructive.length > 0 ? { typeToConfirm: CONFIRM_WORD } : {})}
          onConfirm={apply}
          onClose={() => setConfirming(false)}
        >
          <p>
            {current.changes.length === 1 ? '1 change' : `${current.changes.length} changes`} will be applied
            in one transaction: all of them or none.
          </p>
          {destructive.length > 0 ? (
            <div className="warn-note">
              <p>
                <strong>
                  {destructive.length === 1 ? '1 change' : `${destructive.length} changes`} can lose data:
                </strong>
              </p>
              <ul>
                {destructive.map((c) => (
                  <li key={`${c.op}:${c.target}:${c.description}`}>{c.description}</li>
                ))}
              </ul>
            </div>
          ) : null}
        </ConfirmDialog>
      ) : null}
    </div>
  )
}
