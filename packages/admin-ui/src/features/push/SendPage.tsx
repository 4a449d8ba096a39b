import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useNavigate } from '@tanstack/react-router'
import { type FormEvent, useId, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { pushApi, pushKey } from './api.ts'
import { hintWith } from './badges.tsx'
import {
  buildMessage,
  EMPTY_SEND,
  errorAt,
  type SendDraft,
  serverFieldErrors,
  type TargetKind,
  unplacedErrors,
} from './forms.ts'
import { PushTabs } from './PushTabs.tsx'
import './push.css'

const TARGETS: readonly { kind: TargetKind; label: string }[] = [
  { kind: 'users', label: 'Users' },
  { kind: 'devices', label: 'Devices' },
  { kind: 'topic', label: 'Topic subscribers' },
  { kind: 'filter', label: 'Users matching a filter' },
  { kind: 'all', label: 'Every device' },
]

/** Fields of the form, by the paths the server's 400 names them with. */
const FIELDS = ['to', 'title', 'body', 'data', 'silent', 'sendAt', 'topic']

/** A test send: to users, devices, a topic or everyone; then the message's page to watch it go out. */
export function SendPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const listId = useId()
  const [d, setD] = useState<SendDraft>(EMPTY_SEND)
  const [local, setLocal] = useState<Record<string, string>>({})
  const set =
    <K extends keyof SendDraft>(k: K) =>
    (v: SendDraft[K]) =>
      setD((x) => ({ ...x, [k]: v }))
  const topics = useQuery({
    queryKey: [...pushKey, 'topics'],
    queryFn: ({ signal }) => pushApi(client).topics.list({ signal }),
  })
  const send = useMutation({
    mutationFn: pushApi(client).messages.send,
    onSuccess: async (m) => {
      await queryClient.invalidateQueries({ queryKey: [...pushKey, 'messages'] })
      await navigate({ to: '/push/messages/$id', params: { id: m.id } })
    },
  })
  const problems = { ...serverFieldErrors(send.error), ...local }
  const at = (field: string) => errorAt(problems, field)
  const rest = unplacedErrors(serverFieldErrors(send.error), FIELDS)
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const built = buildMessage(d)
    if (built.problems) {
      setLocal(built.problems)
      return
    }
    setLocal({})
    send.mutate(built.input)
  }
  const toProblem = at(`to.${d.target}`) ?? at('to')
  return (
    <Page title="Send a push" subtitle="a test message, logged like any other">
      <PushTabs />
      <form className="panel stack" onSubmit={submit} aria-label="Send a push" noValidate>
        <fieldset className="stack">
          <legend>To</legend>
          <div className="row">
            {TARGETS.map((t) => (
              <label key={t.kind} className="check">
                <input
                  type="radio"
                  name="push-target"
                  value={t.kind}
                  checked={d.target === t.kind}
                  onChange={() => set('target')(t.kind)}
                />
                {t.label}
              </label>
            ))}
          </div>
          {d.target === 'users' ? (
            <Field
              label="User ids"
              hint={hintWith(
                'Ids of users records, separated by commas or lines (at most 1,000).',
                toProblem,
              )}
            >
              {({ id, describedBy }) => (
                <textarea
                  id={id}
                  aria-describedby={describedBy}
                  aria-invalid={toProblem ? true : undefined}
                  rows={2}
                  className="mono"
                  value={d.users}
                  onChange={(e) => set('users')(e.target.value)}
                />
              )}
            </Field>
          ) : d.target === 'devices' ? (
            <Field
              label="Device ids"
              hint={hintWith('Installation ids (see Devices), separated by commas or lines.', toProblem)}
            >
              {({ id, describedBy }) => (
                <textarea
                  id={id}
                  aria-describedby={describedBy}
                  aria-invalid={toProblem ? true : undefined}
                  rows={2}
                  className="mono"
                  value={d.devices}
                  onChange={(e) => set('devices')(e.target.value)}
                />
              )}
            </Field>
          ) : d.target === 'topic' ? (
            <>
              <TextField
                label="Topic"
                list={listId}
                className="mono"
                value={d.topic}
                onChange={set('topic')}
                aria-invalid={toProblem ? true : undefined}
                hint={hintWith(
                  'Every device subscribed to it; users who opted out of it are skipped.',
                  toProblem,
                )}
              />
              <datalist id={listId}>
                {topics.data?.map((t) => (
                  <option key={t.name} value={t.name} />
                ))}
              </datalist>
            </>
          ) : d.target === 'filter' ? (
            <TextField
              label="Users filter"
              className="mono"
              value={d.filter}
              onChange={set('filter')}
              placeholder='verified = true && locale ~ "fr"'
              aria-invalid={toProblem ? true : undefined}
              hint={hintWith('Every device of the users this filter over users matches.', toProblem)}
            />
          ) : (
            <p className="warn-note">Every registered device gets this message.</p>
          )}
        </fieldset>
        <TextField
          label="Title"
          value={d.title}
          onChange={set('title')}
          aria-invalid={at('title') ? true : undefined}
          hint={hintWith(undefined, at('title'))}
        />
        <Field label="Body" hint={hintWith(undefined, at('body'))}>
          {({ id, describedBy }) => (
            <textarea
              id={id}
              aria-describedby={describedBy}
              aria-invalid={at('body') ? true : undefined}
              rows={3}
              value={d.body}
              onChange={(e) => set('body')(e.target.value)}
            />
          )}
        </Field>
        <DataRows rows={d.data} onChange={set('data')} problem={at('data')} />
        <label className="check">
          <input type="checkbox" checked={d.silent} onChange={(e) => set('silent')(e.target.checked)} />
          Silent (data only: nothing shown, the app is woken)
        </label>
        <TextField
          label="Send at"
          type="datetime-local"
          value={d.sendAt}
          onChange={set('sendAt')}
          aria-invalid={at('sendAt') ? true : undefined}
          hint={hintWith(
            'Your local time; empty sends now. A scheduled message can be canceled until then.',
            at('sendAt'),
          )}
        />
        {d.target === 'topic' ? null : (
          <TextField
            label="Preferences topic"
            list={listId}
            className="mono"
            value={d.preferenceTopic}
            onChange={set('preferenceTopic')}
            aria-invalid={at('topic') ? true : undefined}
            hint={hintWith('Optional: users who opted out of this topic are skipped.', at('topic'))}
          />
        )}
        {send.error ? (
          rest.length > 0 || Object.keys(serverFieldErrors(send.error)).length === 0 ? (
            <ErrorNote error={send.error} />
          ) : (
            <p className="error-note" role="alert">
              {send.error.message}
            </p>
          )
        ) : Object.keys(local).length > 0 ? (
          <p className="error-note" role="alert">
            Some fields need a look.
          </p>
        ) : null}
        <div className="row">
          <button type="submit" className="btn primary" disabled={send.isPending}>
            {send.isPending ? 'Sending…' : d.sendAt ? 'Schedule message' : 'Send message'}
          </button>
        </div>
      </form>
    </Page>
  )
}

