import type { CollectionSchema } from '@bastide/protocol'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field } from '../../components/ui/Field.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import {
  POLICIES,
  type SyncCollectionSettings,
  type SyncConflictPolicy,
  settingsInput,
  syncApi,
  syncCollectionKey,
  syncKey,
} from './api.ts'
import './sync.css'

/**
 * A collection's offline sync: on or off, how a conflicting offline edit resolves, the merge function; the change
 * log's retention and size below.
 */
export function SyncPanel(props: { collection: CollectionSchema }) {
  const name = props.collection.name
  const client = useClient()
  const settings = useQuery({
    queryKey: syncCollectionKey(name),
    queryFn: ({ signal }) => syncApi(client).get(name, { signal }),
  })
  return (
    <section className="panel stack" aria-labelledby="sync-heading">
      <div className="row">
        <h2 id="sync-heading" className="grow">
          Offline sync
        </h2>
        {settings.data ? (
          settings.data.enabled ? (
            <span className="badge ok">on</span>
          ) : (
            <span className="badge">off</span>
          )
        ) : null}
      </div>
      <p className="muted">
        Apps using the SDK’s offline client keep a copy of the records they may see, edit it offline, and send
        the edits when back online. Here: whether {name} syncs, and what happens when an offline edit meets a
        newer change on the server.
      </p>
      <ErrorNote error={settings.error} />
      {settings.isPending ? (
        <Loading />
      ) : settings.data ? (
        <SyncForm name={name} saved={settings.data} />
      ) : null}
      <RetentionFooter />
    </section>
  )
}

function SyncForm(props: { name: string; saved: SyncCollectionSettings }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const id = useId()
  const [enabled, setEnabled] = useState(props.saved.enabled)
  const [conflict, setConflict] = useState<SyncConflictPolicy>(props.saved.conflict)
  const [mergeFunction, setMergeFunction] = useState(props.saved.mergeFunction ?? '')
  const [problem, setProblem] = useState<string | null>(null)
  const functions = useQuery({
    queryKey: ['functions', 'sync-merge'],
    queryFn: ({ signal }) => syncApi(client).mergeFunctions({ signal }),
    enabled: conflict === 'function',
  })
  const save = useMutation({
    mutationFn: (input: Parameters<ReturnType<typeof syncApi>['set']>[1]) =>
      syncApi(client).set(props.name, input),
    onSuccess: async (after) => {
      queryClient.setQueryData(syncCollectionKey(props.name), after)
      await queryClient.invalidateQueries({ queryKey: syncKey, exact: true })
    },
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const r = settingsInput({ enabled, conflict, mergeFunction })
    if ('problem' in r) {
      setProblem(r.problem)
      return
    }
    setProblem(null)
    save.mutate(r.input)
  }
  const dirty =
    enabled !== props.saved.enabled ||
    conflict !== props.saved.conflict ||
    (conflict === 'function' && mergeFunction !== (props.saved.mergeFunction ?? ''))
  // A saved function no longer deployed stays listed, so that the select shows what is set.
  const missing =
    mergeFunction &&
    functions.data &&
    !functions.data.sync.includes(mergeFunction) &&
    !functions.data.other.includes(mergeFunction)
  return (
    <form className="stack" aria-label="Offline sync settings" onSubmit={submit}>
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
        Sync {props.name} to offline clients
      </label>
      {props.saved.enabled && !enabled ? (
        <p className="hint muted">
          Once saved, devices stop receiving changes (their pulls answer SYNC_DISABLED) and their queued edits
          are refused.
        </p>
      ) : null}
      <fieldset className="sync-policies stack">
        <legend>When an offline edit conflicts</legend>
        {POLICIES.map((p) => (
          <div key={p.policy} className="sync-policy" data-policy={p.policy}>
            <label className="check">
              <input
                type="radio"
                name={`${id}-conflict`}
                value={p.policy}
                checked={conflict === p.policy}
                aria-describedby={`${id}-${p.policy}`}
                onChange={() => setConflict(p.policy)}
              />
              {p.label}
            </label>
            <span id={`${id}-${p.policy}`} className="hint">
              {p.explain}
            </span>
          </div>
        ))}
      </fieldset>
      {conflict === 'function' ? (
        <Field
          label="Merge function"
          hint={
            problem ? (
              <span className="sync-problem">{problem}</span>
            ) : (
              <>
                Its manifest needs the trigger <code>{"{ sync: 'merge' }"}</code>; it returns{' '}
                <code>{'{ data }'}</code> to write, or <code>{"{ keep: 'server' }"}</code>.
              </>
            )
          }
        >
          {({ id: selectId, describedBy }) => (
            <select
              id={selectId}
              className="sync-function"
              aria-describedby={describedBy}
              aria-invalid={problem ? true : undefined}
              value={mergeFunction}
              onChange={(e) => {
                setMergeFunction(e.target.value)
                setProblem(null)
              }}
            >
              <option value="">{functions.isPending ? 'Loading functions…' : 'Choose a function'}</option>
              {missing ? <option value={mergeFunction}>{mergeFunction} (not deployed)</option> : null}
              {functions.data && functions.data.sync.length > 0 ? (
                <optgroup label="With a sync trigger">
                  {functions.data.sync.map((f) => (
                    <option key={f} value={f}>
                      {f}
                    </option>
                  ))}
                </optgroup>
              ) : null}
              {functions.data && functions.data.other.length > 0 ? (
                <optgroup label="Other functions">
                  {functions.data.other.map((f) => (
                    <option key={f} value={f}>
                      {f}
                    </option>
                  ))}
                </optgroup>
              ) : null}
            </select>
          )}
        </Field>
      ) : null}
      {conflict === 'function' && functions.data && functions.data.sync.length === 0 ? (
        <p className="muted">
          No deployed function has a sync trigger yet (Functions, or bastide functions deploy).
        </p>
      ) : null}
      <ErrorNote error={functions.error} title="Functions" />
      {save.error ? (
        <ErrorNote error={save.error} />
      ) : save.isSuccess && !dirty ? (
        <p className="ok-note" role="status">
          Sync settings saved.
        </p>
      ) : null}
      <div className="row">
        <button type="submit" className="btn primary" disabled={!dirty || save.isPending}>
          {save.isPending ? 'Saving…' : 'Save sync settings'}
        </button>
      </div>
    </form>
  )
}

/** How long the change log keeps changes, and how big it is now (every synced collection together). */
function RetentionFooter() {
  const client = useClient()
  const overview = useQuery({
    queryKey: syncKey,
    queryFn: ({ signal }) => syncApi(client).overview({ signal }),
  })
  if (!overview.data) return <ErrorNote error={overview.error} />
  const { retentionDays, log } = overview.data
  return (
    <p className="sync-footer muted" data-testid="sync-retention">
      The change log keeps {retentionDays} {retentionDays === 1 ? 'day' : 'days'} of changes
      (BASTIDE_SYNC_RETENTION_DAYS): a device offline longer downloads its collections again. It holds{' '}
      {log.entries.toLocaleString('en')} {log.entries === 1 ? 'entry' : 'entries'}
      {log.oldest ? (
        <>
          , the oldest from <time dateTime={log.oldest}>{formatTime(log.oldest)}</time>
        </>
      ) : null}
      .
    </p>
  )
}
