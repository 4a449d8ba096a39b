import type { Bucket, BucketRules } from '@bastide/sdk'
import { BastideError } from '@bastide/sdk'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useState } from 'react'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { useClient } from '../../lib/client.tsx'
import { parseMimeList } from './mime.ts'
import { caretLines, fieldMessages, parseRuleError } from './rule-error.ts'
import { parseSize, sizeText } from './size.ts'

const ACTIONS = ['read', 'write', 'delete'] as const
type Action = (typeof ACTIONS)[number]
type Access = 'locked' | 'everyone' | 'rule'

const ACTION_HINTS: Record<Action, string> = {
  read: 'download and list objects',
  write: 'upload and overwrite objects',
  delete: 'delete objects',
}

const MIME_PRESETS = ['image/*', 'video/*', 'audio/*', 'application/pdf', 'text/plain', 'application/json']

interface RuleState {
  readonly access: Access
  readonly text: string
}

function ruleState(src: string | null | undefined): RuleState {
  if (src === null || src === undefined) return { access: 'locked', text: '' }
  if (src.trim() === '') return { access: 'everyone', text: '' }
  return { access: 'rule', text: src }
}

function ruleValue(r: RuleState): string | null {
  if (r.access === 'locked') return null
  if (r.access === 'everyone') return ''
  return r.text
}

