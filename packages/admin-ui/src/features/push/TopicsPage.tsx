import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { type PushTopic, pushApi, pushKey } from './api.ts'
import { hintWith } from './badges.tsx'
import { errorAt, type RuleMode, ruleMode, ruleOf, serverFieldErrors, unplacedErrors } from './forms.ts'
import { PushTabs } from './PushTabs.tsx'
import './push.css'

/** Topics: who may subscribe their own device, how many devices are subscribed; create, edit, delete. */
export function TopicsPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const topics = useQuery({
    queryKey: [...pushKey, 'topics'],
    queryFn: ({ signal }) => pushApi(client).topics.list({ signal }),
  })
  const [editing, setEditing] = useState<PushTopic | 'new' | null>(null)
  const [deleting, setDeleting] = useState<PushTopic | null>(null)
  return (
    <Page
      title="Push topics"
      subtitle="named audiences devices subscribe to"
      actions={
        <button type="button" className="btn primary" onClick={() => setEditing('new')}>
          New topic
        </button>
      }
    >
      <PushTabs />
      <ErrorNote error={topics.error} />
      {topics.isPending ? (
        <Loading />
      ) : topics.data && topics.data.length === 0 ? (
        <p className="muted">No topic yet.</p>
      ) : (
        <DataTable
          label="Topics"
          columns={['Topic', 'Who may subscribe', 'Subscribers', 'Updated', { hidden: 'Actions' }]}
        >
          {topics.data?.map((t) => (
            <tr key={t.name} data-topic={t.name}>
              <td>
                <span className="mono">{t.name}</span>
                {t.description ? <div className="muted">{t.description}</div> : null}
              </td>
              <td>
                <RuleText rule={t.subscribeRule} />
              </td>
              <td>{t.subscribers ?? '—'}</td>
              <td>
                <time dateTime={t.updatedAt}>{formatTime(t.updatedAt)}</time>
              </td>
              <td>
                <div className="row">
                  <button type="button" className="btn small" onClick={() => setEditing(t)}>
                    Edit<span className="sr-only"> {t.name}</span>
                  </button>
                  <button type="button" className="btn small danger" onClick={() => setDeleting(t)}>
                    Delete<span className="sr-only"> {t.name}</span>
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {editing ? (
        <TopicDialog editing={editing === 'new' ? undefined : editing} onClose={() => setEditing(null)} />
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete topic ${deleting.name}?`}
          confirmLabel="Delete topic"
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await pushApi(client).topics.remove(deleting.name)
            await queryClient.invalidateQueries({ queryKey: [...pushKey, 'topics'] })
          }}
        >
          <p>
            Its {deleting.subscribers ?? ''} subscriptions are removed. Messages already sent to it stay in
            the log.
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}

function RuleText(props: { rule: string | null }) {
  const mode = ruleMode(props.rule)
  if (mode === 'nobody') return <span className="muted">admins and functions only</span>
  if (mode === 'anyone') return <span>anyone (anonymous devices too)</span>
  return <code>{props.rule}</code>
}

const MODES: readonly { mode: RuleMode; label: string }[] = [
  { mode: 'nobody', label: 'Nobody: admins and functions subscribe devices' },
  { mode: 'anyone', label: 'Anyone, anonymous devices included' },
  { mode: 'rule', label: 'Signed-in users matching a rule' },
]

/** Creates a topic, or edits one's description and subscribe rule (its name is its key). */
function TopicDialog(props: { editing?: PushTopic | undefined; onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const e = props.editing
  const [name, setName] = useState(e?.name ?? '')
  const [description, setDescription] = useState(e?.description ?? '')
  const [mode, setMode] = useState<RuleMode>(ruleMode(e ? e.subscribeRule : null))
  const [rule, setRule] = useState(e?.subscribeRule ?? '')
  const save = useMutation({
    mutationFn: () => {
      const body = { description: description.trim() || null, subscribeRule: ruleOf(mode, rule) }
      return e
        ? pushApi(client).topics.update(e.name, body)
        : pushApi(client).topics.create({ name, ...body })
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: [...pushKey, 'topics'] })
      props.onClose()
    },
  })
  const problems = serverFieldErrors(save.error)
  const rest = unplacedErrors(problems, ['name', 'description', 'subscribeRule'])
  const submit = (ev: FormEvent) => {
    ev.preventDefault()
    save.mutate()
  }
  return (
    <Dialog title={e ? `Edit topic ${e.name}` : 'New topic'} onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        {e ? null : (
          <TextField
            label="Name"
            className="mono"
            required
            value={name}
            onChange={setName}
            pattern="[a-z0-9_.\-]{1,64}"
            aria-invalid={errorAt(problems, 'name') ? true : undefined}
            hint={hintWith('1-64 characters of a-z, 0-9, _ . -', errorAt(problems, 'name'))}
          />
        )}
        <TextField
          label="Description"
          value={description}
          onChange={setDescription}
          maxLength={500}
          aria-invalid={errorAt(problems, 'description') ? true : undefined}
          hint={hintWith(undefined, errorAt(problems, 'description'))}
        />
        <fieldset className="stack">
          <legend>Who may subscribe their own device</legend>
          {MODES.map((m) => (
            <label key={m.mode} className="check">
              <input
                type="radio"
                name="push-topic-rule"
                checked={mode === m.mode}
                onChange={() => setMode(m.mode)}
              />
              {m.label}
            </label>
          ))}
          {mode === 'rule' ? (
            <Field
              label="Subscribe rule"
              hint={hintWith(
                <>
                  Over the caller's users record, as in collection rules: <code>verified = true</code>,{' '}
                  <code>role = "staff"</code>.
                </>,
                errorAt(problems, 'subscribeRule'),
              )}
            >
              {({ id, describedBy }) => (
                <textarea
                  id={id}
                  aria-describedby={describedBy}
                  aria-invalid={errorAt(problems, 'subscribeRule') ? true : undefined}
                  className="mono"
                  rows={2}
                  value={rule}
                  onChange={(x) => setRule(x.target.value)}
                />
              )}
            </Field>
          ) : mode === 'nobody' ? null : (
            // A rule-less topic is shown for what it is: any installation may join it.
            <span className="hint muted">Any app can subscribe to it, without signing in.</span>
          )}
        </fieldset>
        {save.error ? (
          rest.length > 0 || Object.keys(problems).length === 0 ? (
            <ErrorNote error={save.error} />
          ) : (
            <p className="error-note" role="alert">
              {save.error.message}
            </p>
          )
        ) : null}
        <div className="row">
          <button
            type="submit"
            className="btn primary"
            disabled={save.isPending || (mode === 'rule' && rule.trim() === '')}
          >
            {save.isPending ? 'Saving…' : e ? 'Save' : 'Create topic'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}
