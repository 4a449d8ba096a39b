import type { CollectionSchema } from '@bastide/protocol'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { type KeyboardEvent, useId, useMemo, useRef, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime, plural } from '../../lib/format.ts'
import { SyncPanel } from '../sync/index.ts'
import { ApiPreview } from './ApiPreview.tsx'
import { type Draft, type DraftField, fromSchema, sameDraft, toFieldInput, toInput } from './draft.ts'
import { HistoryTab } from './HistoryTab.tsx'
import { collectionKey, collectionsKey } from './queries.ts'
import { RulesEditor } from './RulesEditor.tsx'
import { SaveError } from './SaveError.tsx'
import { SchemaForm } from './SchemaForm.tsx'
import { UnsavedGuard } from './UnsavedGuard.tsx'

const TABS = [
  { id: 'schema', label: 'Schema' },
  { id: 'rules', label: 'Rules' },
  { id: 'api', label: 'API' },
  { id: 'sync', label: 'Offline sync' },
  { id: 'history', label: 'History' },
  { id: 'delete', label: 'Delete' },
] as const
type Tab = (typeof TABS)[number]['id']

/** One collection: schema, rules, API preview, offline sync, history, delete. Schema and rules are saved together. */
export function CollectionPage() {
  const { name } = useParams({ strict: false }) as { name: string }
  const client = useClient()
  const q = useQuery({
    queryKey: collectionKey(name),
    queryFn: ({ signal }) => client.admin.collections.get(name, { signal }),
  })
  return (
    <Page
      title={name}
      subtitle={
        q.data
          ? `${plural(q.data.fields.length, 'field')} · updated ${formatTime(q.data.updated)}`
          : undefined
      }
      actions={
        <>
          <Link to={`/data/${name}`} className="btn">
            Browse data
          </Link>
          <Link to="/collections" className="btn">
            All collections
          </Link>
        </>
      }
    >
      <ErrorNote error={q.error} />
      {q.isPending ? <Loading /> : q.data ? <CollectionTabs key={q.data.id} collection={q.data} /> : null}
    </Page>
  )
}

