import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useRef, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { type FunctionDetail, functionsApi, functionsKey } from './api.ts'

/**
 * The function's secrets (`ctx.secrets.NAME`): names and when each was set. Values go to the server and never
 * come back: replacing one means typing it again.
 */
export function SecretsPanel(props: { fn: FunctionDetail }) {
  const { fn } = props
  const client = useClient()
  const queryClient = useQueryClient()
  const [name, setName] = useState('')
  const [value, setValue] = useState('')
  const [deleting, setDeleting] = useState<string | null>(null)
  const valueBox = useRef<HTMLDivElement>(null)
  const refresh = () => queryClient.invalidateQueries({ queryKey: [...functionsKey, fn.name], exact: true })
  const save = useMutation({
    mutationFn: (s: { name: string; value: string }) =>
      functionsApi(client).setSecret(fn.name, s.name, s.value),
    onSuccess: (_, s) => {
      setName('')
      setValue('')
      void refresh()
      return s
    },
  })
  const exists = fn.secrets.some((s) => s.name === name.trim())
  return (
    <div className="stack">
      {fn.secrets.length === 0 ? (
        <p className="muted">No secret yet.</p>
      ) : (
        <DataTable label="Secrets" columns={['Name', 'Set', { hidden: 'Actions' }]}>
          {fn.secrets.map((s) => (
            <tr key={s.name}>
              <td className="mono">{s.name}</td>
              <td>
                <time dateTime={s.updatedAt}>{formatTime(s.updatedAt)}</time>
              </td>
              <td>
                <div className="row">
                  <button
                    type="button"
                    className="btn small"
                    onClick={() => {
                      setName(s.name)
                      setValue('')
                      save.reset()
                      valueBox.current?.querySelector('input')?.focus()
                    }}
                  >
                    Replace {s.name}
                  </button>
                  <button type="button" className="btn small danger" onClick={() => setDeleting(s.name)}>
                    Delete {s.name}
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <form
        className="panel stack"
        aria-label="Set a secret"
        onSubmit={(e) => {
          e.preventDefault()
          save.mutate({ name: name.trim(), value })
        }}
      >
        <div className="fn-secret-form">
          <TextField
            label="Secret name"
            value={name}
            onChange={setName}
            autoComplete="off"
            spellCheck={false}
            placeholder="MAIL_KEY"
          />
          <div ref={valueBox}>
            <TextField
              label="Value"
              type="password"
              value={value}
              onChange={setValue}
              autoComplete="new-password"
              hint="Write-only: shown to the function as ctx.secrets, never here again."
            />
          </div>
          <button type="submit" className="btn primary" disabled={!name.trim() || save.isPending}>
            {save.isPending ? 'Saving…' : exists ? 'Replace secret' : 'Set secret'}
          </button>
        </div>
        {save.isSuccess ? (
          <p className="ok-note" role="status">
            Secret {save.variables.name} saved: the function's next invocation sees it.
          </p>
        ) : null}
        <ErrorNote error={save.error} />
      </form>
      {deleting ? (
        <ConfirmDialog
          title={`Delete the secret ${deleting}?`}
          confirmLabel="Delete secret"
          danger
          onConfirm={async () => {
            await functionsApi(client).deleteSecret(fn.name, deleting)
            await refresh()
          }}
          onClose={() => setDeleting(null)}
        >
          <p>
            <code>ctx.secrets.{deleting}</code> is undefined from the function's next invocation on. The value
            cannot be recovered.
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  )
}
