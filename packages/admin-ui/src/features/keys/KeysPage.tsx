import { type ApiKeyInfo, KEY_SCOPES, type KeyScope } from '@bastide/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { SecretOnce } from '../../components/ui/SecretOnce.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'

const SCOPE_HINTS: Record<KeyScope, string> = {
  schema: 'create and change collections',
  'records:read': 'read every record (rules do not apply)',
  'records:write': 'write every record',
  'storage:read': 'read every stored file',
  'storage:write': 'write and delete stored files',
  keys: 'create and revoke keys (never stronger than itself)',
  metrics: 'scrape /metrics and read the request log',
  users: 'list, create, ban and delete app users (never impersonate)',
  functions: 'deploy, roll back and test functions; read and replay jobs',
  push: 'send push notifications; edit push credentials, devices and topics',
}

/** Secret API keys: create with scopes and an expiry (the secret is shown once), revoke. */
export function KeysPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const keys = useQuery({ queryKey: ['keys'], queryFn: ({ signal }) => client.admin.keys.list({ signal }) })
  const [creating, setCreating] = useState(false)
  const [revoking, setRevoking] = useState<ApiKeyInfo | null>(null)
  return (
    <Page
      title="API keys"
      subtitle="for servers and scripts, never for apps"
      actions={
        <button type="button" className="btn primary" onClick={() => setCreating(true)}>
          New key
        </button>
      }
    >
      <ErrorNote error={keys.error} />
      {keys.isPending ? (
        <Loading />
      ) : keys.data && keys.data.length === 0 ? (
        <p className="muted">No API key yet.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Scopes</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data?.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td className="mono">{k.prefix}…</td>
                <td>{k.scopes.join(', ')}</td>
                <td>{formatTime(k.created)}</td>
                <td>{k.lastUsed ? formatTime(k.lastUsed) : 'never'}</td>
                <td>{k.expires ? formatTime(k.expires) : 'never'}</td>
                <td>
                  <button type="button" className="btn small danger" onClick={() => setRevoking(k)}>
                    Revoke<span className="sr-only"> {k.name}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {creating ? <CreateKeyDialog onClose={() => setCreating(false)} /> : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke “${revoking.name}”?`}
          confirmLabel="Revoke key"
          danger
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await client.admin.keys.revoke(revoking.id)
            await queryClient.invalidateQueries({ queryKey: ['keys'] })
          }}
        >
          <p>Requests carrying this key fail from now on. This cannot be undone.</p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}

function CreateKeyDialog(props: { onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const [name, setName] = useState('')
  const [scopes, setScopes] = useState<KeyScope[]>(['records:read'])
  const [expires, setExpires] = useState('')
  const create = useMutation({
    mutationFn: () =>
      client.admin.keys.create({
        name,
        scopes,
        ...(expires ? { expires: new Date(expires).toISOString() } : {}),
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['keys'] }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate()
  }
  if (create.data) {
    return (
      <Dialog
        title="Key created"
        onClose={props.onClose}
        footer={
          <button type="button" className="btn primary" onClick={props.onClose}>
            Done
          </button>
        }
      >
        <SecretOnce label="Secret" value={create.data.key}>
          Copy the secret now: it is shown this once and never again.
        </SecretOnce>
      </Dialog>
    )
  }
  return (
    <Dialog title="New API key" onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <TextField
          label="Name"
          required
          value={name}
          onChange={setName}
          hint="What uses it, e.g. “CI deploy”."
        />
        <fieldset className="stack">
          <legend>Scopes</legend>
          {KEY_SCOPES.map((s) => (
            <label key={s} className="check">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />
              <code>{s}</code> <span className="muted">{SCOPE_HINTS[s]}</span>
            </label>
          ))}
        </fieldset>
        <TextField
          label="Expires"
          type="datetime-local"
          value={expires}
          onChange={setExpires}
          hint="Leave empty for a key that never expires."
        />
        <ErrorNote error={create.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={create.isPending || scopes.length === 0}>
            {create.isPending ? 'Creating…' : 'Create key'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}
