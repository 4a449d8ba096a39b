import type { Webhook, WebhookInput, WebhookWithSecret } from '@bastide/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field, TextField } from '../../components/ui/Field.tsx'
import { useClient } from '../../lib/client.tsx'
import { SecretShown } from './SecretShown.tsx'

const ACTIONS = ['create', 'update', 'delete'] as const

/** Creates a webhook (then shows its secret once), or edits one (`editing`). */
export function WebhookDialog(props: { editing?: Webhook; onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const e = props.editing
  const [url, setUrl] = useState(e?.url ?? '')
  const [collection, setCollection] = useState(e?.collection ?? '')
  const [actions, setActions] = useState<WebhookInput['actions']>(
    e?.actions ?? ['create', 'update', 'delete'],
  )
  const [description, setDescription] = useState(e?.description ?? '')
  const [enabled, setEnabled] = useState(e?.enabled ?? true)
  const collections = useQuery({
    queryKey: ['collections'],
    queryFn: ({ signal }) => client.admin.collections.list({ signal }),
    // The choice must include collections made elsewhere (another admin, the CLI) since the list was loaded.
    refetchOnMount: 'always',
  })
  const save = useMutation({
    mutationFn: async (): Promise<Webhook | WebhookWithSecret> => {
      const input: WebhookInput = { url, collection, actions, description: description || null, enabled }
      return e ? client.admin.webhooks.update(e.id, input) : client.admin.webhooks.create(input)
    },
    onSuccess: async (saved) => {
      await queryClient.invalidateQueries({ queryKey: ['webhooks'] })
      if (!('secret' in saved)) props.onClose()
    },
  })
  const submit = (ev: FormEvent) => {
    ev.preventDefault()
    save.mutate()
  }
  if (save.data && 'secret' in save.data) {
    return (
      <Dialog
        title="Webhook created"
        onClose={props.onClose}
        footer={
          <button type="button" className="btn primary" onClick={props.onClose}>
            Done
          </button>
        }
      >
        <SecretShown secret={save.data.secret} />
      </Dialog>
    )
  }
  return (
    <Dialog title={e ? 'Edit webhook' : 'New webhook'} onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <TextField
          label="URL"
          type="url"
          required
          value={url}
          onChange={setUrl}
          placeholder="https://example.com/hooks/bastide"
          hint="http(s). Private and loopback addresses are refused unless the server allow-lists the host."
        />
        <Field label="Collection" hint="The collection whose record changes are sent, or every collection.">
          {({ id, describedBy }) => (
            <select
              id={id}
              aria-describedby={describedBy}
              required
              value={collection}
              onChange={(x) => setCollection(x.target.value)}
            >
              <option value="" disabled>
                Choose…
              </option>
              <option value="*">* (every collection)</option>
              {collections.data?.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
              {collection && collection !== '*' && !collections.data?.some((c) => c.name === collection) ? (
                <option value={collection}>{collection}</option>
              ) : null}
            </select>
          )}
        </Field>
        <fieldset className="stack">
          <legend>Changes</legend>
          {ACTIONS.map((a) => (
            <label key={a} className="check">
              <input
                type="checkbox"
                checked={actions.includes(a)}
                onChange={(x) =>
                  setActions(x.target.checked ? [...actions, a] : actions.filter((y) => y !== a))
                }
              />
              <code>record.{a}d</code>
            </label>
          ))}
        </fieldset>
        <TextField label="Description" value={description} onChange={setDescription} maxLength={500} />
        <label className="check">
          <input type="checkbox" checked={enabled} onChange={(x) => setEnabled(x.target.checked)} /> Enabled
        </label>
        <ErrorNote error={save.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={save.isPending || actions.length === 0}>
            {save.isPending ? 'Saving…' : e ? 'Save' : 'Create webhook'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}