/** The message's custom data: key/value rows, added and removed. */
function DataRows(props: {
  rows: SendDraft['data']
  onChange: (rows: SendDraft['data']) => void
  problem: string | undefined
}) {
  const { rows, onChange } = props
  const update = (i: number, patch: Partial<SendDraft['data'][number]>) =>
    onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)))
  return (
    <fieldset className="stack">
      <legend>Data</legend>
      {rows.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
        <div key={i} className="push-data-row">
          <TextField
            label={`Key ${i + 1}`}
            className="mono"
            value={r.key}
            onChange={(key) => update(i, { key })}
          />
          <TextField
            label={`Value ${i + 1}`}
            className="mono"
            value={r.value}
            onChange={(value) => update(i, { value })}
          />
          <button
            type="button"
            className="btn small"
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            Remove<span className="sr-only"> data {i + 1}</span>
          </button>
        </div>
      ))}
      {props.problem ? (
        <span className="push-field-error" role="alert">
          {props.problem}
        </span>
      ) : null}
      <div className="row">
        <button
          type="button"
          className="btn small"
          onClick={() => onChange([...rows, { key: '', value: '' }])}
        >
          Add data
        </button>
        <span className="muted">Key/values delivered to the app (strings).</span>
      </div>
    </fieldset>
  )
}
