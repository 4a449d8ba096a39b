import type { CollectionSchema } from '@bastide/protocol'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate } from '@tanstack/react-router'
import { type FormEvent, useRef, useState } from 'react'
import { Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { type Draft, emptyDraft, toFieldInput, toInput } from './draft.ts'
import { collectionKey, collectionsKey } from './queries.ts'
import { RulesEditor } from './RulesEditor.tsx'
import { SaveError } from './SaveError.tsx'
import { SchemaForm } from './SchemaForm.tsx'
import { UnsavedGuard } from './UnsavedGuard.tsx'

/** A new collection: name, fields with their options, indexes and rules, created in one request. */
export function NewCollectionPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [draft, setDraft] = useState<Draft>(() => emptyDraft())
  const started = useRef(false)
  started.current = draft.name.trim() !== '' || draft.fields.some((f) => f.name.trim() !== '')
  const create = useMutation({
    mutationFn: (d: Draft) => client.admin.collections.create(toInput(d)),
    onSuccess: async (c) => {
      started.current = false
      queryClient.setQueryData(collectionKey(c.name), c)
      queryClient.setQueryData<CollectionSchema[]>(collectionsKey, (all) => (all ? [...all, c] : all))
      await queryClient.invalidateQueries({ queryKey: collectionsKey, exact: true })
      await navigate({ to: `/collections/${c.name}` })
    },
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate(draft)
  }
  return (
    <Page
      title="New collection"
      actions={
        <Link to="/collections" className="btn">
          Back to collections
        </Link>
      }
    >
      <UnsavedGuard dirty={() => started.current} />
      <form className="stack cl-form" onSubmit={submit} aria-label="New collection">
        <SchemaForm draft={draft} onChange={setDraft} isNew />
        <section className="panel" aria-labelledby="cl-rules-h">
          <h2 id="cl-rules-h">Rules</h2>
          <RulesEditor
            name={draft.name.trim()}
            fields={draft.fields.map(toFieldInput)}
            rules={draft.rules}
            onChange={(rules) => setDraft({ ...draft, rules })}
          />
        </section>
        <div className="cl-savebar cl-sticky">
          <SaveError error={create.error} draft={draft} />
          <div className="row">
            <button
              type="submit"
              className="btn primary"
              disabled={create.isPending || draft.name.trim() === ''}
            >
              {create.isPending ? 'Creating…' : 'Create collection'}
            </button>
            <Link to="/collections" className="btn">
              Cancel
            </Link>
          </div>
        </div>
      </form>
    </Page>
  )
}