/** Creates a bucket, or edits one's settings (its name is fixed once created). */
export function BucketDialog(props: { bucket?: Bucket; onClose: () => void; onSaved?: (b: Bucket) => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const editing = props.bucket
  const [name, setName] = useState(editing?.name ?? '')
  const [isPublic, setPublic] = useState(editing?.public ?? false)
  const [maxSize, setMaxSize] = useState(editing?.maxFileSize ? sizeText(editing.maxFileSize) : '')
  const [mimes, setMimes] = useState((editing?.allowedMimeTypes ?? []).join(', '))
  const [rules, setRules] = useState<Record<Action, RuleState>>({
    read: ruleState(editing?.rules.read),
    write: ruleState(editing?.rules.write),
    delete: ruleState(editing?.rules.delete),
  })
  const parsedSize = parseSize(maxSize)
  const save = useMutation({
    mutationFn: () => {
      const body = {
        public: isPublic,
        maxFileSize: parsedSize ?? null,
        allowedMimeTypes: parseMimeList(mimes),
        rules: Object.fromEntries(ACTIONS.map((a) => [a, ruleValue(rules[a])])) as BucketRules,
      }
      return editing
        ? client.storage.updateBucket(editing.name, body)
        : client.storage.createBucket({ name, ...body })
    },
    onSuccess: async (b) => {
      await queryClient.invalidateQueries({ queryKey: ['files', 'buckets'] })
      props.onSaved?.(b)
      props.onClose()
    },
  })
  const problems = fieldMessages(save.error instanceof BastideError ? save.error.details : undefined)
  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (parsedSize === undefined) return
    save.mutate()
  }
  const mimeList = parseMimeList(mimes)
  return (
    <Dialog title={editing ? `Bucket “${editing.name}”` : 'New bucket'} onClose={props.onClose} wide>
      <form className="stack" onSubmit={submit} aria-label={editing ? 'Bucket settings' : 'New bucket'}>
        {editing ? null : (
          <TextField
            label="Name"
            required
            value={name}
            onChange={setName}
            autoComplete="off"
            hint={
              problems.get('name') ??
              'Lowercase letters, digits, _ and -, e.g. “avatars”. Fixed once created.'
            }
            aria-invalid={problems.has('name') || undefined}
          />
        )}
        <label className="check">
          <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} />
          Public <span className="muted">anyone may read its objects by URL, and caches may keep them</span>
        </label>
        <TextField
          label="Maximum file size"
          value={maxSize}
          onChange={setMaxSize}
          placeholder="server limit"
          aria-invalid={parsedSize === undefined || problems.has('maxFileSize') || undefined}
          hint={
            parsedSize === undefined
              ? 'Not a size: try “5 MB”, “512 KB” or a number of bytes.'
              : (problems.get('maxFileSize') ?? 'e.g. “5 MB”; empty: the server’s limit.')
          }
        />
        <Field
          label="Allowed types"
          hint={
            <>
              Sniffed from the bytes, exact (<code>image/png</code>) or a family (<code>image/*</code>);
              empty: any type. Wildcards never admit active content (SVG, HTML, PDF): name it to allow it.
              {[...problems]
                .filter(([k]) => k.startsWith('allowedMimeTypes'))
                .map(([k, v]) => (
                  <span key={k} className="files-field-error">
                    {' '}
                    {k}: {v}
                  </span>
                ))}
            </>
          }
        >
          {({ id, describedBy }) => (
            <input
              id={id}
              type="text"
              aria-describedby={describedBy}
              value={mimes}
              placeholder="any type"
              onChange={(e) => setMimes(e.target.value)}
              aria-invalid={[...problems.keys()].some((k) => k.startsWith('allowedMimeTypes')) || undefined}
            />
          )}
        </Field>
        <fieldset className="row files-presets">
          <legend className="sr-only">Common types</legend>
          {MIME_PRESETS.map((m) => (
            <button
              key={m}
              type="button"
              className="btn small"
              aria-pressed={mimeList.includes(m)}
              onClick={() =>
                setMimes(
                  (mimeList.includes(m) ? mimeList.filter((x) => x !== m) : [...mimeList, m]).join(', '),
                )
              }
            >
              {m}
            </button>
          ))}
        </fieldset>
        <fieldset className="stack files-rules files-fieldset">
          <legend>Rules</legend>
          <p className="muted files-rules-help">
            Filter expressions over the object (<code>key</code>, <code>size</code>, <code>mimeType</code>,{' '}
            <code>owner</code>, <code>metadata</code>) and <code>@request.auth.*</code>, e.g.{' '}
            <code>owner = @request.auth.id</code>. Console admins and API keys always pass.
          </p>
          {ACTIONS.map((a) => (
            <RuleEditor
              key={a}
              action={a}
              value={rules[a]}
              problem={problems.get(`rules.${a}`)}
              onChange={(v) => setRules((r) => ({ ...r, [a]: v }))}
            />
          ))}
        </fieldset>
        <ErrorNote error={save.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={save.isPending || parsedSize === undefined}>
            {save.isPending ? 'Saving…' : editing ? 'Save bucket' : 'Create bucket'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function RuleEditor(props: {
  action: Action
  value: RuleState
  problem: string | undefined
  onChange: (v: RuleState) => void
}) {
  const id = useId()
  const { action, value, problem } = props
  const err = problem ? parseRuleError(problem) : undefined
  const pointer = err?.position !== undefined ? caretLines(value.text, err.position) : undefined
  return (
    <div className="files-rule">
      <div className="row">
        <label htmlFor={`${id}-access`} className="files-rule-name">
          {action[0]!.toUpperCase() + action.slice(1)} rule
        </label>
        <span className="muted">{ACTION_HINTS[action]}</span>
        <select
          id={`${id}-access`}
          value={value.access}
          onChange={(e) => props.onChange({ ...value, access: e.target.value as Access })}
        >
          <option value="locked">Locked (admins and keys only)</option>
          <option value="everyone">Everyone</option>
          <option value="rule">Who matches a rule</option>
        </select>
      </div>
      {value.access === 'rule' ? (
        <>
          <label htmlFor={`${id}-text`} className="sr-only">
            {action} rule expression
          </label>
          <textarea
            id={`${id}-text`}
            rows={2}
            spellCheck={false}
            value={value.text}
            placeholder="owner = @request.auth.id"
            aria-invalid={problem ? true : undefined}
            aria-describedby={problem ? `${id}-err` : undefined}
            onChange={(e) => props.onChange({ ...value, text: e.target.value })}
          />
        </>
      ) : null}
      {err ? (
        <div id={`${id}-err`} className="files-field-error">
          {err.message}
          {pointer ? (
            <span className="sr-only">
              {' '}
              At line {pointer.lineNo}, column {pointer.caret.length}.
            </span>
          ) : null}
          {pointer ? (
            <pre className="files-caret" aria-hidden="true">
              {pointer.line}
              {'\n'}
              {pointer.caret}
            </pre>
          ) : null}
        </div>
      ) : null}
    </div>
  )
}