function CollectionTabs(props: { collection: CollectionSchema }) {
  const c = props.collection
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const id = useId()
  const [tab, setTab] = useState<Tab>('schema')
  const tabRefs = useRef<(HTMLButtonElement | null)[]>([])
  const base = useMemo(() => fromSchema(c), [c])
  const [edited, setEdited] = useState<Draft | null>(null)
  const draft = edited ?? base
  const dirty = edited !== null && !sameDraft(edited, base)
  const dirtyRef = useRef(dirty)
  dirtyRef.current = dirty
  const saved = useMemo(
    () => new Map<string, DraftField>(base.fields.flatMap((f) => (f.id ? [[f.id, f]] : []))),
    [base],
  )
  const save = useMutation({
    mutationFn: (d: Draft) => client.admin.collections.update(c.name, toInput(d)),
    onSuccess: async (after) => {
      dirtyRef.current = false
      setEdited(null)
      queryClient.setQueryData(collectionKey(after.name), after)
      queryClient.setQueryData<CollectionSchema[]>(collectionsKey, (all) =>
        all?.map((x) => (x.id === after.id ? after : x)),
      )
      await queryClient.invalidateQueries({ queryKey: collectionsKey, exact: true })
      await queryClient.invalidateQueries({ queryKey: [...collectionKey(after.name), 'history'] })
      if (after.name !== c.name) {
        queryClient.removeQueries({ queryKey: collectionKey(c.name), exact: true })
        await navigate({ to: `/collections/${after.name}`, replace: true })
      }
    },
  })
  const onKey = (e: KeyboardEvent, i: number) => {
    const next =
      e.key === 'ArrowRight'
        ? i + 1
        : e.key === 'ArrowLeft'
          ? i - 1
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? TABS.length - 1
              : null
    if (next === null) return
    e.preventDefault()
    const j = (next + TABS.length) % TABS.length
    setTab(TABS[j]!.id)
    tabRefs.current[j]?.focus()
  }
  const saveBar =
    tab === 'schema' || tab === 'rules' ? (
      <div className={dirty || save.error ? 'cl-savebar cl-sticky' : 'cl-savebar'}>
        <SaveError error={save.error} draft={draft} />
        <div className="row">
          <button
            type="button"
            className="btn primary"
            disabled={!dirty || save.isPending}
            onClick={() => save.mutate(draft)}
          >
            {save.isPending ? 'Saving…' : 'Save changes'}
          </button>
          <button
            type="button"
            className="btn"
            disabled={!dirty || save.isPending}
            onClick={() => {
              setEdited(null)
              save.reset()
            }}
          >
            Discard changes
          </button>
          {dirty ? (
            <span className="muted">Unsaved changes (schema and rules are saved together).</span>
          ) : null}
          {save.isSuccess && !dirty ? (
            <span className="ok-note" role="status">
              Saved.
            </span>
          ) : null}
        </div>
      </div>
    ) : null
  return (
    <div>
      <UnsavedGuard dirty={() => dirtyRef.current} />
      <div className="tabs" role="tablist" aria-label="Collection">
        {TABS.map((t, i) => (
          <button
            key={t.id}
            ref={(el) => {
              tabRefs.current[i] = el
            }}
            type="button"
            role="tab"
            id={`${id}-tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`${id}-panel`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
            onKeyDown={(e) => onKey(e, i)}
          >
            {t.label}
            {(t.id === 'schema' || t.id === 'rules') && dirty ? <span aria-hidden="true"> •</span> : null}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${id}-panel`} aria-labelledby={`${id}-tab-${tab}`}>
        {tab === 'schema' ? (
          <div className="stack">
            <SchemaForm
              draft={draft}
              onChange={setEdited}
              isNew={false}
              saved={saved}
              savedName={c.name}
              {...(c.system ? { system: true } : {})}
            />
            {saveBar}
          </div>
        ) : null}
        {tab === 'rules' ? (
          <div className="stack">
            <RulesEditor
              key={c.updated}
              name={draft.name.trim()}
              fields={draft.fields.map(toFieldInput)}
              rules={draft.rules}
              onChange={(rules) => setEdited({ ...draft, rules })}
            />
            {saveBar}
          </div>
        ) : null}
        {tab === 'api' ? <ApiPreview collection={c} /> : null}
        {tab === 'sync' ? <SyncPanel collection={c} /> : null}
        {tab === 'history' ? <HistoryTab name={c.name} /> : null}
        {tab === 'delete' ? <DeleteTab collection={c} /> : null}
      </div>
    </div>
  )
}

function DeleteTab(props: { collection: CollectionSchema }) {
  const c = props.collection
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [confirming, setConfirming] = useState(false)
  if (c.system) return <p className="muted">The built-in {c.name} collection cannot be deleted.</p>
  return (
    <div className="panel stack">
      <h2>Delete {c.name}</h2>
      <p>
        Drops the collection, its table and every record in it, and the files its file fields hold.
        Collections that relate to it must lose those relation fields first. This cannot be undone.
      </p>
      <div className="row">
        <button type="button" className="btn danger" onClick={() => setConfirming(true)}>
          Delete collection…
        </button>
      </div>
      {confirming ? (
        <ConfirmDialog
          title={`Delete “${c.name}”?`}
          confirmLabel="Delete collection"
          danger
          typeToConfirm={c.name}
          onClose={() => setConfirming(false)}
          onConfirm={async () => {
            await client.admin.collections.delete(c.name)
            queryClient.removeQueries({ queryKey: collectionKey(c.name), exact: true })
            // The list shows at once without it, before its refetch answers.
            queryClient.setQueryData<CollectionSchema[]>(collectionsKey, (all) =>
              all?.filter((x) => x.id !== c.id),
            )
            await queryClient.invalidateQueries({ queryKey: collectionsKey, exact: true })
            await navigate({ to: '/collections' })
          }}
        >
          <p>Every record of {c.name} is deleted with it.</p>
        </ConfirmDialog>
      ) : null}
    </div>
  )
}
